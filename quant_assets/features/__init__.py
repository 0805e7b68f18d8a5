"""The feature matrix: contract, pure computation, and the checks that keep it point-in-time.

- ``contract``: ordered names, dtypes, schema version and hash; the missing-value policy.
- ``compute``: ``compute_features(bars, derivatives, latents, decision_times)`` in polars.
- ``audit``: the checks, shared by the blocking asset checks and ``quant-assets audit``.
"""
