"""Token-length distributions given as short option strings.

Until a trace-fitted profile is chosen, prompt and output lengths come from a
simple parametric distribution written on the command line::

    const:512                              always 512
    uniform:100,900                        integers 100..900, inclusive
    lognormal:median=400,sigma=0.6,max=4000

A lognormal is the default because real token counts are right-skewed (the
Azure LLM traces in ``data/traces`` have a mean well above their median).
Samples are integers clipped to ``[min, max]`` (``min`` defaults to 1).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from locust_ml.errors import ConfigError

__all__ = ["LengthDistribution"]

_KINDS = ("const", "uniform", "lognormal")


@dataclass(frozen=True)
class LengthDistribution:
    """A distribution of positive integer lengths.

    >>> d = LengthDistribution.parse("lognormal:median=400,sigma=0.5,max=2000")
    >>> rng = random.Random(1)
    >>> all(1 <= d.sample(rng) <= 2000 for _ in range(1000))
    True
    >>> LengthDistribution.parse("uniform:10,20").mean()
    15.0
    """

    kind: str
    a: float
    b: float = 0.0
    low: int = 1
    high: int = 1_000_000

    def sample(self, rng: random.Random) -> int:
        if self.kind == "const":
            x = self.a
        elif self.kind == "uniform":
            x = rng.randint(int(self.a), int(self.b))
        else:
            x = round(rng.lognormvariate(math.log(self.a), self.b))
        return int(min(max(x, self.low), self.high))

    def mean(self) -> float:
        """The unclipped mean (for sizing pools and documentation)."""
        if self.kind == "const":
            return self.a
        if self.kind == "uniform":
            return (self.a + self.b) / 2
        return self.a * math.exp(self.b**2 / 2)

    def __str__(self) -> str:
        if self.kind == "const":
            return f"const:{self.a:g}"
        if self.kind == "uniform":
            return f"uniform:{self.a:g},{self.b:g}"
        return f"lognormal:median={self.a:g},sigma={self.b:g},min={self.low},max={self.high}"

    @classmethod
    def parse(cls, text: str, *, option: str = "length distribution") -> LengthDistribution:
        spec = text.strip()
        kind, _, rest = spec.partition(":")
        kind = kind.strip().lower()
        if not rest and kind.isdigit():
            kind, rest = "const", kind
        if kind not in _KINDS:
            raise ConfigError(
                f"{option}: unknown distribution {kind!r} in {text!r}; expected one of "
                f"{', '.join(_KINDS)}, e.g. lognormal:median=400,sigma=0.6,max=4000"
            )
        args: list[str] = [p.strip() for p in rest.split(",") if p.strip()]
        named = dict(p.split("=", 1) for p in args if "=" in p)
        positional = [p for p in args if "=" not in p]
        try:
            nums = {k.strip(): float(v) for k, v in named.items()}
            pos = [float(p) for p in positional]
        except ValueError:
            raise ConfigError(f"{option}: non-numeric parameter in {text!r}") from None
        low = int(nums.pop("min", 1))
        high = int(nums.pop("max", 1_000_000))
        try:
            if kind == "const":
                (a,) = pos or [nums.pop("value")]
                b = 0.0
                low = high = int(a)
            elif kind == "uniform":
                a, b = pos or [nums.pop("low"), nums.pop("high")]
                low, high = int(a), int(b)
            else:
                a, b = nums.pop("median"), nums.pop("sigma")
        except (KeyError, ValueError):
            raise ConfigError(f"{option}: wrong parameters for {kind} in {text!r}") from None
        if nums:
            raise ConfigError(f"{option}: unknown parameter(s) {sorted(nums)} in {text!r}")
        if a <= 0 or b < 0 or low < 1 or high < low or (kind == "uniform" and b < a):
            raise ConfigError(
                f"{option}: parameters out of range in {text!r} "
                "(lengths are positive, min <= max, sigma >= 0)"
            )
        return cls(kind=kind, a=a, b=b, low=low, high=high)
