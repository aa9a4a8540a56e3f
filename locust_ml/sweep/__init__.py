"""``locust-ml sweep``: the capacity search once per server configuration, ranked.

After "how much does one replica sustain?" comes "which configuration
should the replica run?" - max batch size, instances per GPU, tensor
parallelism, instance type. A sweep measures the SLO capacity of each
configuration with the normal capacity search and ranks them by cost per 1M
requests (or capacity per replica), for any server that can be started or
reconfigured from a command line.

The modules, one concept each:

* pure: :mod:`.configs` (the grid, the configurations file, command
  templates), :mod:`.strategy` (order and early stop), :mod:`.result` (a
  configuration's outcome; cost and replicas decided on it), :mod:`.ranking`
  (the rule, the lead, the Pareto front, the recommendation), :mod:`.record`
  (sweep.json and outcome.json as dicts), :mod:`.console` (the table);
* adapters, their side effects injected: :mod:`.target` (a configuration's
  server or setup/teardown, and the readiness wait), :mod:`.search` (one
  locust run), :mod:`.runner` (the loop, resuming, interruptions),
  :mod:`.html` (sweep.html);
* the command: :mod:`.settings` (options, checked into a :class:`Sweep`),
  :mod:`.command`.

Exports are lazy (PEP 562): the CLI builds its parser from :mod:`.settings`
without importing the report model and numpy.
"""

from __future__ import annotations

from locust_ml.lazy import lazy_exports

__all__ = ["Config", "ConfigResult", "Sweep", "SweepOutcome", "run_sweep"]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "Config": "locust_ml.sweep.configs",
        "ConfigResult": "locust_ml.sweep.result",
        "Sweep": "locust_ml.sweep.runner",
        "SweepOutcome": "locust_ml.sweep.runner",
        "run_sweep": "locust_ml.sweep.runner",
    },
)
