"""The grid, the configurations file, and the command templates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from locust_ml.errors import ConfigError
from locust_ml.sweep.configs import (
    Config,
    combine,
    configs_from_document,
    grid,
    load_configs_file,
    parse_param,
    parse_template,
)


def test_params_multiply_with_the_first_varying_slowest() -> None:
    configs = grid([parse_param("batch=1,4"), parse_param("instances=1,2")])
    assert [c.label for c in configs] == [
        "batch=1 instances=1",
        "batch=1 instances=2",
        "batch=4 instances=1",
        "batch=4 instances=2",
    ]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("batch", "expected NAME=V1,V2"),
        ("batch=1,,4", "an empty value"),
        ("batch=1,1", "1 given twice"),
        ("1batch=1", "not a name"),
        ("port=1,2", "free port"),
        ("price_per_hour=1", "price"),
    ],
)
def test_a_bad_param_is_one_clear_error(text: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        parse_param(text)


def test_the_same_param_twice_is_an_error() -> None:
    with pytest.raises(ConfigError, match="batch given twice"):
        grid([parse_param("batch=1"), parse_param("batch=2")])


def test_a_file_lists_configurations_with_prices_in_the_first_entrys_order() -> None:
    doc = [
        {"instance": "g5.xlarge", "gpus": 1, "price_per_hour": 1.006},
        {"gpus": 4, "instance": "g5.12xlarge", "price_per_hour": 5.672},
    ]
    configs = configs_from_document({"configs": doc}, "f.yaml")
    assert [c.params for c in configs] == [
        (("instance", "g5.xlarge"), ("gpus", "1")),
        (("instance", "g5.12xlarge"), ("gpus", "4")),
    ]
    assert [c.price_per_hour for c in configs] == [1.006, 5.672]


@pytest.mark.parametrize(
    ("doc", "words"),
    [
        ([], "non-empty list"),
        ({"a": 1}, "non-empty list"),
        (["x"], "expected a mapping"),
        ([{"a": 1}, {"b": 1}], "every entry names the same"),
        ([{"a": 1, "price_per_hour": 1.0}, {"a": 2}], "give every configuration a price or none"),
        ([{"a": 1, "price_per_hour": -1}], "dollars per hour >= 0"),
        ([{"a": 1, "price_per_hour": "1"}], "dollars per hour"),
        ([{"a": [1, 2]}], "not a parameter value"),
        ([{"a": 1}, {"a": 1}], "listed twice"),
    ],
)
def test_a_bad_file_is_one_clear_error(doc: object, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        configs_from_document(doc, "f.yaml")


def test_yaml_and_json_files_read_alike(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(
        "- {batch: 8, price_per_hour: 1.5}\n- {batch: 16, price_per_hour: 2}\n"
    )
    (tmp_path / "c.json").write_text(
        json.dumps([{"batch": 8, "price_per_hour": 1.5}, {"batch": 16, "price_per_hour": 2}])
    )
    assert load_configs_file(tmp_path / "c.yaml") == load_configs_file(tmp_path / "c.json")
    (tmp_path / "bad.yaml").write_text("- {batch: [}\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_configs_file(tmp_path / "bad.yaml")
    with pytest.raises(ConfigError, match="unknown file type"):
        load_configs_file(tmp_path / "c.txt")
    with pytest.raises(ConfigError, match="cannot read"):
        load_configs_file(tmp_path / "missing.json")


def test_a_file_crossed_with_a_grid() -> None:
    listed = configs_from_document([{"gpu": "t4", "price_per_hour": 0.5}], "f")
    configs = combine(listed, [parse_param("batch=1,8")])
    assert [c.label for c in configs] == ["gpu=t4 batch=1", "gpu=t4 batch=8"]
    assert {c.price_per_hour for c in configs} == {0.5}
    with pytest.raises(ConfigError, match="names it too"):
        combine(listed, [parse_param("gpu=a10")])


def test_templates_fill_fields_per_word_and_keep_values_whole() -> None:
    t = parse_template("serve --batch {batch} --name '{model} x' --json {{}}", "--server")
    assert t.fields == {"batch", "model"}
    config = Config((("batch", "8"), ("model", "a b")))
    assert t.fill(config) == ("serve", "--batch", "8", "--name", "a b x", "--json", "{}")
    url = parse_template("http://127.0.0.1:{port}/", "--host", split=False)
    assert url.fill_one(config, port=8123) == "http://127.0.0.1:8123/"


def test_a_template_field_that_is_not_a_parameter_fails_before_anything_runs() -> None:
    t = parse_template("serve --batch {batchsize}", "--server")
    with pytest.raises(ConfigError, match=r"\{batchsize\} is not a parameter"):
        t.check(["batch"], port=True)
    remote = parse_template("kubectl --port {port}", "--setup")
    with pytest.raises(ConfigError, match="only filled for a --server"):
        remote.check([], port=False)
    with pytest.raises(ConfigError, match="plain"):
        parse_template("serve {batch:>3}", "--server")
    with pytest.raises(ConfigError, match="cannot split"):
        parse_template("serve 'unclosed", "--server")


def test_folder_names_are_safe_stable_and_distinct() -> None:
    plain = Config((("batch", "8"), ("instances", "2")))
    assert plain.slug == "batch-8_instances-2"
    a = Config((("model", "org/name"),))
    b = Config((("model", "org:name"),))
    assert "/" not in a.slug
    assert a.slug != b.slug
    assert a.slug == Config((("model", "org/name"),)).slug  # stable across runs


@given(
    st.lists(
        st.text(min_size=1, max_size=30).filter(str.strip), min_size=2, max_size=6, unique=True
    )
)
def test_distinct_values_never_share_a_folder(values: list[str]) -> None:
    configs = [Config((("v", v.strip()),)) for v in values]
    slugs = [c.slug for c in configs]
    assert all(s and "/" not in s and len(s) <= 80 for s in slugs)
    distinct = {c.params for c in configs}
    assert len(set(slugs)) == len(distinct)
