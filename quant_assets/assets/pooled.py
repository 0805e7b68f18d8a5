"""Glue of the pooled family ``lgbm_pooled`` (``quant_assets.models.pooled``) in the three
assets that carry it, kept out of their modules:

- multi_horizon_model: ``PooledFits`` fits (or finds in MLflow) one pooled model per refit
  anchor of the run, over every universe symbol's fit window (a declared dependency: the
  asset's feature and label mapping covers every symbol, ``partitions.day_window_mapping``),
  and adds to each partition's record the pooled fit serving it (``POOLED_RECORD``);
- its checks: ``pooled_check_problems`` re-derives the pooled fit's embargo, purge and
  inputs (``models.pooled_verify``) for every partition it serves;
- oos_eval: ``PooledPredictions`` predicts day D of S with the record's pooled fit, ranked
  among every universe symbol's rows of D (a declared dependency too), and names that fit in
  the family's rows.
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import polars as pl

from quant_assets import settings
from quant_assets.features.contract import CONTRACT_HASH, FEATURES_ASSET, SCHEMA_VERSION
from quant_assets.labels.forward import LABELS_ASSET
from quant_assets.labels.horizons import HORIZON_NAMES
from quant_assets.models import pooled_verify, verify
from quant_assets.models.plan import code_digest, fit_key
from quant_assets.models.pooled import POOLED_FAMILY, RANKED, THIN, PooledModel, fit_pooled, on_thin_grid, pooled_window
from quant_assets.models.record import inputs_digest
from quant_assets.models.window import FitWindow
from quant_assets.partitions import DaySymbol
from quant_assets.registry.pooled import load_pooled, log_pooled
from quant_assets.timegrid import TS_DTYPE

POOLED_RECORD = {"pooled_fit_key": pl.String(), "pooled_run_id": pl.String(), "pooled_model_uri": pl.String(), "pooled_fit_end": TS_DTYPE}


class PooledFits:
    """The run's pooled fits, one per anchor, each attached to the records of the days it serves."""

    def __init__(self, context, store, tracking, mlflow_tracking, config, train_days: int, refit_days: int, read_partition=None):
        self.context, self.store, self.tracking, self.mlflow_tracking = context, store, tracking, mlflow_tracking
        self.config, self.train_days, self.refit_days = config, train_days, refit_days
        self.universe = sorted(settings.universe())
        self.logged: dict[date, tuple] = {}
        self.reads = PooledWindowReads(store, self.universe, read_partition)
        self.fitted = self.reused = 0
        self.seconds = 0.0

    def attach(self, record: pl.DataFrame, window: FitWindow) -> pl.DataFrame:
        """``record`` (one model partition's row) with the pooled fit of ``window``'s anchor."""
        if window.anchor not in self.logged:
            self.logged[window.anchor] = self._fit_or_find(pooled_window(window))
        key, logged, end = self.logged[window.anchor]
        row = {"pooled_fit_key": key, "pooled_run_id": logged.run_id, "pooled_model_uri": logged.model_uri, "pooled_fit_end": end}
        return record.with_columns(pl.lit(v, POOLED_RECORD[c]).alias(c) for c, v in row.items())

    def _fit_or_find(self, window: FitWindow):
        started = time.perf_counter()
        features, labels, hashes = self.reads.window(window)
        # the universe decides the symbol codes: a symbol without data still changes the fit
        digest = inputs_digest({**hashes, "universe": ",".join(self.universe), "thin": str(THIN)})
        key = fit_key(window, self.config, CONTRACT_HASH, digest, code_digest())
        logged = self.tracking.find_fit(key)
        if logged is None:
            model = fit_pooled(features, labels, window, self.config, self.universe)
            logged = log_pooled(
                self.tracking, model, key,
                params={**self.config.params(), **window.describe(), "train_days": self.train_days, "refit_days": self.refit_days, "thin": THIN,
                        "ranked": ",".join(RANKED), "universe": ",".join(self.universe), "contract_version": SCHEMA_VERSION,
                        "contract_hash": CONTRACT_HASH, "inputs_sha256": digest},
                tags={"universe": ",".join(self.universe), "fit_anchor": window.anchor.isoformat(), "dagster_run_id": self.context.run_id,
                      "code_version": settings.code_version(), "code_digest": code_digest()},
            )  # fmt: skip
            self.fitted += 1
        else:
            self.reused += 1
        self.seconds += time.perf_counter() - started
        return key, logged, window.end

    def summary(self) -> dict[str, float | int]:
        return {"run_pooled_fits_trained": self.fitted, "run_pooled_fits_reused": self.reused, "run_pooled_fit_s": round(self.seconds, 1)}


class PooledWindowReads:
    """Every universe symbol's feature and label rows of a pooled window, on the thinned grid.

    Consecutive anchors' windows share all but refit_days of their days: each partition is
    read and hashed once, kept on the thinned grid, and let go once no later window holds it
    (anchors come in order)."""

    def __init__(self, store, universe: list[str], read_partition=None):
        """``read_partition(asset, part)``: (frame, content hash) or None when absent; by default
        read from ``store``. The model step hands in its per-symbol reader (``WindowReads.partition``),
        which holds the same partitions already."""
        self.store, self.universe = store, universe
        self.read_partition = read_partition or self._from_store
        self.read: dict[tuple[str, DaySymbol], tuple[pl.DataFrame, str]] = {}

    def _from_store(self, asset_name: str, part: DaySymbol) -> tuple[pl.DataFrame, str] | None:
        return self.store.read_hashed(asset_name, part) if self.store.exists(asset_name, part) else None

    def window(self, window: FitWindow) -> tuple[dict, dict, dict[str, str]]:
        """(features by symbol, labels by symbol, each partition's content hash keyed as the
        per-symbol fits key theirs) of ``window``'s days."""
        days = window.days
        self.read = {k: v for k, v in self.read.items() if k[1].day >= days[0]}
        frames: dict[str, dict[str, pl.DataFrame]] = {FEATURES_ASSET: {}, LABELS_ASSET: {}}
        hashes = {}
        for asset_name in (FEATURES_ASSET, LABELS_ASSET):
            for symbol in self.universe:
                held = []
                for part in (DaySymbol(d, symbol) for d in days):
                    if (asset_name, part) not in self.read and (found := self.read_partition(asset_name, part)) is not None:
                        frame, sha = found
                        self.read[asset_name, part] = (on_thin_grid(frame).drop("symbol", strict=False), sha)
                    if (asset_name, part) in self.read:
                        frame, hashes[f"{asset_name}/{part}"] = self.read[asset_name, part]
                        held.append(frame)
                frames[asset_name][symbol] = pl.concat(held, how="vertical_relaxed") if held else pl.DataFrame()
        return frames[FEATURES_ASSET], frames[LABELS_ASSET], hashes


def pooled_check_problems(store, tracking, mlflow_tracking, records: dict[DaySymbol, dict]) -> dict[str, dict[DaySymbol, list[str]]]:
    """Per model check (``embargo``, ``purge``, ``inputs_contract``), the problems of the pooled
    fit each partition's record names: each fit loaded and re-derived once, its problems
    holding for every day it serves. A record without a pooled fit is a problem of its own."""
    out: dict[str, dict[DaySymbol, list[str]]] = {"embargo": {}, "purge": {}, "inputs_contract": {}}
    by_fit: dict[str, list[DaySymbol]] = {}
    for part, record in records.items():
        if not record.get("pooled_model_uri"):
            out["inputs_contract"][part] = [f"{part}: the record names no {POOLED_FAMILY} fit"]
            continue
        by_fit.setdefault(record["pooled_model_uri"], []).append(part)
    for uri, served in by_fit.items():
        model = load_pooled(tracking, uri, Path(mlflow_tracking.cache_root))
        first = served[0]
        purge = pooled_verify.purge_problems(first, model, _label_lookups(store, model))
        inputs = pooled_verify.input_problems(first, model)
        for part in served:
            out["embargo"][part] = pooled_verify.embargo_problems(part, records[part], model)
            out["purge"][part], out["inputs_contract"][part] = purge, inputs
    return out


def _label_lookups(store, model: PooledModel) -> dict[str, dict]:
    """symbol -> ``verify.label_lookup`` of the labels partitions holding its newest training rows."""
    out = {}
    for symbol, newest in pooled_verify.newest_rows(model).items():
        parts = sorted({verify.decision_partition(t, symbol) for t in newest})
        present = [p for p in parts if store.exists(LABELS_ASSET, p)]
        out[symbol] = verify.label_lookup(store.read_many(LABELS_ASSET, present)) if present else {h: {} for h in HORIZON_NAMES}
    return out


def merge_problems(problems: dict, pooled: dict[str, dict[DaySymbol, list[str]]]) -> None:
    """Add the pooled fit's problems to the model checks' (``problems[check][part]``)."""
    for name, found in pooled.items():
        for part, lines in found.items():
            if lines:
                problems[name][part] = [*problems[name].get(part, []), *lines]


class PooledPredictions:
    """oos_eval's pooled predictions: each fit loaded once, each day's cross-section read once."""

    def __init__(self, store, tracking, mlflow_tracking):
        self.store, self.tracking, self.cache_root = store, tracking, Path(mlflow_tracking.cache_root)
        self.models: dict[str, PooledModel] = {}
        self.days: dict[date, dict[str, pl.DataFrame]] = {}

    def add(self, symbol: str, days: list[date], record: dict, features: pl.DataFrame, predictions: dict) -> dict:
        """``predictions`` plus ``lgbm_pooled`` on ``features`` (S's rows of ``days``, in order),
        ranked at each t among those days' universe."""
        uri = record.get("pooled_model_uri")
        if not uri:  # a record from before the pooled family: nothing to add
            return predictions
        if uri not in self.models:
            self.models[uri] = load_pooled(self.tracking, uri, self.cache_root)
        model = self.models[uri]
        others: dict[str, list[pl.DataFrame]] = {}
        for day in days:
            for s, frame in self._cross_section(day, model.universe).items():
                others.setdefault(s, []).append(frame)
        cross_section = {s: pl.concat(frames, how="vertical") for s, frames in others.items()}
        return {**predictions, POOLED_FAMILY: model.predict_symbol(symbol, {**cross_section, symbol: features})}

    def _cross_section(self, day: date, universe: list[str]) -> dict[str, pl.DataFrame]:
        if day not in self.days:
            parts = [p for p in (DaySymbol(day, s) for s in universe) if self.store.exists(FEATURES_ASSET, p)]
            rows = self.store.read_many(FEATURES_ASSET, parts, columns=["t", *RANKED]) if parts else pl.DataFrame()
            self.days[day] = {s: g.drop("symbol") for (s,), g in rows.group_by("symbol")} if parts else {}
        return self.days[day]


def name_pooled_fit(rows: pl.DataFrame, record: dict) -> pl.DataFrame:
    """The family's rows name the pooled fit that predicted them (the others, the symbol's)."""
    if not record.get("pooled_model_uri"):
        return rows
    return rows.with_columns(
        model_uri=pl.when(pl.col("family") == POOLED_FAMILY).then(pl.lit(record["pooled_model_uri"])).otherwise(pl.col("model_uri")),
        fit_end=pl.when(pl.col("family") == POOLED_FAMILY).then(pl.lit(record["pooled_fit_end"], TS_DTYPE)).otherwise(pl.col("fit_end")),
    )
