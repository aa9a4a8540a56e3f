"""Size profiles fitted from the real traces in ``data/traces`` (package data).

Each ``*.json`` here is a :class:`locust_ml.traces.Profile` with its provenance
(source repository, licence, sha256 of the trace). Load one by name:
``Profile.load("azure_conv")``. Regenerate them all with
``python scripts/fit_bundled_profiles.py``; see ``docs/profiles.md``.
"""
