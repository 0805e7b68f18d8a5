"""What the model checks re-derive, independent of the code that fitted.

- embargo: from the stored window and the horizons (never from a recorded embargo);
- purge: from the labels asset, the availability of the newest label each horizon trained on;
- inputs: the fitted model's input columns against the feature contract itself, and the
  columns each LightGBM booster was trained on (as the booster itself names them) against
  the contract's inputs, minus the ablated source's (``contract.source_columns``) for an
  ablation family;
- reproduction: a reloaded model's predictions on stored feature rows against those made
  right after the fit;
- cross-validation: each purged k-fold fold stored with the model trained on no row whose
  label reaches into its test fold, nor on one inside the embargo after it, with label ends
  and embargo derived from the horizons (not from what the fit recorded).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl

from quant_assets.features import contract
from quant_assets.labels.forward import available_column
from quant_assets.labels.horizons import HORIZON_NAMES, HORIZONS, embargo
from quant_assets.models.artefact import FittedModel
from quant_assets.models.lgbm import ABLATIONS, MAIN
from quant_assets.partitions import DaySymbol

ATOL, RTOL = 1e-9, 1e-6


def embargo_problems(part: DaySymbol, record: dict) -> list[str]:
    problems = []
    gap = embargo()
    if record["fit_end"] + gap > part.start:
        problems.append(f"{part}: fit ends {record['fit_end']}, embargo {gap} reaches {record['fit_end'] + gap}, after the day starts")
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
        problems.append(f"{part}: model inputs differ from the feature contract ({_differences(model.input_columns, expected)})")
    problems += booster_input_problems(part, model)
    if model.contract_hash != contract.CONTRACT_HASH:
        problems.append(f"{part}: model was fitted under contract {model.contract_hash[:12]}, the lake's is {contract.CONTRACT_HASH[:12]}")
    return problems


def booster_input_problems(part: DaySymbol, model: FittedModel) -> list[str]:
    """Each booster read the contract's inputs (``lgbm``) or them minus its source's (ablations)."""
    problems = []
    expected = {MAIN: contract_inputs()}
    for family, source in ABLATIONS.items():
        dropped = set(contract.source_columns(source))
        expected[family] = [c for c in contract_inputs() if c not in dropped]
    for family, boosters in {MAIN: model.boosters, **model.ablations}.items():
        if family not in expected:
            problems.append(f"{part}: LightGBM family {family} is neither {MAIN} nor an ablation ({', '.join(ABLATIONS)})")
            continue
        for h, booster in sorted(boosters.items()):
            read = booster.feature_name()
            if read != expected[family]:
                problems.append(f"{part}: {family} {h} was trained on other columns than it should ({_differences(read, expected[family])})")
    return problems


def _differences(found: list[str], expected: list[str]) -> str:
    extra = [c for c in found if c not in expected]
    lacking = [c for c in expected if c not in found]
    return f"not expected: {extra or 'none'}; missing: {lacking or 'none'}{'; order differs' if not extra and not lacking else ''}"


def cv_problems(part: DaySymbol, model: FittedModel) -> list[str]:
    """Per stored fold: the newest train row before it has ``t + h`` before the fold's first
    ``t``; the oldest after it has ``t`` after the fold's last ``t + h`` + embargo."""
    problems = []
    gap = embargo()
    for fold in model.cv.get("folds", []):
        h, name = HORIZONS[fold["horizon"]], f"{fold['horizon']} fold {fold['fold']}"
        start, end = datetime.fromisoformat(fold["test_start"]), datetime.fromisoformat(fold["test_end"])
        if fold["train_t_before"] and datetime.fromisoformat(fold["train_t_before"]) + h >= start:
            problems.append(
                f"{part}: purged k-fold {name} trained on t={fold['train_t_before']}, whose label ends at or after "
                f"the test fold starts ({fold['test_start']}): not purged"
            )
        if fold["train_t_after"] and datetime.fromisoformat(fold["train_t_after"]) <= end + h + gap:
            problems.append(
                f"{part}: purged k-fold {name} trained on t={fold['train_t_after']}, within the fold's last label "
                f"({end + h}) + embargo {gap}: not purged or not embargoed"
            )
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
