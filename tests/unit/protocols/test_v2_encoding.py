"""The encoding decision: which input, form and wire, and the mismatches that stop a run."""

from __future__ import annotations

from pathlib import Path

import pytest

from locust_ml.errors import ConfigError
from locust_ml.protocols.v2_encoding import choose_encoding
from locust_ml.protocols.v2_metadata import (
    ModelMetadata,
    TensorMetadata,
    parse_model_metadata,
    parse_server_metadata,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "v2_servers"


def server(name: str):  # type: ignore[no-untyped-def]
    return parse_server_metadata((FIXTURES / f"{name}_server.json").read_bytes())


def model(name: str) -> ModelMetadata:
    return parse_model_metadata((FIXTURES / f"{name}.json").read_bytes())


def one_input(datatype: str, shape: tuple[int, ...] | None, name: str = "x") -> ModelMetadata:
    return ModelMetadata("m", inputs=(TensorMetadata(name, datatype, shape),))


@pytest.mark.parametrize(
    ("srv", "wire", "reason"),
    [
        ("triton", "binary", "GET /v2 (triton 2.23.0) lists binary_tensor_data"),
        (
            "kserve",
            "json",
            "GET /v2 (kserve 0.21.0) lists no binary_tensor_data "
            "(extensions: model_repository_extension)",
        ),
        (
            "mlserver",
            "json",
            "GET /v2 (mlserver 1.7.1) lists no binary_tensor_data (extensions: none)",
        ),
    ],
)
def test_binary_only_where_the_server_lists_it(srv: str, wire: str, reason: str) -> None:
    enc = choose_encoding(
        kind="image", server=server(srv), model=model("kserve_image_classifier"), input_name="image"
    )
    assert (enc.form, enc.wire, enc.reason) == ("file", wire, reason)
    assert enc.input == TensorMetadata("image", "BYTES", (-1,))


def test_a_server_that_cannot_say_gets_json() -> None:
    enc = choose_encoding(
        kind="audio",
        server=None,
        model=None,
        input_name="audio",
        unknown="GET /v2 answered HTTP 404",
    )
    assert (enc.form, enc.wire, enc.input.name, enc.input.datatype) == (
        "file",
        "json",
        "audio",
        "BYTES",
    )
    assert enc.reason == "GET /v2 answered HTTP 404; JSON is what every v2 server takes"
    assert enc.describe() == (
        "input 'audio' BYTES: encoded files as BYTES (base64) in JSON tensors: "
        "GET /v2 answered HTTP 404; JSON is what every v2 server takes"
    )


@pytest.mark.parametrize("forced", ["binary", "json"])
def test_the_wire_can_be_forced(forced: str) -> None:
    for srv in ("triton", "mlserver"):
        enc = choose_encoding(
            kind="image", server=server(srv), model=None, input_name="i", wire=forced
        )
        assert (enc.wire, enc.reason) == (forced, f"--ml-encoding {forced}")


def test_the_models_own_input_name_and_datatype() -> None:
    enc = choose_encoding(
        kind="image",
        server=server("triton"),
        model=model("triton_python_bytes"),
        input_name="image",
    )
    assert (enc.input.name, enc.form) == ("INPUT_0", "file")


def test_pixels_for_a_triton_onnx_classifier() -> None:
    """densenet_onnx: FP32 [3, 224, 224], no batch dimension: CHW pixels."""
    enc = choose_encoding(
        kind="image",
        server=server("triton"),
        model=model("triton_densenet_onnx"),
        input_name="image",
    )
    assert (enc.form, enc.wire, enc.input.name) == ("pixels", "binary", "data_0")
    assert enc.pixels is not None
    assert (enc.pixels.layout, enc.pixels.shape) == ("NCHW", (3, 224, 224))
    assert "decoded pixels [3, 224, 224] in binary tensors" in enc.describe()


@pytest.mark.parametrize(
    ("shape", "layout", "size", "expected"),
    [
        ((1, 3, 224, 224), "auto", 224, ("NCHW", (1, 3, 224, 224))),
        ((-1, 299, 299, 3), "auto", 224, ("NHWC", (1, 299, 299, 3))),
        ((-1, -1, -1, -1), "auto", 256, ("NCHW", (1, 3, 256, 256))),
        ((-1, -1, -1, -1), "nhwc", 64, ("NHWC", (1, 64, 64, 3))),
        ((1, 1, 28, 28), "auto", 224, ("NCHW", (1, 1, 28, 28))),
        ((-1, 3, -1, -1), "auto", 128, ("NCHW", (1, 3, 128, 128))),
        (None, "auto", 224, ("NCHW", (1, 3, 224, 224))),
    ],
)
def test_pixel_geometry_from_the_shape(
    shape: tuple[int, ...] | None, layout: str, size: int, expected: tuple[str, tuple[int, ...]]
) -> None:
    enc = choose_encoding(
        kind="image",
        server=None,
        model=one_input("UINT8", shape),
        input_name="x",
        size=size,
        layout=layout,
    )
    assert enc.pixels is not None
    assert (enc.pixels.layout, enc.pixels.shape) == expected


@pytest.mark.parametrize(
    ("shape", "datatype", "expected"),
    [
        ((1, -1), "FP32", (True, None)),
        ((-1,), "INT16", (False, None)),
        ((1, 16000), "FP32", (True, 16000)),
    ],
)
def test_samples_for_a_waveform_model(
    shape: tuple[int, ...], datatype: str, expected: tuple[bool, int | None]
) -> None:
    enc = choose_encoding(
        kind="audio",
        server=server("mlserver"),
        model=one_input(datatype, shape),
        input_name="audio",
        rate=8000,
    )
    assert enc.form == "pcm"
    assert enc.pcm is not None
    assert (enc.pcm.batched, enc.pcm.length, enc.pcm.rate) == (*expected, 8000)
    assert enc.pcm.shape(5) == ((1, 5) if expected[0] else (5,))


def test_a_model_that_states_no_inputs_takes_the_users_input_as_bytes() -> None:
    enc = choose_encoding(kind="image", server=None, model=ModelMetadata("m"), input_name="img")
    assert enc.input == TensorMetadata("img", "BYTES", None)
    forced = choose_encoding(
        kind="image", server=None, model=ModelMetadata("m"), input_name="img", form="pixels"
    )
    assert (forced.form, forced.input.datatype) == ("pixels", "FP32")


@pytest.mark.parametrize(
    ("kind", "meta", "kwargs", "message"),
    [
        ("image", one_input("BOOL", (1, 3, 8, 8)), {}, "cannot take an image"),
        (
            "image",
            one_input("FP32", (1, 3, 8)),
            {"form": "file"},
            "takes numbers; an encoded image",
        ),
        ("image", one_input("FP32", (1, 8)), {}, "pixels need rank 3"),
        ("image", one_input("FP32", (8, 3, 224, 224)), {}, "takes batches of 8"),
        ("image", one_input("FP32", (1, 4, 224, 224)), {"layout": "nchw"}, "has 4 channels"),
        ("audio", one_input("UINT8", (1, -1)), {}, "cannot take audio samples"),
        ("audio", one_input("FP32", (1, 2, -1)), {}, "rank 1"),
        ("audio", one_input("BYTES", (-1,)), {"form": "pixels"}, "input=pixels is for images"),
        (
            "image",
            ModelMetadata("m", inputs=(TensorMetadata("a", "FP32"), TensorMetadata("b", "FP32"))),
            {},
            "has 2 inputs",
        ),
    ],
)
def test_mismatches_are_one_line(
    kind: str, meta: ModelMetadata, kwargs: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        choose_encoding(kind=kind, server=None, model=meta, input_name="image", **kwargs)  # type: ignore[arg-type]
    assert "\n" not in str(err.value)


def test_several_inputs_one_of_the_users_name() -> None:
    meta = ModelMetadata(
        "m",
        inputs=(TensorMetadata("mask", "INT64", (-1,)), TensorMetadata("image", "BYTES", (-1,))),
    )
    enc = choose_encoding(kind="image", server=None, model=meta, input_name="image")
    assert enc.input.name == "image"


@pytest.mark.parametrize(("key", "value"), [("wire", "xml"), ("form", "jpeg")])
def test_unknown_choices(key: str, value: str) -> None:
    with pytest.raises(ConfigError, match="expected one of"):
        choose_encoding(kind="image", server=None, model=None, input_name="i", **{key: value})  # type: ignore[arg-type]
