"""The web UI's start form: values applied as Locust applies them, checked before START."""

from __future__ import annotations

import argparse

import pytest
from werkzeug.datastructures import MultiDict

from locust_ml.errors import ConfigError
from locust_ml.plugin.shapes import RampShape
from locust_ml.plugin.webform import check_start, form_namespace, install_form_labels


class Ramp(RampShape):
    start = 1
    max = 4


def _parsed(**kw: object) -> argparse.Namespace:
    base: dict[str, object] = {"ml_slo": None, "ml_shape": None, "ml_seed": 0, "host": "h"}
    return argparse.Namespace(**{**base, **kw})


def test_form_values_are_applied_as_locust_applies_them() -> None:
    form = MultiDict(
        [("ml_slo", "p99<500ms, errors<1%"), ("ml_shape", ":max=8"), ("ml_seed", "3"), ("x", "1")]
    )
    ns = form_namespace(_parsed(), form)
    assert ns.ml_slo == "p99<500ms, errors<1%"  # a None default takes the text
    assert ns.ml_shape == ":max=8"
    assert ns.ml_seed == 3  # a typed default keeps its type
    assert not hasattr(ns, "x")  # Locust ignores fields it has no option for
    listed = form_namespace(_parsed(ml_slo=["p99<1s"]), MultiDict([("ml_slo", "p99<1s,e<1%")]))
    assert listed.ml_slo == ["p99<1s", "e<1%"]


def test_a_value_locust_could_not_convert_names_its_option() -> None:
    with pytest.raises(ConfigError, match="--ml-seed: expected an integer, got 'x'"):
        form_namespace(_parsed(), MultiDict([("ml_seed", "x")]))


def test_start_is_refused_with_one_line_for_bad_values_and_impossible_shapes() -> None:
    assert check_start(_parsed(), MultiDict([("ml_slo", "")]), shape=Ramp()) is None
    assert check_start(_parsed(), MultiDict([("ml_slo", "p99<1s, errors<1%")])) is None
    bad = check_start(_parsed(), MultiDict([("ml_slo", "p99 fast")]))
    assert bad is not None
    assert bad.startswith("locust-ml: --ml-slo: 'p99 fast' is not an SLO")
    ramp = check_start(_parsed(), MultiDict([("ml_shape", ":start=9")]), shape=Ramp())
    assert ramp == "locust-ml: ramp max (4 users) must be >= ramp start (9)"
    key = check_start(_parsed(), MultiDict([("ml_shape", "ramp:steps=3")]), shape=Ramp())
    assert key is not None
    assert key.startswith("locust-ml: --ml-shape: ramp has no key 'steps'")


def test_the_preflight_decides_last() -> None:
    seen = []

    def preflight(options: object) -> None:
        seen.append(options)
        raise ConfigError("the target does not serve the model 'x'")

    problem = check_start(_parsed(), MultiDict([("ml_shape", ":max=8")]), preflight=preflight)
    assert problem == "locust-ml: the target does not serve the model 'x'"
    assert len(seen) == 1
    seen.clear()
    check_start(_parsed(), MultiDict([("ml_slo", "nope")]), preflight=preflight)
    assert seen == []  # a bad value is reported without asking the target


def test_form_labels_follow_each_rebuild_of_the_template_args() -> None:
    class WebUI:
        def __init__(self) -> None:
            self.template_args: dict[str, object] = {}
            self.calls = 0

        def update_template_args(self) -> None:
            self.calls += 1
            self.template_args["extra_options"] = {
                "ml_slo": {"default_value": None, "help_text": "raw %(default)s", "choices": None},
                "other": {"default_value": 1, "help_text": "theirs", "choices": None},
            }

    web_ui = WebUI()
    assert install_form_labels(web_ui, lambda: "ramp")
    assert install_form_labels(web_ui, lambda: "ramp")  # once only
    web_ui.update_template_args()
    extra = web_ui.template_args["extra_options"]
    assert extra["ml_slo"]["help_text"].startswith("SLOs, comma-separated")  # type: ignore[index]
    assert extra["other"]["help_text"] == "theirs"  # type: ignore[index]
    assert web_ui.calls == 1
    assert not install_form_labels(object(), lambda: None)


#: A value a person could type into each field of the form.
FILLED = {
    "ml_slo": "p99<500ms, errors<1%",
    "ml_shape": "ramp:start=2,factor=1.5,max=8,step=10s",
    "ml_arrival": "poisson",
    "ml_model": "my-model",
    "ml_target_rps": "100",
    "ml_price_per_hour": "1.5",
}


@pytest.mark.parametrize(
    "shape",
    [
        "ramp:start=2,add=2,max=8,step=10s",
        "soak:load=4,ramp=10s,hold=1m,down=0",
        "spike:base=2,base_time=15s,factor=4,spike=15s,recovery=15s",
        Ramp.spec_text(),  # what the form shows for the locustfile's shape
    ],
)
def test_every_form_field_left_empty_or_filled_in_starts(shape: str) -> None:
    from locust.argument_parser import get_parser, ui_extra_args_dict

    import locust_ml  # noqa: F401 - registers the options

    fields = {k for k in ui_extra_args_dict(["-f", "x.py"]) if k.startswith("ml_")}
    assert fields == set(FILLED)
    parsed = get_parser().parse_args(["-f", "x.py"])
    empty = MultiDict(dict.fromkeys(fields, ""))
    assert check_start(parsed, empty, shape=Ramp()) is None
    filled = MultiDict({**FILLED, "ml_shape": shape})
    assert check_start(parsed, filled, shape=Ramp()) is None
    # From the command line, a list of SLOs comes back from the form as one string.
    listed = get_parser().parse_args(["-f", "x.py", "--ml-slo", "p99<1s", "--ml-slo", "errors<1%"])
    assert check_start(listed, MultiDict({"ml_slo": "p99<1s, errors<1%"})) is None
