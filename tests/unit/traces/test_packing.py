"""Packed integer arrays: exact round trips, and damage named by field."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from locust_ml.errors import TraceError
from locust_ml.traces.packing import pack_uints, unpack_uints
from locust_ml.traces.read import parse_timestamp
from locust_ml.traces.schema import Field


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=2**62), max_size=300))
def test_pack_round_trip(values: list[int]) -> None:
    packed = pack_uints(np.asarray(values, dtype=np.int64))
    assert unpack_uints(Field(packed, file="p.json")).tolist() == values


def test_smallest_dtype_is_chosen() -> None:
    assert pack_uints(np.array([0, 255]))["dtype"] == "<u1"
    assert pack_uints(np.array([256]))["dtype"] == "<u2"
    assert pack_uints(np.array([2**32]))["dtype"] == "<u8"


def test_negative_values_are_refused() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        pack_uints(np.array([1, -1]))


def test_wrong_count_is_named() -> None:
    packed = pack_uints(np.arange(10))
    packed["count"] = 11
    with pytest.raises(TraceError, match=r"p.json: field 'gaps.data': packed data holds 10 bytes"):
        unpack_uints(Field({"gaps": packed}, file="p.json")["gaps"])


@settings(max_examples=100, deadline=None)
@given(
    st.datetimes(min_value=dt.datetime(1970, 1, 1), max_value=dt.datetime(2200, 1, 1)),
    st.sampled_from([" ", "T"]),
)
def test_iso_timestamps_agree_with_datetime(when: dt.datetime, sep: str) -> None:
    text = when.isoformat(sep=sep)
    expected_us = round((when - dt.datetime(1970, 1, 1)) / dt.timedelta(microseconds=1))
    assert parse_timestamp(text) == expected_us * 1000
    assert parse_timestamp(text + "Z") == expected_us * 1000
