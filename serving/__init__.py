"""The trading half: the ledger, risk checks and execution adapters that the paper and live
trading jobs share (see ``../../shared/DESIGN.md``, "Serving and trading").

Pure code apart from the Dagster/MLflow glue that mounts it; nothing here enables live
trading by itself: only a person, through ``quant-assets trading enable-live``, does.
"""
