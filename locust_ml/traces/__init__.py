"""Request traces -> size profiles -> joint size draws (pure layer).

Read a trace (:func:`read_trace`), fit a :class:`Profile` from it
(:func:`fit_trace`), save or load profiles (bundled ones by name), and draw
request sizes from them (:meth:`Profile.sampler`)::

    from locust_ml.traces import Profile

    sampler = Profile.load("azure_conv").sampler(seed=1)
    sizes = sampler.sample(1000)      # {"ContextTokens": array, "GeneratedTokens": array}
    gaps = sampler.arrival_gaps()     # the trace's inter-arrival gaps, for replay

No Locust, no sockets; the only file access is reading the trace or profile a
user names, and :meth:`Profile.save` (an atomic write through
``locust_ml.files``), which the command line uses.

Names load lazily (PEP 562), and scipy only when fitting (or sampling a
parametric or Gaussian-copula model): ``locust-ml --help`` stays instant and a
Locust worker that only samples sizes imports numpy alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from locust_ml.lazy import lazy_exports

__all__ = [
    "SCHEMA_VERSION",
    "Arrivals",
    "Candidate",
    "ColumnModel",
    "Dependence",
    "FitOptions",
    "Profile",
    "ProfileSampler",
    "Trace",
    "TraceSource",
    "bundled_profiles",
    "fit_trace",
    "load_timestamps",
    "parse_timestamp",
    "read_trace",
]

_LAZY = {
    "Arrivals": "locust_ml.traces.replay",
    "Candidate": "locust_ml.traces.marginals",
    "ColumnModel": "locust_ml.traces.marginals",
    "Dependence": "locust_ml.traces.dependence",
    "FitOptions": "locust_ml.traces.fit",
    "Profile": "locust_ml.traces.profile",
    "ProfileSampler": "locust_ml.traces.sampler",
    "SCHEMA_VERSION": "locust_ml.traces.profile",
    "Trace": "locust_ml.traces.read",
    "TraceSource": "locust_ml.traces.read",
    "bundled_profiles": "locust_ml.traces.profile",
    "fit_trace": "locust_ml.traces.fit",
    "load_timestamps": "locust_ml.traces.timeline",
    "parse_timestamp": "locust_ml.traces.read",
    "read_trace": "locust_ml.traces.read",
}

if TYPE_CHECKING:
    from locust_ml.traces.dependence import Dependence
    from locust_ml.traces.fit import FitOptions, fit_trace
    from locust_ml.traces.marginals import Candidate, ColumnModel
    from locust_ml.traces.profile import SCHEMA_VERSION, Profile, bundled_profiles
    from locust_ml.traces.read import Trace, TraceSource, parse_timestamp, read_trace
    from locust_ml.traces.replay import Arrivals
    from locust_ml.traces.sampler import ProfileSampler
    from locust_ml.traces.timeline import load_timestamps


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
