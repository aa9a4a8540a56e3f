#!/usr/bin/env python3
"""Regenerate the bundled size profiles in ``locust_ml/profiles/`` from the traces.

    .venv/bin/python scripts/fit_bundled_profiles.py [--traces data/traces] [--check]

Each profile is fitted with the default :class:`~locust_ml.traces.FitOptions`
(seed 0), the same as ``locust-ml fit-trace`` with the columns below, plus the
origin and licence of its trace (from ``data/traces/README.md``) in
``provenance.source``. The fit is deterministic: re-running changes only the
``created`` time. ``--check`` fits in memory and compares with the files on
disk instead of writing, and exits 1 if a profile is out of date.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from locust_ml.traces import fit_trace, read_trace  # noqa: E402

OUT = ROOT / "locust_ml" / "profiles"

_AZURE = {
    "origin": "https://github.com/Azure/AzurePublicDataset",
    "licence": "CC BY 4.0 (AzurePublicDataset, AzureLLMInferenceDataset2023.md)",
    "citation": (
        "Patel et al., 'Splitwise: Efficient generative LLM inference using phase "
        "splitting', ISCA 2024"
    ),
    "snapshot": "b469a113cedca53ddc3bdea71a143dc4b7d8700c",
}


@dataclass(frozen=True)
class Bundle:
    name: str
    trace: str
    columns: tuple[str, ...]
    description: str
    source: dict[str, str]
    timestamp: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


BUNDLES = (
    Bundle(
        "azure_conv",
        "AzureLLMInferenceTrace_conv.csv",
        ("ContextTokens", "GeneratedTokens"),
        "Azure LLM inference trace, conversation workload (Nov 2023): prompt and "
        "output tokens, arrival times",
        {**_AZURE, "path": "data/AzureLLMInferenceTrace_conv.csv"},
        timestamp="TIMESTAMP",
    ),
    Bundle(
        "azure_code",
        "AzureLLMInferenceTrace_code.csv",
        ("ContextTokens", "GeneratedTokens"),
        "Azure LLM inference trace, code workload (Nov 2023): prompt and output "
        "tokens, arrival times",
        {**_AZURE, "path": "data/AzureLLMInferenceTrace_code.csv"},
        timestamp="TIMESTAMP",
    ),
    Bundle(
        "coco_image_sizes",
        "image_sizes.csv",
        ("width", "height"),
        "COCO 2017 validation images: width and height in pixels (long side capped at 640)",
        {
            "origin": "https://github.com/ruizewang/evaluate (annotations/captions_val2017.json)",
            "snapshot": "1152656d3b8c66c48fc6a4357e159f5e21bd2d2d",
            "licence": (
                "no licence stated by the repository; COCO annotations are published by "
                "the COCO Consortium under CC BY 4.0; images carry Flickr licences. "
                "Only pixel dimensions are used."
            ),
        },
    ),
    Bundle(
        "imagenet_image_sizes",
        "image_sizes_imagenet_sample.csv",
        ("width", "height", "bytes"),
        "ImageNet sample, one JPEG per class: width, height and file size in bytes",
        {
            "origin": "https://github.com/EliSchwartz/imagenet-sample-images",
            "snapshot": "bc69043e2862758a1906c6a24a792bb28c6bb2ff",
            "licence": (
                "no licence stated by the repository; ImageNet images are for "
                "non-commercial research. Only dimensions and byte counts are used."
            ),
        },
    ),
    Bundle(
        "librispeech_durations",
        "audio_durations.csv",
        ("duration_s", "sample_rate"),
        "LibriSpeech dev-clean utterances: duration in seconds, 16 kHz sample rate",
        {
            "origin": "https://github.com/nervjack2/HuBERT-Finetuning-Target (dev-clean.tsv)",
            "snapshot": "2f3924f18115f7c2834d130d76764c9558fd59ee",
            "licence": (
                "no licence stated by the repository; LibriSpeech (OpenSLR SLR12) is CC BY 4.0"
            ),
        },
    ),
)


def _comparable(text: str) -> dict[str, object]:
    data: dict[str, object] = json.loads(text)
    provenance = data.get("provenance")
    if isinstance(provenance, dict):
        provenance.pop("created", None)
        provenance.pop("tool", None)
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--traces", type=Path, default=ROOT / "data" / "traces")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--check", action="store_true", help="compare, don't write")
    args = parser.parse_args(argv)
    stale = 0
    for b in BUNDLES:
        trace = read_trace(args.traces / b.trace, b.columns, timestamp=b.timestamp)
        profile = fit_trace(trace, name=b.name, description=b.description, source_info=b.source)
        target = args.out / f"{b.name}.json"
        text = profile.dumps()
        if args.check:
            same = target.exists() and _comparable(target.read_text()) == _comparable(text)
            stale += not same
            print(f"{'ok   ' if same else 'STALE'} {target}")
            continue
        profile.save(target)
        target.chmod(0o644)  # package data: readable by all once installed
        ks = ", ".join(f"{k} {v:.4f}" for k, v in profile.checks["ks_statistic"].items())
        print(f"wrote {target} ({len(text.encode()) / 1024:.0f} KiB; sampled KS: {ks})")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
