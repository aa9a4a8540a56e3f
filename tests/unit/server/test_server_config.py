"""ServerConfig validation, the argparse options, and the capacity formulas."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import sys
from pathlib import Path
from types import ModuleType

import pytest

import locust_ml.server as server_package
import locust_ml.server.config as config_module
from locust_ml.errors import ConfigError
from locust_ml.server.config import (
    ServerConfig,
    add_server_arguments,
    config_from_args,
    saturation_rps,
    unloaded_latency_ms,
)


def _parse(*argv: str) -> ServerConfig:
    parser = argparse.ArgumentParser()
    add_server_arguments(parser)
    return config_from_args(parser.parse_args(list(argv)))


def test_defaults_match_the_documented_ones() -> None:
    cfg = _parse()
    assert cfg == ServerConfig()
    assert (cfg.host, cfg.port, cfg.backend, cfg.model_name) == (
        "127.0.0.1",
        8000,
        "summarizer",
        "summarizer",
    )
    assert (cfg.max_batch_size, cfg.max_queue_delay_ms, cfg.queue_limit) == (8, 5.0, 64)
    assert (cfg.base_ms, cfg.per_item_ms, cfg.instances) == (20.0, 5.0, 1)
    assert (cfg.load_seconds, cfg.request_timeout_s, cfg.max_body_bytes) == (0.0, 60.0, 8 << 20)
    assert cfg.blas_threads == 1
    assert not cfg.access_log


def test_every_field_has_an_option() -> None:
    parser = argparse.ArgumentParser()
    add_server_arguments(parser)
    dests = {a.dest for a in parser._actions}
    assert {f.name for f in dataclasses.fields(ServerConfig)} <= dests


def test_options_are_parsed() -> None:
    cfg = _parse(
        "--backend=simulated",
        "--port=0",
        "--port-file=ports/x",
        "--base-ms=10",
        "--per-item-ms=2.5",
        "--instances=3",
        "--max-batch-size=4",
        "--access-log",
        "--blas-threads=2",
    )
    assert cfg.backend == "simulated"
    assert cfg.port == 0
    assert cfg.port_file == "ports/x"
    assert (cfg.base_ms, cfg.per_item_ms, cfg.instances, cfg.max_batch_size) == (10, 2.5, 3, 4)
    assert cfg.access_log
    assert cfg.blas_threads == 2


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["--max-batch-size=0"], "--max-batch-size"),
        (["--queue-limit=0"], "--queue-limit"),
        (["--max-queue-delay-ms=-1"], "--max-queue-delay-ms"),
        (["--request-timeout-s=0"], "--request-timeout-s"),
        (["--load-seconds=-0.5"], "--load-seconds"),
        (["--instances=0"], "--instances"),
        (["--port=70000"], "--port"),
        (["--model-dim=2"], "--model-dim"),
        (["--model-layers=0"], "--model-layers"),
        (["--per-item-ms=nan"], "--per-item-ms"),
        (["--base-ms=0", "--per-item-ms=0"], "--base-ms"),
        (["--max-body-bytes=10"], "--max-body-bytes"),
        (["--blas-threads=0"], "--blas-threads"),
        (["--model-name=two words"], "--model-name"),
    ],
)
def test_bad_values_name_the_option_and_value(argv: list[str], option: str) -> None:
    with pytest.raises(ConfigError, match=option) as info:
        _parse(*argv)
    assert isinstance(info.value, ValueError)
    value = argv[0].split("=", 1)[1]
    assert value in str(info.value)


def test_wrong_types_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"--max-batch-size must be an integer, got 2\.5"):
        ServerConfig(max_batch_size=2.5)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="--backend must be one of"):
        ServerConfig(backend="gpt")


def test_saturation_formula() -> None:
    cfg = ServerConfig(backend="simulated", base_ms=20, per_item_ms=5, max_batch_size=8)
    # 8 requests every 20 + 5 * 8 = 60 ms.
    assert saturation_rps(cfg) == pytest.approx(8 / 0.060)
    two = dataclasses.replace(cfg, instances=2)
    assert saturation_rps(two) == pytest.approx(2 * saturation_rps(cfg))
    one = dataclasses.replace(cfg, max_batch_size=1)
    assert saturation_rps(one) == pytest.approx(1 / 0.025)


def test_unloaded_latency() -> None:
    cfg = ServerConfig(base_ms=20, per_item_ms=5, max_queue_delay_ms=5, max_batch_size=8)
    assert unloaded_latency_ms(cfg) == 30.0
    # A batch of one is full at once: no batching delay.
    assert unloaded_latency_ms(dataclasses.replace(cfg, max_batch_size=1)) == 25.0


@pytest.mark.parametrize("module", [config_module, server_package])
def test_cli_facing_modules_import_only_the_stdlib(module: ModuleType) -> None:
    # The CLI builds `serve --help` from these: no FastAPI, numpy or uvicorn.
    assert module.__file__ is not None
    tree = ast.parse(Path(module.__file__).read_text())
    imported: set[str] = set()
    for node in tree.body:  # top level only: lazy imports inside functions are fine
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
        elif isinstance(node, ast.If):  # `if TYPE_CHECKING:` blocks are not run
            continue
    allowed = {"locust_ml.errors", "locust_ml.lazy", "locust_ml.server.config", "__future__"}
    outside = {
        name
        for name in imported
        if name not in allowed and name.split(".")[0] not in sys.stdlib_module_names
    }
    assert outside == set()
