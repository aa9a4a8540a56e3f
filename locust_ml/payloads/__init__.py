"""Payload generators: realistic request bodies of a requested size (pure, seeded).

Text prompts of an exact token count, synthetic photographs (JPEG/PNG/WebP) of
a requested size and byte count, speech-like audio (WAV/FLAC) of an exact
duration, and pools that pre-encode them off the request path. Importing this
package loads only numpy; Pillow, scipy and soundfile load on first use.
"""

from __future__ import annotations

from locust_ml.payloads.audio import AudioGenerator, EncodedAudio
from locust_ml.payloads.audio_pool import build_audio_pool
from locust_ml.payloads.image import EncodedImage, ImageGenerator
from locust_ml.payloads.image_pool import build_image_pool
from locust_ml.payloads.lengths import LengthDistribution
from locust_ml.payloads.payload import Payload, PayloadPool, PoolStats
from locust_ml.payloads.pool import build_pool
from locust_ml.payloads.text import PromptGenerator, count_tokens

__all__ = [
    "AudioGenerator",
    "EncodedAudio",
    "EncodedImage",
    "ImageGenerator",
    "LengthDistribution",
    "Payload",
    "PayloadPool",
    "PoolStats",
    "PromptGenerator",
    "build_audio_pool",
    "build_image_pool",
    "build_pool",
    "count_tokens",
]
