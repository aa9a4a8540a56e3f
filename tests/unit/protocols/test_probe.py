"""Asking a target before the load, through a fake fetch that replays recorded answers."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from locust_ml.errors import ConfigError
from locust_ml.protocols.probe import probe_v1, probe_v2
from locust_ml.protocols.v1 import V1Model
from locust_ml.protocols.v2 import V2Model

FIXTURES = Path(__file__).parents[2] / "fixtures" / "v2_servers"


class Replay:
    """A fetch answering ``{path: (status, fixture or bytes)}``; records what was asked."""

    def __init__(self, answers: dict[str, tuple[int, str | bytes] | Exception]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, dict[str, str], float]] = []

    def __call__(self, url: str, headers: Mapping[str, str], timeout: float) -> tuple[int, bytes]:
        self.asked.append((url, dict(headers), timeout))
        answer = self.answers.get(url.removeprefix("http://t:1"), (404, b""))
        if isinstance(answer, Exception):
            raise answer
        status, body = answer
        return status, (FIXTURES / body).read_bytes() if isinstance(body, str) else body


def test_kserve_answers_are_read() -> None:
    fetch = Replay(
        {
            "/v2": (200, "kserve_server.json"),
            "/v2/models/image-classifier": (200, "kserve_image_classifier.json"),
        }
    )
    got = probe_v2(
        "http://t:1/", V2Model("image-classifier", headers={"X-K": "v"}), fetch, timeout=2.0
    )
    assert got.server is not None
    assert got.server.name == "kserve"
    assert got.model is not None
    assert got.model.inputs[0].name == "image"
    assert (got.server_note, got.model_note) == ("", "")
    assert fetch.asked == [
        ("http://t:1/v2", {"X-K": "v"}, 2.0),
        ("http://t:1/v2/models/image-classifier", {"X-K": "v"}, 2.0),
    ]


@pytest.mark.parametrize("server", ["kserve", "mlserver"])
def test_a_v2_server_without_the_model_stops_the_run(server: str) -> None:
    fetch = Replay(
        {
            "/v2": (200, f"{server}_server.json"),
            "/v2/models/nope": (404, f"{server}_no_model_404.json"),
        }
    )
    with pytest.raises(
        ConfigError,
        match=r"does not serve the model 'nope': GET http://t:1/v2/models/nope answered 404 "
        r"\((Model with name nope does not exist.|Model nope not found)\)",
    ):
        probe_v2("http://t:1", V2Model("nope"), fetch)


def test_a_target_that_is_not_v2_metadata_only_leaves_notes() -> None:
    fetch = Replay({"/v2": (200, b'{"model_name":"m","outputs":[]}')})  # a sink answering anything
    got = probe_v2("http://t:1", V2Model("m"), fetch)
    assert (got.server, got.model) == (None, None)
    assert got.server_note == (
        "GET http://t:1/v2: the GET /v2 answer has no server name: "
        """'{"model_name":"m","outputs":[]}'"""
    )
    assert got.model_note == "GET http://t:1/v2/models/m answered HTTP 404"


def test_no_answer_and_errors_are_notes() -> None:
    fetch = Replay({"/v2": OSError("connection refused"), "/v2/models/m": (500, b"boom")})
    got = probe_v2("http://t:1", V2Model("m"), fetch)
    assert got.server_note == "GET http://t:1/v2 failed (connection refused)"
    assert got.model_note == "GET http://t:1/v2/models/m answered HTTP 500"
    fetch = Replay({"/v2": (200, "triton_server.json"), "/v2/models/m": (200, b"not json")})
    got = probe_v2("http://t:1", V2Model("m"), fetch)
    assert got.server is not None
    assert got.model_note.startswith("GET http://t:1/v2/models/m: the model metadata is not JSON")


def test_v1_status() -> None:
    fetch = Replay(
        {
            "/v1/models/speech": (200, "kserve_v1_status.json"),
            "/v1/models/nope": (404, "kserve_v1_no_model_404.json"),
        }
    )
    assert (
        probe_v1("http://t:1", V1Model("speech"), fetch)
        == "GET http://t:1/v1/models/speech answered HTTP 200"
    )
    with pytest.raises(ConfigError, match="does not serve the model 'nope'"):
        probe_v1("http://t:1", V1Model("nope"), fetch)
    assert probe_v1("http://t:1", V1Model("x"), Replay({"/v1/models/x": OSError("refused")})) == (
        "GET http://t:1/v1/models/x failed (refused)"
    )
