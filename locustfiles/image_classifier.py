"""Capacity ramp against an image classifier: trace-sized photographs over v2 (KServe, Triton...).

Run it with no --host and it tests the reference server's image classifier
(started on a free loopback port, stopped at the end)::

    locust -f locustfiles/image_classifier.py --headless

or point it at a KServe, MLServer, Triton or OpenVINO model::

    locust -f locustfiles/image_classifier.py --headless --host http://127.0.0.1:8000 \\
        --ml-model resnet50

Before the test it asks the server (``GET /v2``, ``GET /v2/models/{model}``)
and says on the console what it sends and why: binary tensors where the
server lists ``binary_tensor_data`` (Triton), JSON tensors with the JPEG in
base64 otherwise (KServe, MLServer); the encoded file to a ``BYTES`` input,
decoded and normalised pixels to a numeric one (``--ml-encoding`` forces a
choice). Each request is a real JPEG whose width, height and byte size are
drawn from the ImageNet sample (``--ml-profile imagenet_image_sizes``;
``coco_image_sizes`` is the other bundled one). The
payloads are encoded once, before the test, into a pool of about 16 MiB
(``--ml-pool-draws``, ``--ml-pool-max-mb``: larger pools follow the profile
more closely and take longer to build). Other protocols: ``--ml-protocol
torchserve``, or ``multipart``/``raw`` with ``--ml-endpoint /predict``.
"""

from __future__ import annotations

from locust import task

from locust_ml import ImageUser, RampShape


class ImageClassifier(ImageUser):
    model = "image-classifier"
    pool_draws = 1024
    pool_max_mb = 16.0

    @task
    def classify(self) -> None:
        self.infer()


class Ramp(RampShape):
    start = 1
    factor = 2.0
    max = 8
    step = "15s"
