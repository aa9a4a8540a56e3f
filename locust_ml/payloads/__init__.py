"""Payload generators: realistic request bodies of a requested size (pure, seeded)."""

from __future__ import annotations

from locust_ml.payloads.lengths import LengthDistribution
from locust_ml.payloads.text import PromptGenerator, count_tokens

__all__ = ["LengthDistribution", "PromptGenerator", "count_tokens"]
