"""The option table on Locust's parser and in its web form."""

from __future__ import annotations

from locust.argument_parser import get_parser, ui_extra_args_dict

import locust_ml  # noqa: F401 - registers the plugin
from locust_ml.options import read_options
from locust_ml.plugin.options import add_options, web_form


def test_options_are_registered_on_locusts_parser() -> None:
    ns = get_parser().parse_args(
        [
            *("-f", "x.py", "--ml-prompt-tokens", "const:5", "--ml-shape"),
            *("ramp:max=8,step=1m", "--ml-percentiles", "99,50"),
        ]
    )
    opts = read_options(ns)
    assert opts.prompt_tokens.kind == "const"
    assert dict(opts.load.shape.given) == {"max": 8.0, "step": 60.0}  # type: ignore[union-attr]
    assert opts.report.percentiles == (50.0, 99.0)


def test_environment_variables_set_options(monkeypatch: object) -> None:
    import os

    os.environ["LOCUST_ML_SHAPE"] = "soak:load=3"
    try:
        ns = get_parser().parse_args(["-f", "x.py"])
    finally:
        del os.environ["LOCUST_ML_SHAPE"]
    assert read_options(ns).load.shape.kind == "soak"  # type: ignore[union-attr]


def test_registration_is_idempotent() -> None:
    parser = get_parser()
    add_options(parser)  # the listener already ran once
    add_options(parser)
    assert parser.parse_args(["--ml-seed", "3"]).ml_seed == "3"


def test_web_ui_shows_load_options_but_not_process_ones() -> None:
    extra = ui_extra_args_dict(["-f", "x.py"])
    assert {"ml_slo", "ml_shape", "ml_arrival", "ml_model"} <= set(extra)
    assert not {"ml_report_dir", "ml_server_args", "ml_server_backend"} & set(extra)
    assert not {"ml_prompt_tokens", "ml_seed", "ml_percentiles", "ml_open_loop"} & set(extra)


def test_slo_default_is_not_a_list() -> None:
    # Locust's form parses a field whose default is an empty list as a list of ints.
    assert get_parser().parse_args(["-f", "x.py"]).ml_slo is None


def test_form_labels_are_short_plain_text() -> None:
    extra = ui_extra_args_dict(["-f", "x.py"])
    form = web_form(extra)
    ours = {k: v for k, v in form.items() if k.startswith("ml_")}
    assert ours
    for key, spec in ours.items():
        label = spec["help_text"]
        assert "%" not in label.replace("1%", ""), (key, label)
        assert len(label) <= 80, (key, label)
    assert form["ml_slo"]["help_text"] == "SLOs, comma-separated: p99<500ms, errors<1%"
    # Locust's own fields, and other plugins', are left as they are.
    assert {k: v for k, v in form.items() if not k.startswith("ml_")} == {
        k: v for k, v in extra.items() if not k.startswith("ml_")
    }


def test_form_shows_command_line_slos_as_one_string_and_the_locustfiles_shape() -> None:
    extra = ui_extra_args_dict(["-f", "x.py", "--ml-slo", "p99<1s", "--ml-slo", "errors<1%"])
    form = web_form(extra, shape_spec="soak:load=10,hold=4h,ramp=5m,down=1m")
    assert form["ml_slo"]["default_value"] == "p99<1s, errors<1%"
    assert form["ml_shape"]["default_value"] == "soak:load=10,hold=4h,ramp=5m,down=1m"
    assert web_form(extra, shape_spec=None)["ml_shape"]["default_value"] is None
    given = web_form(ui_extra_args_dict(["-f", "x.py", "--ml-shape", "spike"]), shape_spec="soak")
    assert given["ml_shape"]["default_value"] == "spike"


def test_every_registered_option_is_in_the_table() -> None:
    from locust_ml.options import GROUPS, flags

    table = sorted(meta.flag for g in GROUPS for _n, meta, _d in flags(g))
    registered = sorted(s for s in get_parser()._option_string_actions if s.startswith("--ml-"))
    assert table == registered


def test_each_options_readers_are_classes_of_the_plugin() -> None:
    """Flag.readers names classes by name: a rename must not silence the warning."""
    import inspect

    from locust_ml.options import GROUPS, flags
    from locust_ml.plugin import conversation_users, payload_users, text_users, trace_users

    modules = (conversation_users, payload_users, text_users, trace_users)
    names = {n for m in modules for n, obj in inspect.getmembers(m, inspect.isclass)}
    readers = {r for g in GROUPS for _n, meta, _d in flags(g) for r in meta.readers}
    assert readers
    assert readers <= names, readers - names


def test_options_no_class_of_the_run_reads_are_named() -> None:
    from locust_ml.options import ignored_options
    from locust_ml.plugin.conversation_users import ConversationUser
    from locust_ml.plugin.payload_users import ImageUser
    from locust_ml.plugin.text_users import TextUser
    from locust_ml.plugin.trace_users import TraceReplayShape

    class Chat(TextUser):
        abstract = True

    class Talk(ConversationUser):
        abstract = True

    ns = get_parser().parse_args(
        [
            *("-f", "x.py", "--ml-conversation", "system=4", "--ml-encoding", "wire=json"),
            *("--ml-trace", "t.jsonl", "--ml-stream", "on", "--ml-image-format", "png"),
        ]
    )
    opts = read_options(ns)
    has = "; this run has Chat, ImageUser"
    assert ignored_options(opts, [Chat, ImageUser]) == [
        f"--ml-conversation ignored: only ConversationUser reads it{has}",
        f"--ml-trace ignored: only TraceReplayUser or TraceReplayShape reads it{has}",
    ]
    # A subclass reads what its base reads; a shape class counts too.
    assert ignored_options(opts, [Talk, ImageUser], TraceReplayShape) == []
    assert ignored_options(opts, [Talk]) == [
        "--ml-trace ignored: only TraceReplayUser or TraceReplayShape reads it; this run has Talk",
        "--ml-image-format ignored: only ImageUser reads it; this run has Talk",
        "--ml-encoding ignored: only PayloadUser reads it; this run has Talk",
    ]
    # Options left at their defaults are never named.
    assert ignored_options(read_options(get_parser().parse_args(["-f", "x.py"])), [Chat]) == []
