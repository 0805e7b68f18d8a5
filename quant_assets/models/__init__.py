"""Multi-horizon models: fit windows, training sets, LightGBM and the multi-head net (pure; no Dagster, no MLflow)."""
