"""Capacity ramp against a speech-to-text model: trace-length speech over v2 (KServe, Triton...).

Run it with no --host and it tests the reference server's speech model
(started on a free loopback port, stopped at the end)::

    locust -f locustfiles/speech_to_text.py --headless

or point it at your own v2 server (KServe, MLServer, Triton)::

    locust -f locustfiles/speech_to_text.py --headless --host http://127.0.0.1:8000 \\
        --ml-model whisper

It asks the server what it takes before the test and says so on the
console: the WAV file to a ``BYTES`` input (binary where the server lists
``binary_tensor_data``, JSON base64 otherwise), decoded samples at 16 kHz
to a numeric one (``--ml-encoding rate=...`` for another rate).

Each request is a WAV file of synthetic speech whose duration is drawn from
LibriSpeech (``--ml-profile librispeech_durations``), exact to the sample and
different on every request. ``--ml-audio-format flac`` sends FLAC instead
(encoded into a pool before the test; WAV pools are cut from one long track).
"""

from __future__ import annotations

from locust import task

from locust_ml import AudioUser, RampShape


class SpeechToText(AudioUser):
    model = "speech"
    pool_draws = 1024
    pool_max_mb = 16.0

    @task
    def transcribe(self) -> None:
        self.infer()


class Ramp(RampShape):
    start = 1
    factor = 2.0
    max = 8
    step = "15s"
