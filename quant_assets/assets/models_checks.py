"""Blocking checks on multi_horizon_model (logic in ``quant_assets.models.verify``).

One audit op runs the four on the run's staged partitions (the rows tying each day to its
fit) and publishes those that pass all four (``quant_assets.assets.checks``); a fit's
problems fail every day it serves, and a quarantined day is never served by oos_eval.
"""

from collections import defaultdict

import polars as pl
from dagster import AssetCheckExecutionContext, AssetCheckSpec, multi_asset_check

from quant_assets.assets.checks import audit_op_name, open_batch, problems_verdict, publish_verdicts
from quant_assets.assets.pooled import merge_problems, pooled_check_problems
from quant_assets.features.contract import FEATURES_ASSET
from quant_assets.labels.forward import LABELS_ASSET
from quant_assets.labels.horizons import HORIZON_NAMES
from quant_assets.models import verify
from quant_assets.models.record import MODELS_ASSET
from quant_assets.partitions import DaySymbol
from quant_assets.resources.lake import LakeResource
from quant_assets.resources.models import MlflowTracking

CHECKS = {
    "embargo": (
        "fit end + embargo (longest horizon + one bar, derived from the horizons) <= the served day's 00:00; "
        "the same for the pooled fit (lgbm_pooled) the record names."
    ),
    "purge": (
        "For each horizon, the labels asset says the newest label the fit trained on was known by the fit end; "
        "for the pooled fit, the newest of each symbol it trained on."
    ),
    "inputs_contract": (
        "The fitted model's input columns and contract hash are the feature contract's; "
        "the pooled fit's boosters read the contract's inputs, the cross-sectional ranks and the symbol code."
    ),
    "reproduces": "The model reloaded from MLflow predicts, on the stored feature rows of its sample, what it predicted right after the fit.",
    "cv_purged": (
        "Every purged k-fold fold stored with the model trained on no row whose label (t + horizon) reaches its test fold, "
        "nor on one within the fold's last label + embargo (longest horizon + one bar, derived from the horizons)."
    ),
}


@multi_asset_check(
    name=audit_op_name(MODELS_ASSET),
    specs=[AssetCheckSpec(f"model_{n}", asset=MODELS_ASSET, blocking=True, description=d) for n, d in CHECKS.items()],
    description="The multi_horizon_model checks, over the run's staged partitions; each fit is loaded once; publishes those that pass.",
)
def model_checks(context: AssetCheckExecutionContext, lake: LakeResource, mlflow_tracking: MlflowTracking):
    batch = open_batch(context, lake, MODELS_ASSET)  # the run's staged records, published inputs
    parts, store = batch.parts, batch.store
    tracking = mlflow_tracking.tracking()
    records = {p: store.read(MODELS_ASSET, p).row(0, named=True) for p in parts}
    problems: dict[str, dict[DaySymbol, list[str]]] = defaultdict(dict)
    shared: dict[str, dict[DaySymbol, str]] = defaultdict(dict)  # days failing through their fit
    by_fit: dict[str, list[DaySymbol]] = defaultdict(list)
    for part, record in records.items():
        problems["embargo"][part] = verify.embargo_problems(part, record)
        by_fit[record["fit_key"]].append(part)
    for key, served in by_fit.items():
        part, record = served[0], records[served[0]]
        newest = [record[f"train_t_max_{h}"] for h in HORIZON_NAMES if record[f"train_t_max_{h}"] is not None]
        label_parts = sorted({verify.decision_partition(t, part.symbol) for t in newest})
        present = [p for p in label_parts if store.exists(LABELS_ASSET, p)]
        labels = store.read_many(LABELS_ASSET, present) if present else pl.DataFrame(schema={"t": pl.Datetime("us", "UTC")})
        lookup = verify.label_lookup(labels) if present else {h: {} for h in HORIZON_NAMES}
        fit_problems = verify.purge_problems(part, record, lookup)
        model = mlflow_tracking.load_fitted(tracking, record["model_uri"])
        input_problems = verify.input_problems(part, model)
        sample_parts = sorted({verify.decision_partition(t, part.symbol) for t in verify.sample_times(model)})
        rows = store.read_many(FEATURES_ASSET, [p for p in sample_parts if store.exists(FEATURES_ASSET, p)])
        reproduction = verify.reproduction_problems(part, model, rows) if rows.width else [f"{part}: the sample's feature partitions are gone"]
        # a fit's problems hold for every day it serves: named once, with the days; every day
        # it serves fails (none of them is published)
        days = f" (serves {len(served)} partitions)" if len(served) > 1 else ""
        cv_problems = verify.cv_problems(part, model)
        for name, found in (("purge", fit_problems), ("inputs_contract", input_problems), ("reproduces", reproduction), ("cv_purged", cv_problems)):
            if found:
                problems[name][part] = [p + days for p in found]
                shared[name].update({other: f"served by the fit of {part}: {found[0]}" for other in served[1:]})
    # the pooled fit (lgbm_pooled) each record names: its embargo, purge and inputs too
    merge_problems(problems, pooled_check_problems(store, tracking, mlflow_tracking, records))
    verdicts = {f"model_{name}": problems_verdict(problems[name], name, len(parts)) for name in CHECKS}
    for name, others in shared.items():
        verdicts[f"model_{name}"].failing.update(others)
    yield from publish_verdicts(batch, verdicts, set(verdicts))
