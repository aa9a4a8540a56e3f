"""ConversationUser in-process: the history with the server's answers, turn names,
the end of a conversation at a failed turn, and open loop's later intended times."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import gevent
import pytest
from gevent.pywsgi import WSGIServer
from locust import task
from locust.argument_parser import get_parser
from locust.env import Environment
from locust.event import Events

from locust_ml.errors import ConfigError
from locust_ml.options import read_options
from locust_ml.plugin.conversation_users import ConversationUser, conversation_spec
from locust_ml.plugin.messages import CONTEXT_KEY


class Target:
    """A chat endpoint that answers "answer <n>" and fails the request numbered ``fail_at``."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.fail_at: int | None = None
        self.server = WSGIServer(("127.0.0.1", 0), self._app, log=None)

    def _app(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self.bodies.append(json.loads(environ["wsgi.input"].read()))
        n = len(self.bodies)
        if n == self.fail_at:
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
            return [b"boom"]
        body = {
            "choices": [
                {"index": 0, "message": {"content": f"answer {n}"}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2},
        }
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]


@pytest.fixture
def target() -> Iterator[Target]:
    t = Target()
    t.server.start()
    try:
        yield t
    finally:
        t.server.stop(timeout=1)


class Chat(ConversationUser):
    conversation = "turns=3,think=0"
    system_prompt = "Be brief."

    @task
    def noop(self) -> None:  # the class's own task list stays ConversationUser's
        pass


def _user(url: str, *args: str) -> tuple[Any, list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []
    ev = Events()
    ev.request.add_listener(lambda **kw: events.append(kw))
    cls = type("ChatHere", (Chat,), {"host": url, "__module__": __name__})
    parsed = get_parser().parse_args(["-f", "x.py", *args])
    user: Any = cls(Environment(user_classes=[cls], events=ev, host=url, parsed_options=parsed))
    user.on_start()
    return user, events


def test_each_turn_sends_the_history_and_is_named_by_turn(target: Target) -> None:
    user, events = _user(
        _url(target),
        "--ml-prompt-tokens",
        "const:6",
        "--ml-output-tokens",
        "const:4",
    )
    answers = user.run_conversation()
    assert [a.text for a in answers] == ["answer 1", "answer 2", "answer 3"]
    assert [e["name"] for e in events] == [f"/v1/chat/completions turn {k}" for k in (1, 2, 3)]
    roles = [[m["role"] for m in b["messages"]] for b in target.bodies]
    assert roles == [
        ["system", "user"],
        ["system", "user", "assistant", "user"],
        ["system", "user", "assistant", "user", "assistant", "user"],
    ]
    third = target.bodies[2]["messages"]
    assert [third[2]["content"], third[4]["content"]] == ["answer 1", "answer 2"]
    assert third[:4] == target.bodies[1]["messages"]
    assert all(b["max_tokens"] == 4 and b["ignore_eos"] for b in target.bodies)


def test_a_failed_turn_ends_the_conversation(target: Target) -> None:
    target.fail_at = 2
    user, events = _user(_url(target))
    answers = user.run_conversation()
    assert len(answers) == 1
    assert len(events) == 2
    assert len(target.bodies) == 2  # no third turn after the failure


def test_open_loop_later_turns_are_meant_for_the_end_of_their_think_time(
    target: Target,
) -> None:
    user, events = _user(_url(target), "--ml-conversation", "turns=2,think=200ms")
    me = gevent.getcurrent()
    user._intended[me] = 1000.0  # as run_arrival sets it: the arrival's intended time
    try:
        user.run_conversation()
    finally:
        user._intended.pop(me, None)
    first, second = (e["context"][CONTEXT_KEY]["intended"] for e in events)
    assert first == 1000.0
    assert second > events[0]["start_time"] + 0.2  # the answer, then 200 ms of thought


def test_the_option_s_keys_go_over_the_class_s_and_bad_ones_are_named() -> None:
    parsed = get_parser().parse_args(["-f", "x.py", "--ml-conversation", "turns=5,system=2"])
    spec = conversation_spec(Chat, read_options(parsed))
    assert (spec.turns, spec.think, spec.system) == ((5, 5), (0.0, 0.0), 2)
    bad = get_parser().parse_args(["-f", "x.py", "--ml-protocol", "completions"])
    with pytest.raises(ConfigError, match="conversations need the chat protocol"):
        Chat.settings_for(read_options(bad))


def _url(target: Target) -> str:
    return f"http://127.0.0.1:{target.server.server_port}"
