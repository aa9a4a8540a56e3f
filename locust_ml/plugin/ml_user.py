"""The base of locust-ml users: one request through a protocol adapter, counted once.

:class:`MLUser` is ``abstract = True``, like every library User: Locust runs
every concrete User class it finds in a locustfile, imported ones included,
so a base class that isn't abstract would silently join the test.

It uses ``FastHttpUser`` (geventhttpclient, ~4x cheaper per request than
``HttpUser``) because ML payloads make the load generator's CPU matter, and
it defaults to no wait time: in a closed-loop capacity test each user is one
request in flight, and the ramp sets the concurrency. The ML users built on
it (:mod:`~locust_ml.plugin.text_users`, :mod:`~locust_ml.plugin.payload_users`)
are thin: a protocol adapter (:mod:`locust_ml.protocols`) builds each
request and judges each answer, and :meth:`MLUser.send_request` hands both
to the user's transport.

**Every request is counted once, and classified**, whichever way it goes
out: :mod:`~locust_ml.plugin.transport` sends it (past Locust's session
layers where that is safe, through ``self.client.request`` otherwise),
judges the answer with the adapter, and fires one Locust ``request`` event
with the fields Locust's session gives it, so Locust's UI and CSVs see it,
and our request listener reads the ML fields from its ``context``.
"""

from __future__ import annotations

import functools
import itertools
import logging
import random
import traceback
from typing import Any, ClassVar

import gevent
from gevent import GreenletExit
from locust import constant
from locust.contrib.fasthttp import FastHttpUser
from locust.exception import StopTest, StopUser

from locust_ml.errors import ConfigError
from locust_ml.options import NO_PROFILE, MLOptions, read_options
from locust_ml.plugin.messages import CONTEXT_KEY
from locust_ml.plugin.run import load_side
from locust_ml.plugin.shapes import effective_arrival
from locust_ml.plugin.transport import Transport
from locust_ml.protocols.base import HttpRequest, InferenceResult, ResponseParser
from locust_ml.traces.profile import Profile

__all__ = [
    "MLUser",
    "load_profile",
    "profile_source",
]

_user_numbers = itertools.count()
logger = logging.getLogger("locust_ml")


class MLUser(FastHttpUser):
    """Base of locust-ml users: options, a per-user seeded RNG, closed and open loop.

    Without ``--host`` (and no ``host`` on the class), the plugin starts the
    reference server and points these users at it, with the backend named by
    ``server_backend`` unless ``--ml-server-backend`` says otherwise.

    In an open-loop test (``--ml-arrival poisson`` and friends) the user does
    not loop: it registers with its worker's arrival driver, which runs one of
    its tasks in a new greenlet at each intended send time
    (:meth:`run_arrival`). Tasks must therefore be plain ``@task`` methods or
    functions (not nested TaskSets), and should pass :meth:`ml_context` with
    their requests so latency is measured from the intended send time.
    """

    abstract = True
    wait_time = constant(0)
    network_timeout = 60.0
    connection_timeout = 10.0
    #: Connections per user: in open loop one user runs many requests at once.
    concurrency = 256
    #: Backend of the embedded reference server for this user (None: --ml-server-backend's).
    server_backend: ClassVar[str | None] = None
    #: Send past Locust's session layers where that is safe (see
    #: plugin/transport.py); False: always through Locust's session.
    direct_sends: ClassVar[bool] = True

    ml_options: MLOptions
    rng: random.Random

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self._transport = Transport(self.client, direct=type(self).direct_sends)
        #: Open loop: the intended send time of the arrival each greenlet runs.
        self._intended: dict[Any, float] = {}

    def on_start(self) -> None:
        # Options reach workers with the spawn message, so read them here,
        # not at import or init time.
        self.ml_options = read_options(self.environment.parsed_options)
        side = load_side(self.environment)
        #: Counts each send, so requests still in flight when a step ends are known.
        self._recorder = side.recorder if side is not None else None
        runner = self.environment.runner
        worker = getattr(runner, "worker_index", 0) if runner is not None else 0
        # str seeds are hashed with SHA-512 by random.Random: stable across runs.
        self.rng = random.Random(f"{self.ml_options.seed}:{worker}:{next(_user_numbers)}")

    # -- open loop -------------------------------------------------------------
    def run(self) -> None:  # type: ignore[misc] # final in Locust; open loop must not loop
        if not effective_arrival(self.environment).is_open:
            super().run()
            return
        side = load_side(self.environment)
        driver = side.driver if side is not None else None
        if driver is None:
            raise ConfigError("open-loop users need the locust-ml plugin's arrival driver")
        for task in self.tasks:
            if isinstance(task, type):
                raise ConfigError(
                    f"{type(self).__name__}: open-loop tests run @task methods, not nested "
                    f"TaskSets ({task.__name__})"
                )
        try:
            self.on_start()
            driver.register(self)
            while True:
                gevent.sleep(3600)
        except (GreenletExit, StopUser, StopTest):
            driver.unregister(self)
            self.on_stop()

    def run_arrival(self, intended: float) -> None:
        """Run one task for an arrival meant to start at ``intended`` (epoch seconds)."""
        me = gevent.getcurrent()
        self._intended[me] = intended
        task: Any = self.rng.choice(self.tasks)
        try:
            if hasattr(task, "__self__") and task.__self__ is self:
                task()
            else:
                task(self)
        except (GreenletExit, StopUser, StopTest):
            raise
        except Exception as exc:
            self.environment.events.user_error.fire(
                user_instance=self, exception=exc, tb=exc.__traceback__
            )
            logger.error("%s\n%s", exc, traceback.format_exc())
        finally:
            self._intended.pop(me, None)

    def ml_context(self, **fields: Any) -> dict[str, Any]:
        """The ``context`` to pass with a request: ML fields plus the intended send time.

        Mutate the returned ``["locust_ml"]`` dict inside a ``catch_response``
        block (tokens from the answer, TTFT...) - Locust fires the request
        event with it when the block ends.
        """
        if self._intended:
            intended = self._intended.get(gevent.getcurrent())
            if intended is not None:
                fields["intended"] = intended
        return {CONTEXT_KEY: fields}

    # -- one request through an adapter ------------------------------------------
    def send_request(
        self,
        request: HttpRequest,
        adapter: ResponseParser,
        *,
        name: str | None = None,
        **fields: Any,
    ) -> InferenceResult | None:
        """Send ``request``, judge the answer with ``adapter``, fire one request event.

        ``fields`` go into the ML context (``tokens_in=...``); ``bytes_sent``
        is the body's size unless given. A streamed request (``request.stream``) needs an
        adapter with ``stream_parser`` (the OpenAI ones). Returns the
        adapter's result (ok or not), or None when no answer came (timeout,
        refused or reset connection, not HTTP).
        """
        # Locust's rename_request() groups requests under one name, as for its own users.
        name = name or self.client.request_name or request.path
        fields.setdefault("bytes_sent", len(request.body))
        if self._intended:  # open loop: latency from the intended send time
            intended = self._intended.get(gevent.getcurrent())
            if intended is not None:
                fields["intended"] = intended
        recorder = getattr(self, "_recorder", None)
        if recorder is not None:
            recorder.count_sent()
        return self._transport.send(
            request, adapter, name=name, context={CONTEXT_KEY: fields}, fields=fields
        )


@functools.lru_cache(maxsize=32)
def load_profile(source: str) -> Profile:
    """A size profile by bundled name or path, loaded once per process."""
    return Profile.load(source)


def profile_source(option: str | None, default: str | None) -> str | None:
    """The profile a user class reads: the option's, else its own; None for ``none``."""
    source = option if option is not None else default
    return None if not source or source.lower() == NO_PROFILE else source
