"""The traces package: its public names, and that it stays in the pure layer."""

from __future__ import annotations

import subprocess
import sys

import locust_ml.traces


def test_public_names_are_what_we_mean_to_export() -> None:
    assert set(locust_ml.traces.__all__) == {
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
    }
    for name in locust_ml.traces.__all__:
        assert hasattr(locust_ml.traces, name)


def test_importing_traces_and_sampling_leaves_locust_and_gevent_out() -> None:
    code = (
        "import sys\n"
        "from locust_ml.traces import Profile\n"
        "import locust_ml.traces.commands\n"
        "Profile.load('azure_conv').sampler(0).sample(10)\n"
        "print(','.join(m for m in ('locust', 'gevent') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
