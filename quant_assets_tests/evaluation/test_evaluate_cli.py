"""``quant-assets evaluate`` on a lake seeded from the sample bundle with one real fit
registered in MLflow (anchor Monday 2025-11-03, version 1 of every horizon, the champion):
its figures are oos_eval's, the version stays fixed past the days it served, a range inside
its fit window + embargo is refused, and so is an alias or version that is not there."""

import json
from datetime import date, timedelta

import polars as pl
import pytest
from click.testing import CliRunner

from quant_assets.cli import main
from quant_assets.evaluation import oos
from quant_assets.evaluation.oos import OOS_ASSET
from quant_assets.evaluation.oos_verify import _differences
from quant_assets.labels.forward import LABELS_ASSET, missing_column
from quant_assets.labels.horizons import HORIZON_NAMES, HORIZONS
from quant_assets.lake.store import ParquetLake
from quant_assets.models.record import MODELS_ASSET
from quant_assets.partitions import DaySymbol, days_between
from quant_assets.registry.names import CHAMPION, registered_name
from quant_assets.registry.store import MlflowStore
from quant_assets.registry.tracking import Tracking
from quant_assets_tests import fitted_models

FIRST, LAST = date(2025, 10, 1), date(2025, 11, 12)
# One fit, anchored Monday 11-03, serves 11-03..11-09 (its fit ends 11-03 00:00 - 7d 5m);
# the lake's bars end 11-12, so the newest days' 7d labels are not known.
SERVED = (date(2025, 11, 3), date(2025, 11, 9))
LABEL_DAYS = (date(2025, 10, 12), date(2025, 11, 11))
SYMBOL = fitted_models.SYMBOL


@pytest.fixture(scope="module")
def home(tmp_path_factory, seed_cache):
    """Labels, one fit (registered: version 1 of each horizon, the champion) and oos_eval of SERVED."""
    home = fitted_models.fitted_home(tmp_path_factory.mktemp("evaluate") / "home", seed_cache, (FIRST, LAST), LABEL_DAYS, SERVED,
                                assets=(MODELS_ASSET, OOS_ASSET))  # fmt: skip
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("QUANT_ASSETS_HOME", str(home))
        client = Tracking(MlflowStore.from_env()).client
        for h in HORIZON_NAMES:
            client.set_registered_model_alias(registered_name(SYMBOL, h), CHAMPION, "1")
    return home


@pytest.fixture
def cli(home, monkeypatch):
    monkeypatch.setenv("QUANT_ASSETS_HOME", str(home))

    def invoke(*args):
        return CliRunner().invoke(main, ["evaluate", *args])

    return invoke


INTERVAL_KEYS = ("sharpe_ci_low", "sharpe_ci_high", "sharpe_ci_block_days", "independent_days")


def _json(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _refusal(result) -> str:
    """The one ``Error:`` line of a refusal (exit 1, no traceback)."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_the_figures_over_the_days_it_served_are_those_of_oos_evals_stored_rows(cli, home):
    doc = _json(cli("--start", str(SERVED[0]), "--end", str(SERVED[1]), "--json"))
    store = ParquetLake(str(home / "lake"))
    parts = [DaySymbol(d, SYMBOL) for d in days_between(*SERVED)]
    stored = pl.concat([store.read(OOS_ASSET, p).with_columns(day=pl.lit(p.day)) for p in parts])
    record = store.read(MODELS_ASSET, parts[0]).row(0, named=True)
    labels = {p.day: store.read(LABELS_ASSET, p) for p in parts}
    entries = {e["horizon"]: e for e in doc["entries"]}
    assert sorted(entries) == sorted(HORIZON_NAMES) and {e["symbol"] for e in doc["entries"]} == {SYMBOL}
    for h, entry in entries.items():
        assert entry["version"] == 1 and CHAMPION in entry["aliases"] and entry["model_uri"] == record["model_uri"]
        assert entry["first_unseen_day"] == str(SERVED[0])
        # a (day, horizon) whose labels the labels asset does not hold yet is left out, and said
        pending = [d for d, lab in labels.items() if lab[missing_column(h)].any()]
        assert entry["pending_days"] == [str(d) for d in pending]
        assert entry["days_evaluated"] == [str(d) for d in days_between(*SERVED) if d not in pending]
        # the pooled family is no part of a symbol's registered version: evaluate scores that version's own families
        kept = stored.filter((pl.col("horizon") == h) & ~pl.col("day").is_in(pending) & (pl.col("family") != "lgbm_pooled"))
        expected = {k.split("/")[0]: v for k, v in json.loads(json.dumps(oos.summary(kept))).items()}
        # the same comparison oos_summary_reproduces makes (calibration's bucket means are
        # polars group-by sums, equal to the last bits only up to summation order) ...
        shown = {f: {k: v for k, v in figs.items() if k not in INTERVAL_KEYS} for f, figs in entry["families"].items()}
        assert list(_differences(expected, shown, "")) == []
        # ... and every other figure to the bit
        for family, figures in expected.items():
            assert {k: v for k, v in shown[family].items() if k != "calibration"} == {k: v for k, v in figures.items() if k != "calibration"}
        # every series carries the daily Sharpe's block-bootstrap interval, blocks of at least its horizon
        for family, figs in entry["families"].items():
            assert figs["sharpe_ci_low"] <= figs["sharpe_ci_high"], (h, family)
            held = 7 if family == "portfolio" else max(1, HORIZONS[h] // timedelta(days=1))
            assert figs["sharpe_ci_block_days"] >= held, (h, family)
    # the lake ends 11-12: the 7d labels of the last days are not known, the 1h ones all are
    assert entries["7d"]["pending_days"] and not entries["1h"]["pending_days"]
    assert entries["1h"]["families"]["lgbm"]["decisions"] == 24 * 7
    assert set(entries["1h"]["families"]) >= {"lgbm", "mhnet", "mean", "portfolio", "flat", "buy_and_hold", "momentum"}
    # one book over the range, as oos_eval's: buy-and-hold enters once in seven days; the portfolio
    # (served family, every horizon weighted: booked on 1h) is there with its final position and exit cost
    assert entries["1h"]["flat_starts"] == [str(SERVED[0])]
    assert all(entries[h]["families"]["buy_and_hold"]["trades"] == 1 for h in HORIZON_NAMES)
    book = entries["1h"]["families"]["portfolio"]
    assert book["exit_cost"] == pytest.approx(abs(book["final_position"]) * doc["round_trip_cost_bps"] / 1e4 / 2)
    assert "portfolio" in entries["1h"]["walk_forward"] and doc["portfolio_rules"]["family"] == "lgbm"


def test_the_version_stays_fixed_past_the_days_it_served_and_the_text_report_names_it(cli, home):
    late = (SERVED[0], date(2025, 11, 11))  # 11-10 and 11-11 belong to the next fit in oos_eval
    doc = _json(cli("--start", str(late[0]), "--end", str(late[1]), "--horizons", "1h", "--json"))
    (entry,) = doc["entries"]
    assert entry["days_evaluated"] == [str(d) for d in days_between(*late)]
    assert entry["families"]["lgbm"]["decisions"] == 24 * len(entry["days_evaluated"])
    wf = entry["walk_forward"]["lgbm"]
    assert wf["windows"] == 4 and wf["days"] == 9 and len(wf["sharpes"]) == 4
    assert wf["low"] <= wf["estimate"] <= wf["high"]
    text = cli("--start", str(late[0]), "--end", str(late[1]), "--horizons", "1h,7d")
    assert text.exit_code == 0, text.output
    assert f"{SYMBOL} 1h: {registered_name(SYMBOL, '1h')} v1" in text.stdout
    assert "walk-forward lgbm: Sharpe" in text.stdout and "over 4 sub-windows" in text.stdout
    assert "left out, labels not known yet: 2025-11-" in text.stdout  # the newest 7d days
    lgbm = next(line.split() for line in text.stdout.splitlines() if line.strip().startswith("lgbm"))
    assert float(lgbm[3]) == pytest.approx(entry["families"]["lgbm"]["daily_sharpe"], abs=0.005)


def test_a_range_inside_the_fit_window_plus_embargo_is_refused(cli):
    for selector in ([], ["--version", "1"]):
        line = _refusal(cli("--start", "2025-11-02", "--end", "2025-11-05", *selector))
        assert registered_name(SYMBOL, "1h") in line and "first unseen day is 2025-11-03" in line
        assert "--start 2025-11-02 is earlier" in line


def test_an_alias_or_version_that_is_not_there_is_one_line(cli):
    line = _refusal(cli("--start", "2025-11-03", "--end", "2025-11-05", "--alias", "challenger"))
    assert f"{registered_name(SYMBOL, '1h')} has no alias 'challenger' (aliases set: champion -> 1)" in line
    line = _refusal(cli("--start", "2025-11-03", "--end", "2025-11-05", "--version", "7"))
    assert f"{registered_name(SYMBOL, '1h')} has no version 7 (versions 1..1)" in line


def test_a_range_without_features_or_labels_is_refused(cli):
    line = _refusal(cli("--start", "2025-12-01", "--end", "2025-12-05"))
    assert "holds no feature_matrix partitions in 2025-12-01..2025-12-05" in line
    line = _refusal(cli("--start", "2025-11-03", "--end", "2025-11-05", "--symbols", "ETH-USDT"))
    assert "holds no day of ETH-USDT in 2025-11-03..2025-11-05 with both feature_matrix and labels" in line
