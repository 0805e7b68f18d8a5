"""Planted leaks: each is injected into a copy of the real pipeline (or into its stored
output), materialized through Dagster on real data, and must be caught twice:

1. by the blocking asset checks of the run that materialized it (while the leaky code is in
   place, so the prefix-invariance recompute runs the *leaky* pipeline on truncated inputs:
   the pipeline itself is shown not to be prefix-invariant), and
2. by ``quant-assets audit`` afterwards, with the leak gone from the code, on the stored
   partitions alone (no re-materialization). The checks keep the leaky partitions out of
   the lake (quarantined), so the audit is shown them as a lake written before checks
   held back publication would hold them: moved into place by hand.

Clean data gives zero violations on every check, on every row (``--sample all``).

The "stored value overwritten with a future one" corruption touches one middle row, which
the default sampling (first, last and 3 random rows) may miss: that test runs the checks
and the audit with every row sampled (``prefix_samples: all`` / ``--sample all``).
"""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from click.testing import CliRunner

from quant_assets.cli import main
from quant_assets.features import compute as feature_compute
from quant_assets.features.audit import CHECKS, audit_lake
from quant_assets.features.contract import FEATURES_ASSET
from quant_assets.features.inputs import SERIES, Inputs, all_mapped_days
from quant_assets.features.lake_io import read_partition, recorded_hashes, recorded_inputs, write_partition
from quant_assets.lake.store import ParquetLake
from quant_assets.partitions import DaySymbol
from quant_assets_tests.features import feature_location, realdata

REAL_COMPUTE = feature_compute.compute_features
REAL_LATEST = feature_compute.latest_available
OCT_RUN = (date(2025, 10, 6), date(2025, 10, 7))
NOV_RUN = (date(2025, 11, 26), date(2025, 11, 27))


def audit_cli(lake: str, days, *extra) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["audit", "--asset", FEATURES_ASSET, "--start", str(days[0]), "--end", str(days[1]), "--lake", lake, *extra])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def publish_quarantined_by_hand(lake: str, check: str) -> None:
    """The run quarantined its leaky partitions, naming ``check``; put them in the lake
    anyway, as a lake written before checks held back publication would hold them."""
    from quant_assets.lake.store import PART_FILE, ParquetLake

    store = ParquetLake(lake)
    quarantined = store.quarantined(FEATURES_ASSET)
    assert quarantined and not set(quarantined) & set(store.partitions(FEATURES_ASSET))
    for part in quarantined:
        assert check in {f["check"] for f in store.quarantine_report(FEATURES_ASSET, part)["failed_checks"]}
        data = (store.quarantine_dir(FEATURES_ASSET, part) / PART_FILE).read_bytes()
        store.write_bytes(FEATURES_ASSET, part, data)


def failed_checks(results, instance) -> dict[str, str]:
    return {name: ev.description for name, ev in feature_location.check_results(results, instance).items() if not ev.passed}


# ---- the leaks, as copies of the real pipeline -----------------------------------------
def bar_used_before_close(bars, derivatives, latents, times):
    """Bars joined on their open time: the bar opened at t is used at t, 5 minutes early."""
    return REAL_COMPUTE(bars.with_columns(available_at=pl.col("ts")), derivatives, latents, times)


def _centred(expr, how, n):
    return getattr(expr, f"rolling_{how}")(n, center=True)


def whole_period_normalisation(bars, derivatives, latents, times):
    """ret_1h z-scored with a mean and std fitted on every row of the run (the whole period)."""
    out = REAL_COMPUTE(bars, derivatives, latents, times)
    r = pl.col("ret_1h")
    return out.with_columns(((r - r.mean()) / r.std()).alias("ret_1h"))


def funding_joined_on_event_time(bars, derivatives, latents, times):
    """Derivatives (funding included) joined on event_time instead of available_at.

    Funding rows carry available_at = event_time, so for them alone the swap changes
    nothing; a pipeline that joins on event_time does it for every metric, and the hourly
    ones (basis, ...) are known only an hour after their event_time.
    """
    return REAL_COMPUTE(bars, derivatives.with_columns(available_at=pl.col("event_time")), latents, times)


def engagement_before_observed(bars, derivatives, latents, times):
    """Engagement observed at a later scrape carried back to earlier buckets (backward fill)."""
    eng = ["post_score_observed_mean", "post_num_comments_observed_mean"]
    filled = latents.sort(SERIES, "available_at").with_columns([pl.col(c).backward_fill().over(SERIES) for c in eng])
    return REAL_COMPUTE(bars, derivatives, filled, times)


PIPELINE_LEAKS = {
    "bar_used_before_close": ("compute_features", bar_used_before_close, realdata.OCT, OCT_RUN, "prefix_invariance"),
    "centred_rolling_window": ("rolling", _centred, realdata.OCT, OCT_RUN, "prefix_invariance"),
    "whole_period_normalisation": ("compute_features", whole_period_normalisation, realdata.OCT, OCT_RUN, "prefix_invariance"),
    "funding_on_event_time": ("compute_features", funding_joined_on_event_time, realdata.OCT, OCT_RUN, "prefix_invariance"),
    "engagement_before_observed": ("compute_features", engagement_before_observed, realdata.NOV, NOV_RUN, "prefix_invariance"),
}


@pytest.fixture(scope="module")
def clean_lakes(tmp_path_factory):
    """A clean upstream lake per slice (copied per test: each leak writes its own features)."""
    out = {}
    for name, days in (("oct", realdata.OCT), ("nov", realdata.NOV)):
        root = str(tmp_path_factory.mktemp(f"upstream_{name}") / "lake")
        realdata.write_lake(root, days=days)
        out[days] = root
    return out


def _fresh_lake(clean_lakes, days, tmp_path) -> str:
    return feature_location.copy_lake(clean_lakes[days], tmp_path)


def test_clean_data_gives_zero_violations(clean_lakes, tmp_path, instance):
    lake = _fresh_lake(clean_lakes, realdata.OCT, tmp_path)
    results = feature_location.run_features(lake, realdata.OCT, realdata.SYMBOLS, instance)
    evaluations = feature_location.check_results(results, instance)
    assert len(evaluations) == len(CHECKS) == 6
    assert all(ev.passed for ev in evaluations.values()), failed_checks(results, instance)
    code, output = audit_cli(lake, realdata.OCT)
    assert code == 0, output
    assert "0 violations" in output
    # every row of a full-history partition, recomputed from inputs truncated at its t
    code, output = audit_cli(lake, (date(2025, 10, 7), date(2025, 10, 7)), "--symbols", "BTC-USDT", "--sample", "all")
    assert code == 0, output
    assert "288 recomputed" in output


@pytest.mark.parametrize("leak", sorted(PIPELINE_LEAKS))
def test_pipeline_leak_is_caught_by_checks_and_audit(leak, clean_lakes, tmp_path, instance, monkeypatch):
    attribute, replacement, slice_days, run_days, expected_check = PIPELINE_LEAKS[leak]
    lake = _fresh_lake(clean_lakes, slice_days, tmp_path)
    with monkeypatch.context() as patched:
        patched.setattr(feature_compute, attribute, replacement)
        results = feature_location.run_features(lake, run_days, realdata.SYMBOLS, instance)
    failed = failed_checks(results, instance)
    assert f"feature_matrix_{expected_check}" in failed, f"{leak}: checks passed: {failed}"
    description = failed[f"feature_matrix_{expected_check}"]
    # the failure names partition, timestamp, feature and both values
    assert "|" in description and " t=" in description and "feature=" in description
    assert "stored=" in description and "expected=" in description

    # the leak is gone from the code; the audit sees it in the stored partitions
    publish_quarantined_by_hand(lake, f"feature_matrix_{expected_check}")
    code, output = audit_cli(lake, run_days)
    assert code == 1, output
    assert f"[{expected_check}]" in output
    assert "FAIL" in output


def asof_join_on_event_time(times, rows):
    """The as-of join keyed on ``event_time`` (a record's "time") and stamped with it.

    For an hourly metric the record picked at t is the hour still open at t (known only when
    it closes), and the stamp it leaves, its event_time, equals the available_at of the
    record that should have been used: every stamp stays <= t and looks right.
    """
    if "event_time" not in rows.columns:  # text buckets have no event time
        return REAL_LATEST(times, rows)
    return REAL_LATEST(times, rows.with_columns(available_at=pl.col("event_time")))


def test_asof_join_leak_with_a_correct_looking_stamp_is_caught_on_every_row(clean_lakes, tmp_path, instance, monkeypatch):
    lake = _fresh_lake(clean_lakes, realdata.OCT, tmp_path)
    with monkeypatch.context() as patched:
        patched.setattr(feature_compute, "latest_available", asof_join_on_event_time)
        results = feature_location.run_features(lake, OCT_RUN, realdata.SYMBOLS, instance)
    evaluations = feature_location.check_results(results, instance)
    # the stamps are all <= t: the structural check cannot see it
    assert evaluations["feature_matrix_asof"].passed
    caught = evaluations["feature_matrix_asof_inputs"]
    assert not caught.passed
    assert "feature=basis_bps" in caught.description and "not the newest basis_bps available at t" in caught.description
    # every leaked row is caught, not a sample of them: compare with the clean pipeline
    publish_quarantined_by_hand(lake, "feature_matrix_asof_inputs")
    store = ParquetLake(lake)
    parts = feature_location.parts(OCT_RUN, realdata.SYMBOLS)
    inputs = Inputs(realdata.bars(), realdata.derivatives(), realdata.latents())
    clean = feature_compute.features_for_partitions(inputs, parts, {p: all_mapped_days(p.day, realdata.OCT[0]) for p in parts})
    stored = pl.concat([read_partition(store, p)[0].with_columns(partition=pl.lit(str(p))) for p in parts])
    leaked = stored.join(clean, on=["partition", "t"], suffix="_clean").filter(pl.col("basis_bps") != pl.col("basis_bps_clean"))
    assert leaked.height > 4 * 250  # all but the last row of each day (its inputs are cut at t)
    assert caught.metadata["violations"].value == leaked.height

    # the leak is gone from the code; the audit re-derives the same from the stored lake
    code, output = audit_cli(lake, OCT_RUN)
    assert code == 1, output
    assert "[asof_inputs] 2025-10-07|BTC-USDT" in output and "feature=basis_bps" in output
    assert "[asof]" not in output


def test_projection_fitted_on_later_text_is_caught(clean_lakes, tmp_path, instance):
    """text_latents whose projection was fitted on the whole period (fit_end after the day)."""
    lake = _fresh_lake(clean_lakes, realdata.OCT, tmp_path)
    leaky = realdata.latents(days=realdata.OCT, fit="whole")
    for part, frame in realdata.split(leaky, "ts"):
        ParquetLake(lake).write("text_latents", part, frame)
    results = feature_location.run_features(lake, OCT_RUN, realdata.SYMBOLS, instance)
    failed = failed_checks(results, instance)
    assert "feature_matrix_asof" in failed, failed
    assert "text_projection_fit_end" in failed["feature_matrix_asof"]
    # the audit reads the published lake only: the leaky partitions are named quarantined, not audited
    code, output = audit_cli(lake, OCT_RUN)
    assert code != 0 and "quarantined: feature_matrix_asof failed" in output and "[asof]" not in output, output
    publish_quarantined_by_hand(lake, "feature_matrix_asof")
    code, output = audit_cli(lake, OCT_RUN)
    assert code == 1
    assert "[asof]" in output and "feature=text_projection_fit_end" in output


def test_stored_value_overwritten_with_future_one_is_caught(clean_lakes, tmp_path, instance):
    """One stored ret_1h replaced by the value of the same feature one hour later.

    Checked with every row sampled: the Dagster checks re-run alone on the stored lake with
    ``prefix_samples: all``, the pure audit with ``sample="all"``, the CLI with ``--sample all``.
    """
    lake = _fresh_lake(clean_lakes, realdata.OCT, tmp_path)
    results = feature_location.run_features(lake, OCT_RUN, realdata.SYMBOLS, instance)
    assert not failed_checks(results, instance)

    store = ParquetLake(lake)
    part = DaySymbol(date(2025, 10, 7), "ETH-USDT")
    frame, kv = read_partition(store, part)
    row, future = 137, 137 + 12
    t, original, leaked = frame["t"][row], frame["ret_1h"][row], frame["ret_1h"][future]
    assert original != leaked
    corrupted = frame.with_columns(ret_1h=pl.when(pl.int_range(pl.len()) == row).then(pl.lit(leaked)).otherwise(pl.col("ret_1h")))
    write_partition(store, part, corrupted, recorded_inputs(kv), recorded_hashes(kv))

    # the pure check functions
    reports = {r.partition: r for r in audit_lake(store, [part], sample="all")}
    found = [v for v in reports[part].violations if v.check == "prefix_invariance"]
    assert [(v.t, v.feature) for v in found] == [(t, "ret_1h")]
    assert float(found[0].stored) == leaked and float(found[0].expected) == original

    # the blocking Dagster checks, run alone over the stored partitions
    evaluations = feature_location.run_checks(lake, part, instance, {"prefix_samples": "all"})
    assert not evaluations["feature_matrix_prefix_invariance"].passed
    assert all(evaluations[f"feature_matrix_{c}"].passed for c in CHECKS if c != "prefix_invariance")
    assert "ret_1h" in evaluations["feature_matrix_prefix_invariance"].description

    # the audit command
    code, output = audit_cli(lake, (part.day, part.day), "--symbols", part.symbol, "--sample", "all")
    assert code == 1
    assert f"feature=ret_1h stored={leaked!r} expected={original!r}" in output
    assert t.isoformat() in output
