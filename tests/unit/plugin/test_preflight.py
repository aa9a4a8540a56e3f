"""The model preflight: what is asked of which target, and what each answer means."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from locust_ml.errors import ConfigError
from locust_ml.options import MLOptions, UserOptions
from locust_ml.plugin.payload_users import ImageUser
from locust_ml.plugin.preflight import ModelCheck, check_models, model_checks
from locust_ml.plugin.text_users import TextUser

LISTING = json.dumps({"object": "list", "data": [{"id": "summarizer"}, {"id": "tiny"}]}).encode()


class Chat(TextUser):
    model = "my-model"


class Other(TextUser):
    model = "tiny"
    protocol = "completions"
    host = "http://other:9000/"
    api_key = "sk-secret"


class Prefixed(TextUser):
    endpoint = "/openai/v1/chat/completions"


class Images(ImageUser):
    pass


def test_each_text_user_asks_beside_its_completions_path() -> None:
    checks = model_checks([Chat, Other, Prefixed, Images], MLOptions(), "http://t:8000")
    assert [(c.url, c.model, c.users) for c in checks] == [
        ("http://t:8000/v1/models", "my-model", ("Chat",)),
        ("http://other:9000/v1/models", "tiny", ("Other",)),
        ("http://t:8000/openai/v1/models", "summarizer", ("Prefixed",)),
    ]
    assert checks[1].headers == {"Authorization": "Bearer sk-secret"}
    assert "sk-secret" not in repr(checks[1])


def test_ml_model_overrides_every_text_users_model() -> None:
    opts = MLOptions(users=UserOptions(model="tiny"))
    checks = model_checks([Chat, Prefixed], opts, "http://t:8000")
    assert {c.model for c in checks} == {"tiny"}


def test_no_host_no_question() -> None:
    assert model_checks([Chat], MLOptions(), None) == ()


def _fetch(answers: Mapping[str, Any]) -> Any:
    asked: list[str] = []

    def fetch(url: str, headers: Mapping[str, str], timeout: float) -> tuple[int, bytes]:
        asked.append(url)
        answer = answers[url]
        if isinstance(answer, BaseException):
            raise answer
        return answer  # type: ignore[no-any-return]

    fetch.asked = asked  # type: ignore[attr-defined]
    return fetch


def _check(url: str, model: str) -> ModelCheck:
    return ModelCheck(url, model, ("Chat",), {})


def test_a_model_the_target_does_not_list_is_one_line_naming_what_it_lists() -> None:
    fetch = _fetch({"http://t/v1/models": (200, LISTING)})
    problem = check_models([_check("http://t/v1/models", "my-model")], fetch=fetch)
    assert problem == (
        "the target does not serve the model 'my-model' that Chat asks for: GET "
        "http://t/v1/models lists summarizer, tiny. Set model = ... in the user class or "
        "--ml-model"
    )
    assert "\n" not in problem
    assert check_models([_check("http://t/v1/models", "tiny")], fetch=fetch) is None


def test_each_url_is_asked_once() -> None:
    fetch = _fetch({"http://t/v1/models": (200, LISTING)})
    checks = [_check("http://t/v1/models", "tiny"), _check("http://t/v1/models", "summarizer")]
    assert check_models(checks, fetch=fetch) is None
    assert fetch.asked == ["http://t/v1/models"]


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        ((404, b"not found"), "answered HTTP 404 (no model list)"),
        ((501, b""), "answered HTTP 501 (no model list)"),
        ((500, b"oops"), "answered HTTP 500 (an error)"),
        ((200, b"<html>"), "did not answer an OpenAI model list"),
        (ConnectionRefusedError("refused"), "failed (refused)"),
    ],
)
def test_a_target_that_cannot_say_gets_one_warning_and_the_run_goes_on(
    answer: object, said: str
) -> None:
    warnings: list[str] = []
    fetch = _fetch({"http://t/v1/models": answer})
    problem = check_models(
        [_check("http://t/v1/models", "m"), _check("http://t/v1/models", "n")],
        fetch=fetch,
        warn=warnings.append,
    )
    assert problem is None
    assert len(warnings) == 1
    assert said in warnings[0]
    assert "going on" in warnings[0]


def test_a_user_whose_settings_do_not_fit_is_a_config_error() -> None:
    class Wrong(TextUser):
        protocol = "v2"

    with pytest.raises(ConfigError, match="not a text protocol"):
        model_checks([Wrong], MLOptions(), "http://t")
