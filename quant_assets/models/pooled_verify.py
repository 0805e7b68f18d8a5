"""What the model checks re-derive for the pooled fit serving a model partition, like
``verify`` does for the symbol's own fit:

- embargo: the pooled fit's stored window ends an embargo (derived from the horizons) before
  the served day, and is the window the partition's record names;
- purge: for every symbol it trained on and every horizon, the labels asset says the newest
  label it trained on was known by the fit end (``verify.purge_problems`` per symbol);
- inputs: the boosters read the contract's inputs, then the ranks, then the symbol code.
"""

from __future__ import annotations

from datetime import datetime, timezone

from quant_assets.labels.horizons import HORIZON_NAMES
from quant_assets.models import verify
from quant_assets.models.pooled import POOLED_FAMILY, SYMBOL_CODE, PooledModel, rank_columns
from quant_assets.partitions import DaySymbol


def _utc(stamp: str | None) -> datetime | None:
    return datetime.fromisoformat(stamp).replace(tzinfo=timezone.utc) if stamp else None


def symbol_record(model: PooledModel, symbol: str) -> dict:
    """The pooled fit's rows of ``symbol`` in the shape ``verify`` reads a model record in."""
    summary = model.training.get(symbol, {})
    record = {"fit_start": model.window.start, "fit_end": model.window.end}
    for h in HORIZON_NAMES:
        record[f"train_t_max_{h}"] = _utc(summary.get(h, {}).get("t_max"))
        record[f"train_label_available_at_max_{h}"] = _utc(summary.get(h, {}).get("label_available_at_max"))
    return record


def newest_rows(model: PooledModel) -> dict[str, list[datetime]]:
    """symbol -> the newest decision time it trained on, per horizon (where it trained)."""
    return {s: [t for h in HORIZON_NAMES if (t := _utc(model.training[s].get(h, {}).get("t_max"))) is not None] for s in sorted(model.training)}


def embargo_problems(part: DaySymbol, record: dict, model: PooledModel) -> list[str]:
    own = {"fit_start": model.window.start, "fit_end": model.window.end}
    problems = [f"{POOLED_FAMILY}: {p}" for p in verify.embargo_problems(part, own)]
    if record.get("pooled_fit_end") != model.window.end:
        problems.append(f"{part}: {POOLED_FAMILY}: the record names fit end {record.get('pooled_fit_end')}, the pooled model's is {model.window.end}")
    return problems


def purge_problems(part: DaySymbol, model: PooledModel, lookups: dict[str, dict]) -> list[str]:
    """``lookups[symbol]``: ``verify.label_lookup`` of that symbol's labels at its newest rows."""
    return [
        f"{POOLED_FAMILY} ({symbol}'s rows): {p}"
        for symbol in sorted(model.training)
        for p in verify.purge_problems(part, symbol_record(model, symbol), lookups.get(symbol, {h: {} for h in HORIZON_NAMES}))
    ]


def input_problems(part: DaySymbol, model: PooledModel) -> list[str]:
    expected = [*verify.contract_inputs(), *rank_columns(), SYMBOL_CODE]  # from the contract, not from the fitting code
    problems = [] if model.columns == expected else [f"{part}: {POOLED_FAMILY} inputs are not the pooled columns"]
    for h, booster in sorted(model.boosters.items()):
        if booster.feature_name() != expected:
            problems.append(f"{part}: {POOLED_FAMILY} {h} was trained on other columns than the pooled inputs")
    return problems
