"""Every model of the tiny KServe/MLServer servers at once: one user class per model.

Run by ``tests/integration/test_interop_servers.py`` with ``--host`` a server
from ``tests/interop/servers.py`` (and ``--ml-encoding`` or ``--ml-protocol``
to force a choice); each class names its requests after itself, so Locust's
stats show failures per model and payload.
"""

from __future__ import annotations

from locust import task

from locust_ml import AudioUser, ImageUser


class _Small:
    pool_draws = 64
    pool_max_mb = 4.0


class ImageFile(_Small, ImageUser):
    model = "image-classifier"

    @task
    def send(self) -> None:
        self.infer(name=type(self).__name__)


class ImageWebp(ImageFile):
    payload_format = "webp"


class ImagePixelsFp32(ImageFile):
    model = "image-pixels"


class ImagePixelsUint8(ImageFile):
    model = "image-pixels-u8"


class AudioWav(_Small, AudioUser):
    model = "speech"

    @task
    def send(self) -> None:
        self.infer(name=type(self).__name__)


class AudioFlac(AudioWav):
    payload_format = "flac"


class AudioPcm(AudioWav):
    model = "speech-pcm"
