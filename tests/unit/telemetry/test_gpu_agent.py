"""``locust-ml gpu-agent``: the collector over replayed NVML, and the served endpoint."""

from __future__ import annotations

import argparse
import io
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from locust_ml.errors import ConfigError
from locust_ml.telemetry.gpu_agent import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    EXIT_NO_GPU,
    GpuAgentCollector,
    add_gpu_agent_arguments,
    run_gpu_agent,
)
from locust_ml.telemetry.nvml import NvmlSource
from locust_ml.telemetry.prometheus_scrape import PrometheusScrapeSource
from tests.integration.prometheus import promtool_check_metrics
from tests.unit.telemetry.fakes import FakeNvml

ROOT = Path(__file__).resolve().parents[3]


def agent_text(fixture: str) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(GpuAgentCollector(NvmlSource(nvml=FakeNvml.from_fixture(fixture))))
    return generate_latest(registry).decode()


def args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_gpu_agent_arguments(parser)
    return parser.parse_args(list(argv))


def test_defaults_bind_loopback() -> None:
    a = args()
    assert (a.host, a.port, a.allow_no_gpu, a.port_file) == (
        DEFAULT_HOST,
        DEFAULT_PORT,
        False,
        None,
    )
    assert (DEFAULT_HOST, DEFAULT_PORT) == ("127.0.0.1", 9836)


def test_collector_exposes_canonical_names_with_device_labels() -> None:
    fams = {f.name: f for f in text_string_to_metric_families(agent_text("h100_load"))}
    assert fams["locust_ml_gpu_up"].samples[0].value == 1.0
    util = fams["locust_ml_gpu_utilization_ratio"].samples[0]
    assert util.labels == {
        "gpu": "0",
        "uuid": "GPU-9c3e7a15-2f4d-b861-0e5a-7d2c4b9f1e63",
        "name": "NVIDIA H100 80GB HBM3",
    }
    assert util.value == pytest.approx(0.98)
    energy = fams["locust_ml_gpu_energy_joules"]
    assert energy.type == "counter"
    assert energy.samples[0].name == "locust_ml_gpu_energy_joules_total"
    proc = fams["locust_ml_gpu_process_memory_used_bytes"].samples[0]
    assert proc.labels["pid"] == "48213"


def test_collector_reports_down_instead_of_raising(caplog: pytest.LogCaptureFixture) -> None:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(GpuAgentCollector(NvmlSource(nvml=FakeNvml.from_fixture("no_library"))))
    with caplog.at_level("WARNING", logger="locust_ml.telemetry"):
        first = generate_latest(registry).decode()
        generate_latest(registry)
    assert [line for line in first.splitlines() if not line.startswith("#")] == [
        "locust_ml_gpu_up 0.0"
    ]
    assert caplog.text.count("NVML unavailable") == 1


def test_promtool_accepts_the_agent_output(promtool: str) -> None:
    for fixture in ("a100_idle", "h100_load", "two_gpus_power_unsupported", "no_library"):
        code, output = promtool_check_metrics(agent_text(fixture), promtool)
        assert code == 0, (fixture, output)
        assert output == "", (fixture, output)


def test_without_nvml_it_exits_3_with_one_line() -> None:
    out = io.StringIO()
    code = run_gpu_agent(args("--port", "0"), nvml=FakeNvml.from_fixture("no_library"), out=out)
    assert code == EXIT_NO_GPU == 3
    assert out.getvalue().splitlines() == [
        "locust-ml gpu-agent: error: NVML unavailable: NVML library not found (libnvidia-ml.so): "
        "no NVIDIA driver on this host (--allow-no-gpu serves locust_ml_gpu_up 0 instead)"
    ]


def test_a_port_in_use_is_a_config_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError, match=f"--host/--port 127.0.0.1:{port}: cannot listen"):
            run_gpu_agent(
                args("--port", str(port)),
                nvml=FakeNvml.from_fixture("a100_idle"),
                out=io.StringIO(),
            )
    with pytest.raises(ConfigError, match=r"expected 0\.\.65535"):
        run_gpu_agent(args("--port", "70000"), nvml=FakeNvml.from_fixture("a100_idle"))


def test_serves_nvml_readings_that_the_scraper_maps_back(tmp_path: Path) -> None:
    nvml = FakeNvml.from_fixture("two_gpus_power_unsupported")
    stop = threading.Event()
    port_file = tmp_path / "port"
    out = io.StringIO()
    result: list[int] = []
    thread = threading.Thread(
        target=lambda: result.append(
            run_gpu_agent(
                args("--port", "0", "--port-file", str(port_file)), nvml=nvml, stop=stop, out=out
            )
        )
    )
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not port_file.exists() and time.monotonic() < deadline and thread.is_alive():
            time.sleep(0.01)
        url = f"http://127.0.0.1:{port_file.read_text().strip()}/metrics"
        reading = PrometheusScrapeSource(url).read(0.0)
        expected = NvmlSource(nvml=FakeNvml.from_fixture("two_gpus_power_unsupported")).read(0.0)
        got = {(s.metric, s.labels): s.value for s in reading.samples}
        assert got == {(s.metric, s.labels): s.value for s in expected.samples}
    finally:
        stop.set()
        thread.join(10)
    assert result == [0]
    assert "serving 0: NVIDIA RTX A6000, 1: Quadro P400 on http://127.0.0.1:" in out.getvalue()
    assert nvml.calls.count("nvmlInit") == 1
    assert nvml.calls[-1] == "nvmlShutdown"


def _agent(*argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "locust_ml.telemetry.gpu_agent", *argv],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _real_nvml_works() -> bool:
    source = NvmlSource()
    try:
        source.read(0.0)
    except Exception:
        return False
    finally:
        source.close()
    return True


@pytest.mark.slow
def test_the_real_process_without_a_gpu(tmp_path: Path) -> None:
    if _real_nvml_works():
        pytest.skip("this machine has a working GPU: the no-GPU paths can't be shown here")
    proc = _agent("--port", "0")
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 3
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("locust-ml gpu-agent: error: NVML unavailable: ")

    port_file = tmp_path / "port"
    proc = _agent("--port", "0", "--port-file", str(port_file), "--allow-no-gpu")
    try:
        deadline = time.monotonic() + 60
        while not port_file.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the agent did not start"
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port_file.read_text().strip()}/metrics"
        with urllib.request.urlopen(url, timeout=10) as r:
            body = r.read().decode()
        assert "locust_ml_gpu_up 0.0" in body
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_importing_the_agent_for_its_options_is_light() -> None:
    """``locust-ml --help`` imports it to list the options: stdlib only until it runs."""
    code = (
        "import sys, argparse\n"
        "from locust_ml.telemetry.gpu_agent import add_gpu_agent_arguments\n"
        "add_gpu_agent_arguments(argparse.ArgumentParser())\n"
        "print(','.join(m for m in ('prometheus_client', 'numpy', 'pynvml', 'psutil')"
        " if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
