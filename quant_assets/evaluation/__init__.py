"""Pure evaluation of multi-horizon predictions: the one reference strategy, its metrics,
walk-forward sub-windows, purged k-fold, the trial-aware statistics (deflated Sharpe, PBO)
and the gate verdict. polars, numpy and scipy only: the Dagster assets (oos_eval,
gate_verdict) read, call these, and write.
"""
