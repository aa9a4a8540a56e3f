"""Dataset files: JSONL prompts, ShareGPT and OpenAI conversations, and their errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from locust_ml.errors import TraceError
from locust_ml.payloads.datasets import DatasetConversation, DatasetTurn, read_dataset


def _jsonl(tmp_path: Path, rows: list[object]) -> Path:
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_jsonl_prompts_are_one_turn_conversations(tmp_path: Path) -> None:
    path = _jsonl(
        tmp_path,
        [{"prompt": "Tell me a story.", "output_tokens": 50}, {"text": "Hello there"}],
    )
    assert read_dataset(path) == (
        DatasetConversation((DatasetTurn("Tell me a story.", 50),)),
        DatasetConversation((DatasetTurn("Hello there", None),)),
    )


def test_sharegpt_turns_carry_the_file_s_answer_lengths(tmp_path: Path) -> None:
    doc = [
        {
            "id": "x",
            "conversations": [
                {"from": "system", "value": "You are terse."},
                {"from": "gpt", "value": "ignored: before any question"},
                {"from": "human", "value": "First question?"},
                {"from": "gpt", "value": "One two three four."},
                {"from": "human", "value": "Second"},
                {"from": "human", "value": "part two"},
                {"from": "gpt", "value": "Yes."},
                {"from": "human", "value": "Unanswered last question"},
            ],
        },
        {"conversations": [{"from": "gpt", "value": "nobody asked"}]},
    ]
    path = tmp_path / "sharegpt.json"
    path.write_text(json.dumps(doc))
    (conv,) = read_dataset(path)
    assert conv.system == "You are terse."
    assert conv.turns == (
        DatasetTurn("First question?", 5),  # "One two three four ." is 5 tokens
        DatasetTurn("Second\npart two", 2),
        DatasetTurn("Unanswered last question", None),
    )


def test_openai_messages_per_line_and_a_tokenizer(tmp_path: Path) -> None:
    path = _jsonl(
        tmp_path,
        [
            {
                "messages": [
                    {"role": "user", "content": "abc"},
                    {"role": "assistant", "content": "twelve chars"},
                ]
            }
        ],
    )
    (conv,) = read_dataset(path, count=len)
    assert conv.turns == (DatasetTurn("abc", 12),)


def test_limit_keeps_the_first_entries(tmp_path: Path) -> None:
    path = _jsonl(tmp_path, [{"prompt": f"p{i}"} for i in range(10)])
    assert [c.turns[0].text for c in read_dataset(path, limit=3)] == ["p0", "p1", "p2"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"prompt": ""}\n', "line 1: prompt is ''"),
        ('{"prompt": "x", "output_tokens": 0}\n', "output_tokens is 0"),
        ('{"question": "x"}\n', "no prompt, text, conversations or messages"),
        ("{oops\n", "line 1: not JSON"),
        ('[{"conversations": "x"}]', "entry 1: expected a list of messages"),
        ('[{"conversations": [{"from": "dog", "value": "woof"}]}]', "unknown role 'dog'"),
        ('[{"conversations": [{"from": "human"}]}]', "needs a string 'from' and 'value'"),
        ('[{"conversations": [{"from": "gpt", "value": "x"}]}]', "no prompt or conversation"),
        ("[1, 2", "not a JSON array"),
    ],
)
def test_bad_files_are_one_error_naming_the_place(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(TraceError, match=message):
        read_dataset(path)


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="cannot read the dataset"):
        read_dataset(tmp_path / "nope.jsonl")
