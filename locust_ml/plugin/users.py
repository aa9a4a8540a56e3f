"""Library base Users: ML-aware, abstract, meant to be subclassed in locustfiles.

This is where locustfiles import them from (``from locust_ml.plugin.users
import ImageUser``, or ``from locust_ml import ImageUser``); each family
lives in a module of its own:

* :class:`MLUser` (:mod:`~locust_ml.plugin.ml_user`): the base: options, a
  per-user seeded RNG, closed and open loop, and one request through a
  protocol adapter, counted once and classified;
* :class:`TextUser` (:mod:`~locust_ml.plugin.text_users`): OpenAI chat or completions, streamed
  or not, prompt and output lengths drawn jointly from a profile or from the
  token options;
* :class:`ImageUser` and :class:`AudioUser` (:mod:`~locust_ml.plugin.payload_users`):
  real JPEG/PNG/WebP or WAV/FLAC from a payload pool fitted to a profile,
  over v2 (a binary ``BYTES`` tensor), TorchServe, a multipart upload or a
  raw body.

All are ``abstract = True``: Locust runs every concrete User class it finds
in a locustfile, imported ones included, so a base class that isn't
abstract would silently join the test.

Importing this module also registers :func:`_prepare_users` on Locust's
``init``: every ML user's settings are checked before the test (a bad one is
one line and exit code 2, not a user dying later), and payload pools are
built then, off the request path.
"""

from __future__ import annotations

import logging
from typing import Any

import locust

from locust_ml.errors import EXIT_CONFIG, LocustMLError
from locust_ml.options import read_options
from locust_ml.payloads.prompt_pool import prompt_corpus
from locust_ml.plugin.ml_user import MLUser
from locust_ml.plugin.payload_users import (
    AudioUser,
    ImageUser,
    PayloadSettings,
    PayloadUser,
    PoolSpec,
    payload_pool,
)
from locust_ml.plugin.text_users import TextSettings, TextUser
from locust_ml.plugin.transport import InferenceFailure, InferenceTimeout

__all__ = [
    "AudioUser",
    "ImageUser",
    "InferenceFailure",
    "InferenceTimeout",
    "MLUser",
    "PayloadSettings",
    "PayloadUser",
    "PoolSpec",
    "TextSettings",
    "TextUser",
    "payload_pool",
]

logger = logging.getLogger("locust_ml")


@locust.events.init.add_listener
def _prepare_users(environment: Any, runner: Any = None, **_: Any) -> None:
    """Check every ML user's settings before the test, and build its payload pool.

    A bad setting is one line and exit 2 now rather than a user dying
    later. Pools (and text users' prompt corpus) are built here (not on a
    master: no users run there) so that a ramp's first step doesn't spend
    its time waiting for one.
    """
    from locust.runners import MasterRunner

    try:
        options = read_options(environment.parsed_options)
        for cls in environment.user_classes or ():
            if issubclass(cls, TextUser):
                cls.settings_for(options)
                if not isinstance(runner, MasterRunner):
                    prompt_corpus()
            elif issubclass(cls, PayloadUser):
                spec = cls.settings_for(options).pool
                if not isinstance(runner, MasterRunner):
                    payload_pool(spec, cls.pool_factory)
    except LocustMLError as exc:
        logger.error("locust-ml: %s", exc)
        raise SystemExit(EXIT_CONFIG) from None
