"""oos_eval through Dagster on a lake seeded from the sample bundle, with a real MLflow fit:
the day-D model on day D's rows, partial until the 7d labels are known, and each blocking
check failing on a fault planted where it would really happen: a model partition record in
the lake whose fit ends inside the embargo, an evaluator that edits a label on its way to
the stored rows, a writer that stores a summary the rows do not support."""

import json
import shutil
from datetime import date, timedelta

import polars as pl
import pytest
from dagster import AssetKey

from quant_assets.assets.evaluation_checks import CHECKS
from quant_assets.evaluation import oos, strategy
from quant_assets.evaluation.oos import OOS_ASSET, SUMMARY_KEY, summary
from quant_assets.features.contract import FEATURES_ASSET
from quant_assets.labels.horizons import HORIZON_NAMES, embargo
from quant_assets.lake.store import ParquetLake
from quant_assets.models.record import MODELS_ASSET
from quant_assets.partitions import DaySymbol
from quant_assets_tests import fitted_models

FIRST, LAST = date(2025, 10, 1), date(2025, 11, 12)
# one fit (anchor Mon 11-10) serves both days; the lake's bars end 11-12, so their 7d labels
# (bars up to D+8) are not known yet
SERVED = (date(2025, 11, 10), date(2025, 11, 11))
LABEL_DAYS = (date(2025, 10, 19), date(2025, 11, 11))
DAY = DaySymbol(SERVED[0], fitted_models.SYMBOL)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, seed_cache):
    """A home with labels and one real fit serving SERVED (built once: the fit is the slow part)."""
    return fitted_models.fitted_home(tmp_path_factory.mktemp("oos") / "home", seed_cache, (FIRST, LAST), LABEL_DAYS, SERVED)


@pytest.fixture
def lake(fitted, tmp_path, monkeypatch):
    """The test's own copy of the fitted lake (the MLflow store is shared, read only)."""
    monkeypatch.setenv("QUANT_ASSETS_HOME", str(fitted))
    root = tmp_path / "lake"
    shutil.copytree(fitted / "lake", root)
    return root


def _evaluate(lake, fitted, instance, days=SERVED):
    return fitted_models.run(fitted_models.oos_definitions(lake, fitted), [OOS_ASSET], days[0], days[-1], instance)


def _verdicts(results) -> dict[str, bool]:
    return {n: c.passed for n, c in fitted_models.checks_of(results if isinstance(results, list) else [results]).items()}


def test_the_day_d_model_is_evaluated_on_day_d_and_is_partial_until_7d(lake, fitted, fresh_instance):
    results = _evaluate(lake, fitted, fresh_instance)
    assert all(r.success for r in results)
    assert _verdicts(results) == {n: True for n in CHECKS}
    store = ParquetLake(str(lake))
    record = store.read(MODELS_ASSET, DAY).row(0, named=True)
    rows = store.read(OOS_ASSET, DAY)
    features = store.read(FEATURES_ASSET, DAY)
    model_families = set(rows.filter(pl.col("model_uri").is_not_null())["family"].unique())
    # the ablations are evaluated too, and every family serving can trade (mean), and its portfolio
    assert model_families == {"lgbm", "mhnet", "mean", "lgbm_no_text", "lgbm_no_derivatives", "portfolio", "lgbm_pooled"}
    assert not model_families & set(strategy.BASELINES)
    assert set(rows["family"].unique()) == model_families | set(strategy.BASELINES)
    assert rows.filter(pl.col("family") == "portfolio")["horizon"].unique().to_list() == ["1h"]
    assert rows.height == (len(model_families | set(strategy.BASELINES)) - 1) * len(HORIZON_NAMES) * features.height + features.height
    models = rows.filter(pl.col("model_uri").is_not_null())
    assert (models["fit_end"] + embargo() <= DAY.start).all()
    # the pooled family's rows name the pooled fit the record names; every other the symbol's own
    pooled = models.filter(pl.col("family") == "lgbm_pooled")
    assert (pooled["model_uri"] == record["pooled_model_uri"]).all() and record["pooled_model_uri"] != record["model_uri"]
    assert (models.filter(pl.col("family") != "lgbm_pooled")["model_uri"] == record["model_uri"]).all()
    # the predictions are the MLflow model's on this day's feature rows
    tracking = fitted_models.mlflow_resource(fitted)
    model = tracking.load_fitted(tracking.tracking(), record["model_uri"])
    lgbm_1d = rows.filter((pl.col("family") == "lgbm") & (pl.col("horizon") == "1d")).sort("t")
    assert lgbm_1d["prediction"].to_numpy().tolist() == model.predict(features.sort("t"))["lgbm"][:, 2].tolist()
    # 7d labels wait for bars up to D+8: partial, naming 7d; the shorter horizons trade
    mats = fresh_instance.fetch_materializations(AssetKey(OOS_ASSET), limit=2).records
    meta = {r.asset_materialization.partition: r.asset_materialization.metadata for r in mats}
    for m in meta.values():
        assert m["complete"].value is False and m["missing_horizons"].value == "7d"
    # one book across days: the first day opens flat (no day before it was evaluated), the next carries its close
    assert meta[str(DAY.dagster_key)]["carry_in"].value.startswith(f"flat: {OOS_ASSET} {oos.previous_day(DAY)} is not published")
    second = DaySymbol(SERVED[1], fitted_models.SYMBOL)
    assert meta[str(second.dagster_key)]["carry_in"].value == f"from {SERVED[0]} (evaluated earlier in this run)"
    closed = oos.closing_positions(rows)
    opened = oos.carry_from_record(json.loads(store.read_file_metadata(OOS_ASSET, second)[oos.CARRY_KEY]))
    assert opened == closed and any(p != 0 for p in closed.values())
    assert rows.filter(pl.col("horizon") == "7d")["label"].null_count() == rows.filter(pl.col("horizon") == "7d").height
    assert rows.filter((pl.col("horizon") == "1h") & (pl.col("family") == "lgbm"))["evaluable"].sum() == 24
    # the summary in the file footer is the one in the metadata, and is the rows'
    stored = json.loads(store.read_file_metadata(OOS_ASSET, DAY)[SUMMARY_KEY])
    assert stored == meta[str(DAY.dagster_key)]["summary"].value == json.loads(json.dumps(summary(rows)))
    assert stored["lgbm/1h"]["decisions"] == 24 and stored["lgbm/7d"]["decisions"] == 0
    for family in ("lgbm_no_text", "lgbm_no_derivatives"):
        ablation = rows.filter((pl.col("family") == family) & (pl.col("horizon") == "1d")).sort("t")
        assert ablation["prediction"].to_numpy().tolist() == model.predict(features.sort("t"))[family][:, 2].tolist()
        assert stored[f"{family}/1h"]["decisions"] == 24 and stored[f"{family}/1h"]["rank_ic"] is not None


def test_a_model_record_whose_fit_ends_inside_the_embargo_is_caught(lake, fitted, fresh_instance):
    store = ParquetLake(str(lake))
    record = store.read(MODELS_ASSET, DAY)
    late = DAY.start - embargo() + timedelta(hours=1)  # one hour too late for day D
    store.write(MODELS_ASSET, DAY, record.with_columns(fit_end=pl.lit(late, record.schema["fit_end"])))
    results = _evaluate(lake, fitted, fresh_instance, days=(DAY.day,))
    checks = fitted_models.checks_of(results)
    assert _verdicts(results) == {"oos_embargo": False, "oos_labels_unchanged": True, "oos_summary_reproduces": True, "oos_carry_in": True}
    description = checks["oos_embargo"].description
    assert str(DAY) in description and str(late) in description and "after the day starts" in description
    fitted_models.assert_quarantined(lake, OOS_ASSET, [DAY], "oos_embargo")


def test_a_label_edited_on_its_way_to_the_stored_rows_is_caught(lake, fitted, fresh_instance, monkeypatch):
    evaluate_day = oos.evaluate_day
    edited = {}

    def editing(*args, **kwargs):  # a faulty evaluator: one label of the day altered before writing
        rows = evaluate_day(*args, **kwargs)
        edited["t"] = t = rows.filter(pl.col("label").is_not_null())["t"][50]
        hit = (pl.col("t") == t) & (pl.col("horizon") == "1h") & (pl.col("family") == "momentum")
        return rows.with_columns(label=pl.when(hit).then(pl.col("label") * 1.5).otherwise("label"))

    monkeypatch.setattr(oos, "evaluate_day", editing)
    results = _evaluate(lake, fitted, fresh_instance, days=(DAY.day,))
    # the summary describes the stored rows faithfully: only the labels check can see it
    assert _verdicts(results) == {"oos_embargo": True, "oos_labels_unchanged": False, "oos_summary_reproduces": True, "oos_carry_in": True}
    description = fitted_models.checks_of(results)["oos_labels_unchanged"].description
    assert f"{DAY}: 1 rows' labels differ" in description and f"momentum 1h t={edited['t']}" in description
    fitted_models.assert_quarantined(lake, OOS_ASSET, [DAY], "oos_labels_unchanged")


def test_a_tampered_stored_summary_is_caught(lake, fitted, fresh_instance, monkeypatch):
    summary_json = oos.summary_json

    def flattering(rows):  # a faulty writer: the day's 1h lgbm PnL better than its rows
        figures = json.loads(summary_json(rows))
        figures["lgbm/1h"]["pnl"] += 0.05
        return json.dumps(figures, sort_keys=True)

    monkeypatch.setattr(oos, "summary_json", flattering)
    results = _evaluate(lake, fitted, fresh_instance, days=(DAY.day,))
    assert _verdicts(results) == {"oos_embargo": True, "oos_labels_unchanged": True, "oos_summary_reproduces": False, "oos_carry_in": True}
    description = fitted_models.checks_of(results)["oos_summary_reproduces"].description
    assert str(DAY) in description and "/lgbm/1h/pnl" in description
    fitted_models.assert_quarantined(lake, OOS_ASSET, [DAY], "oos_summary_reproduces")


def test_a_day_reevaluated_alone_opens_with_its_published_previous_day_and_a_flat_start_is_caught(lake, fitted, fresh_instance, monkeypatch):
    assert all(r.success for r in _evaluate(lake, fitted, fresh_instance))
    store = ParquetLake(str(lake))
    second = DaySymbol(SERVED[1], fitted_models.SYMBOL)
    before = store.read(OOS_ASSET, second)
    results = _evaluate(lake, fitted, fresh_instance, days=(SERVED[1],))  # the day alone: D-1 from the lake
    assert _verdicts(results) == {n: True for n in CHECKS}
    assert store.read(OOS_ASSET, second).equals(before)  # the same book, evaluated alone or after its previous day
    evaluate_day = oos.evaluate_day

    def forgetful(*args, carry=None, **kwargs):  # a faulty evaluator: every day starts flat, as before one book
        return evaluate_day(*args, **kwargs)

    monkeypatch.setattr(oos, "evaluate_day", forgetful)
    results = _evaluate(lake, fitted, fresh_instance, days=(SERVED[1],))
    assert _verdicts(results) == {"oos_embargo": True, "oos_labels_unchanged": True, "oos_summary_reproduces": True, "oos_carry_in": False}
    description = fitted_models.checks_of(results)["oos_carry_in"].description
    assert str(second) in description and "first trade is not their change from the opening position" in description
    # quarantined; readers still see the honest book published before
    assert store.quarantined(OOS_ASSET) == [second] and store.read(OOS_ASSET, second).equals(before)
    assert "oos_carry_in" in {f["check"] for f in store.quarantine_report(OOS_ASSET, second)["failed_checks"]}


def test_missing_inputs_fail_with_one_clear_line_and_write_nothing(lake, fitted, fresh_instance):
    other = DaySymbol(SERVED[1], fitted_models.SYMBOL)
    (lake / MODELS_ASSET / f"date={other.day}" / f"symbol={other.symbol}" / "part-0.parquet").unlink()
    results = _evaluate(lake, fitted, fresh_instance)
    assert not results[0].success
    error = [e for e in results[0].all_events if e.is_step_failure][0].step_failure_data.error
    assert f"input partitions not materialized: {MODELS_ASSET} {other}" in (error.cause or error).message
    assert not ParquetLake(str(lake)).exists(OOS_ASSET, DAY), "nothing written when one partition cannot be evaluated"


def test_a_quarantined_model_day_is_not_served_and_the_failure_says_why(lake, fitted, fresh_instance):
    """A model day whose checks failed (first materialization: nothing published before) is
    in quarantine, not the lake: a separate oos_eval run refuses it and names the check."""
    from quant_assets.lake.publish import StagedLake

    store = ParquetLake(str(lake))
    record = store.read(MODELS_ASSET, DAY)
    store.partition_path(MODELS_ASSET, DAY).unlink()
    staged = StagedLake.begin(store, "failed-model-run", MODELS_ASSET)
    staged.write(MODELS_ASSET, DAY, record)
    staged.seal()
    staged.publish({DAY: [{"check": "model_purge", "why": "planted"}]})
    results = _evaluate(lake, fitted, fresh_instance, days=(DAY.day,))
    assert not results[0].success
    error = [e for e in results[0].all_events if e.is_step_failure][0].step_failure_data.error
    message = (error.cause or error).message
    assert f"input partitions not materialized: {MODELS_ASSET} {DAY} (quarantined: model_purge failed, see " in message
    assert not store.exists(OOS_ASSET, DAY) and not store.quarantined(OOS_ASSET)


def test_a_run_that_hands_its_next_day_a_wrong_close_is_caught_on_that_day_only(lake, fitted, fresh_instance, monkeypatch):
    """The run evaluates both days as one book (one span); a faulty cut that reports the first
    day's closing positions wrongly gives the second day a footer its first trades contradict."""
    split_days = oos.split_days

    def misclosing(rows):
        days = split_days(rows)
        first = min(days)
        days[first] = oos.DayRows(days[first].rows, {k: p + 0.5 for k, p in days[first].closing.items()})
        return days

    monkeypatch.setattr(oos, "split_days", misclosing)
    results = _evaluate(lake, fitted, fresh_instance)
    assert _verdicts(results) == {"oos_embargo": True, "oos_labels_unchanged": True, "oos_summary_reproduces": True, "oos_carry_in": False}
    second = DaySymbol(SERVED[1], fitted_models.SYMBOL)
    description = fitted_models.checks_of(results)["oos_carry_in"].description
    assert str(second) in description and "open with a position other than the previous day's close" in description
    assert ParquetLake(str(lake)).exists(OOS_ASSET, DAY)  # the first day is right, and published
    fitted_models.assert_quarantined(lake, OOS_ASSET, [second], "oos_carry_in")
