"""What the model checks re-derive, independent of the code that fitted.

- embargo: from the stored window and the horizons (never from a recorded embargo);
- purge: from the labels asset, the availability of the newest label each horizon trained on;
- inputs: the fitted model's input columns against the feature contract itself;
- reproduction: a reloaded model's predictions on stored feature rows against those made
  right after the fit.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl

from quant_assets.features import contract
from quant_assets.labels.forward import available_column
from quant_assets.labels.horizons import HORIZON_NAMES, embargo
from quant_assets.models.artefact import FittedModel
from quant_assets.partitions import DaySymbol

ATOL, RTOL = 1e-9, 1e-6


def embargo_problems(part: DaySymbol, record: dict) -> list[str]:
    problems = []
    gap = embargo()
    if record["fit_end"] + gap > part.start:
        problems.append(
            f"{part}: fit ends {record['fit_end']}, embargo {gap} reaches {record['fit_end'] + gap}, after the day starts"
        )
    if record["fit_start"] >= record["fit_end"]:
        problems.append(f"{part}: fit window {record['fit_start']}..{record['fit_end']} is empty")
    return problems


def purge_problems(part: DaySymbol, record: dict, label_rows: dict[str, dict[datetime, datetime | None]]) -> list[str]:
    """``label_rows[h][t]`` is the labels asset's ``label_available_at_<h>`` at ``t``."""
    problems = []
    for h in HORIZON_NAMES:
        newest = record[f"train_t_max_{h}"]
        if newest is None:
            continue
        recorded = record[f"train_label_available_at_max_{h}"]
        known_at = label_rows[h].get(newest)
        if recorded is not None and recorded > record["fit_end"]:
            problems.append(f"{part}: {h}: a training label was known at {recorded}, after the fit end {record['fit_end']}")
        if known_at is None:
            problems.append(f"{part}: {h}: trained on t={newest}, for which the labels asset has no {h} label")
        elif known_at > record["fit_end"]:
            problems.append(
                f"{part}: {h}: trained on t={newest}, whose label the labels asset says was known at {known_at}, "
                f"after the fit end {record['fit_end']}"
            )
    return problems


def label_lookup(labels: pl.DataFrame) -> dict[str, dict[datetime, datetime | None]]:
    return {h: dict(zip(labels["t"].to_list(), labels[available_column(h)].to_list())) for h in HORIZON_NAMES}


def decision_partition(t: datetime, symbol: str) -> DaySymbol:
    """The (day, symbol) partition holding decision time ``t`` (D 00:05 .. D+1 00:00 is day D)."""
    return DaySymbol((t - timedelta(microseconds=1)).date(), symbol)


def sample_times(model: FittedModel) -> list[datetime]:
    return [datetime.fromisoformat(t) for t in model.sample.get("t", [])]


def contract_inputs() -> list[str]:
    """The feature contract's model inputs: its features, then its missing flags."""
    return [*contract.FEATURE_NAMES, *contract.FLAG_NAMES]


def input_problems(part: DaySymbol, model: FittedModel) -> list[str]:
    problems = []
    expected = contract_inputs()
    if model.input_columns != expected:
        extra = [c for c in model.input_columns if c not in expected]
        lacking = [c for c in expected if c not in model.input_columns]
        problems.append(
            f"{part}: model inputs differ from the feature contract (not in contract: {extra or 'none'}; "
            f"missing: {lacking or 'none'}{'; order differs' if not extra and not lacking else ''})"
        )
    if model.contract_hash != contract.CONTRACT_HASH:
        problems.append(f"{part}: model was fitted under contract {model.contract_hash[:12]}, the lake's is {contract.CONTRACT_HASH[:12]}")
    return problems


def reproduction_problems(part: DaySymbol, model: FittedModel, rows: pl.DataFrame) -> list[str]:
    """``rows``: the stored feature rows at the sample's decision times."""
    sample = model.sample
    if not sample.get("t"):
        return [f"{part}: the fitted model kept no reproducibility sample"]
    wanted = sample_times(model)
    by_t = rows.filter(pl.col("t").is_in(wanted)).sort("t")
    if by_t.height != len(wanted):
        return [f"{part}: {len(wanted) - by_t.height} of the sample's feature rows are no longer in the lake"]
    now = model.predict(by_t)
    problems = []
    for family, stored in sample["predictions"].items():
        then = np.array(stored, dtype=float)
        if not np.allclose(now[family], then, atol=ATOL, rtol=RTOL, equal_nan=True):
            worst = float(np.nanmax(np.abs(now[family] - then)))
            problems.append(f"{part}: {family} predictions on stored rows differ from those at fit time by up to {worst:.3g}")
    return problems
