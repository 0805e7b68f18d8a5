"""gate_verdict: the verdict on the model serving day D for symbol S, per series (model family
x horizon, and the symbol's ``portfolio``), over the oos_eval days of a trailing window whose
every label was known at D 00:00; a pass of the family serving trades sets ``challenger``.

Thin glue: read the window's oos_eval rows and the model record of (D, S), ask the Dagster
instance whether every upstream partition the verdict rests on passed its blocking checks
(``upstream_checks``), count the configurations fitted for S in the window (MLflow runs),
judge (``quant_assets.evaluation.gate_window``), and stage one row per series. Write, audit,
publish: gate_verdict's own blocking checks (``gate_checks``) re-derive every evidence day
from the labels and reproduce the verdict from its stored inputs; only then are the aliases
moved, for the partitions published: ``challenger`` on the version of each horizon where the
served family (``QUANT_ASSETS_SERVING_FAMILY``) passed (ablations and other families are
reported, never candidates), and the portfolio verdict tagged on every horizon's version (a
person's ``model promote`` reads it). ``champion`` is never touched here.
"""

import json

import polars as pl
from dagster import AssetDep, AssetExecutionContext, BackfillPolicy, IdentityPartitionMapping, MaterializeResult, MetadataValue, asset

from quant_assets import catalog, settings
from quant_assets.assets.checks import staged_writes
from quant_assets.assets.evaluation import EVALUATION_GROUP
from quant_assets.assets.metadata import code_version, partition_metadata
from quant_assets.assets.upstream_checks import UpstreamChecks
from quant_assets.automation.conditions import gate_condition
from quant_assets.catalog import BOTH, EVIDENCE, SERVED
from quant_assets.evaluation import gate_book, gate_window
from quant_assets.evaluation import portfolio as book_settings
from quant_assets.evaluation.gate import Thresholds
from quant_assets.evaluation.gate_window import GATE_ASSET, PORTFOLIO
from quant_assets.evaluation.oos import OOS_ASSET
from quant_assets.features.contract import FEATURES_ASSET, FLAGS_BY_SOURCE
from quant_assets.models.lgbm import MAIN as CV_FAMILY  # the family the fit's purged k-fold is computed for
from quant_assets.models.record import MODELS_ASSET
from quant_assets.partitions import DaySymbol, daily_symbol_partitions, day_window_mapping, parse_keys
from quant_assets.registry.aliases import mark_challenger, mark_portfolio
from quant_assets.resources.lake import LakeResource
from quant_assets.resources.models import MlflowTracking
from quant_assets.social.text import SOCIAL_TEXT_ASSET
from quant_assets.text.embeddings import TEXT_EMBEDDINGS_ASSET
from quant_assets.text.latents import TEXT_LATENTS_ASSET

# Which partitions of each asset a verdict rests on: the evidence days (the completed days of
# the window), the served day D, or both. The model of day D is the one the verdict is on; the
# models that produced the evidence are vouched for by oos_eval's own blocking checks
# (oos_embargo re-derives each evaluating fit's embargo), read on every evidence day.
# The modes, and each asset's, are declared in the catalog (``LakeAsset.leakage_checked``).
LEAKAGE_ASSETS: dict[str, str] = catalog.leakage_checked()
# Text is collected only from the day the scrape began (the sample's starts in October): a day
# without a social_text partition was never read by anyone, and feature_matrix, whose own
# checks vouch for it, flags its text features missing. So an absent text partition is not a
# leak; a text partition that exists must have passed its checks like any other.
MAY_BE_ABSENT = frozenset({SOCIAL_TEXT_ASSET, TEXT_EMBEDDINGS_ASSET, TEXT_LATENTS_ASSET})
FIGURES = (
    "completed_days",
    "trades",
    "coverage",
    "daily_sharpe",
    "sharpe_ci_low",
    "sharpe_ci_high",
    "ci_block_days",
    "windows_beaten",
    "dsr_probability",
    "n_trials",
    "pbo",
    "max_drawdown",
    "turnover",
)


def gate_thresholds() -> Thresholds:
    """The gate thresholds (``QUANT_ASSETS_GATE_*``); a bad one is one settings line."""
    try:
        return Thresholds.from_env()
    except ValueError as err:
        raise settings.SettingsError(str(err)) from None


# Consecutive days' trailing windows share all but one day, and the days a fit serves share its
# run: a gate step reads each partition and each fit's folds once (``cache``, one per step),
# not once per window that holds them.


def _read_once(cache: dict | None, key, read):
    if cache is None:
        return read()
    if key not in cache:
        cache[key] = read()
    return cache[key]


ROW_COLUMNS = ("t", "family", "horizon", "label", "trade_size", "evaluable", "pnl")  # what a book needs of oos_eval
FLAG_COLUMNS = tuple(flag for source_flags in FLAGS_BY_SOURCE.values() for flag in source_flags)


class WindowBooks:
    """The trailing windows of ``parts``, and per symbol one book (``gate_book``) of every day
    those windows hold: each oos_eval partition and its feature flags read once per step, in one
    multi-file read per symbol, and grouped once, however many windows hold them."""

    def __init__(self, store, parts, window: int):
        self.store = store
        self.days = {p: gate_window.window_days(p.day, window, settings.start_date()) for p in parts}
        self._wanted: dict[str, set] = {}
        for p, days in self.days.items():
            self._wanted.setdefault(p.symbol, set()).update(days)
        self._held: dict[str, set] = {}
        self._books: dict[str, gate_book.Book] = {}

    def stored(self, part: DaySymbol) -> list:
        """The days of ``part``'s window that oos_eval holds."""
        held = self._held_days(part.symbol)
        return [d for d in self.days[part] if d in held]

    def _held_days(self, symbol: str) -> set:
        if symbol not in self._held:
            self._held[symbol] = {d for d in self._wanted[symbol] if self.store.exists(OOS_ASSET, DaySymbol(d, symbol))}
        return self._held[symbol]

    def book(self, symbol: str) -> gate_book.Book:
        if symbol not in self._books:
            parts = [DaySymbol(d, symbol) for d in sorted(self._held_days(symbol))]
            flagged = [p for p in parts if self.store.exists(FEATURES_ASSET, p)]
            self._books[symbol] = gate_book.book_of(
                self.store.read_many(OOS_ASSET, parts, with_partition_day=True, columns=ROW_COLUMNS) if parts else gate_book.EMPTY_ROWS,
                self.store.read_many(FEATURES_ASSET, flagged, with_partition_day=True, columns=FLAG_COLUMNS) if flagged else None,
            )  # fmt: skip
        return self._books[symbol]

    def evidence_days(self, part: DaySymbol) -> list:
        """The days of ``part``'s window complete at its day 00:00."""
        return gate_window.complete(self.book(part.symbol), self.stored(part), part.day)

    def release(self, symbol: str) -> None:
        """Forget a symbol's book (a long range's symbols one after another, not all at once)."""
        self._books.pop(symbol, None)


def by_symbol(parts) -> dict[str, list[DaySymbol]]:
    """``parts`` by symbol, in order: a step judges one symbol's windows, then forgets its book."""
    out: dict[str, list[DaySymbol]] = {}
    for part in parts:
        out.setdefault(part.symbol, []).append(part)
    return out


def cv_sharpes_of(tracking, record: dict, cache: dict | None = None) -> dict[tuple[str, str], float]:
    """The fit's purged k-fold daily Sharpe per horizon (mean over the folds that have one),
    for the family it was computed for; none for a fit that stored no folds."""
    return _read_once(cache, record["mlflow_run_id"], lambda: _cv_sharpes(tracking, record["mlflow_run_id"]))


def _cv_sharpes(tracking, run_id: str) -> dict[tuple[str, str], float]:
    try:
        folds = tracking.purged_kfold(run_id)
    except ValueError:
        return {}
    means = folds.drop_nulls("daily_sharpe").group_by("horizon").agg(pl.col("daily_sharpe").mean())
    return {(CV_FAMILY, h): float(v) for h, v in means.iter_rows()}


def _wanted(leakage_assets: dict[str, str], evidence: dict[DaySymbol, list]) -> dict[str, list[DaySymbol]]:
    """Per upstream asset, every partition the verdicts of ``evidence``'s partitions (each with its evidence days) rest on."""
    days = {p: {DaySymbol(d, p.symbol) for d in ev} for p, ev in evidence.items()}
    which = {EVIDENCE: set().union(*days.values()), SERVED: set(evidence), BOTH: set().union(*days.values(), evidence)}
    return {asset: sorted(which[w]) for asset, w in leakage_assets.items()}


def _failing(checks: UpstreamChecks, leakage_assets: dict[str, str], part: DaySymbol, evidence_days) -> list[str]:
    """The upstream partitions the verdict of ``part`` (on ``evidence_days``) rests on whose blocking checks did not pass."""
    evidence = [DaySymbol(d, part.symbol) for d in sorted(evidence_days)]
    days = {EVIDENCE: evidence, SERVED: [part], BOTH: sorted({*evidence, part})}
    return [line for asset, which in leakage_assets.items() for line in checks.failing([asset], days[which], absent_ok=asset in MAY_BE_ABSENT)]


def served_family() -> str:
    """The family whose prediction serving trades (``QUANT_ASSETS_SERVING_FAMILY``, read where
    serving reads it: ``evaluation.portfolio``; serving sits above the assets, never below)."""
    try:
        return book_settings.served_family()
    except ValueError as err:
        raise settings.SettingsError(str(err)) from None


def configurations_of(tracking, part: DaySymbol, days, cache: dict | None = None) -> int:
    """Distinct configurations fitted for the symbol with an anchor in the window (MLflow runs;
    at least the one serving ``part``)."""
    runs = _read_once(cache, ("runs", part.symbol), lambda: tracking.symbol_runs(part.symbol))
    return max(1, len(tracking.configurations(part.symbol, days[0], days[-1], runs)))


def model_record(store, part: DaySymbol) -> dict | None:
    """The model record of ``part`` (None for a model day quarantined by its checks)."""
    return store.read(MODELS_ASSET, part).row(0, named=True) if store.exists(MODELS_ASSET, part) else None


def judge(books: WindowBooks, tracking, part: DaySymbol, record: dict | None, thresholds: Thresholds, failing, configurations: int,
          caches: dict | None = None) -> pl.DataFrame:  # fmt: skip
    """The verdict rows of ``part`` (``gate_window.judge``) from what the lake (``books``) and
    MLflow hold and the leakage and configuration counts given: what the asset stages, and what
    its reproduction check computes again, from its own reads, with the counts the rows recorded."""
    caches = {} if caches is None else caches
    days = books.days[part]
    return gate_window.judge(
        books.book(part.symbol), books.stored(part), (days[0], days[-1]), failing, thresholds,
        cv_sharpes=cv_sharpes_of(tracking, record, caches.setdefault("cv", {})) if record else None,
        configurations=configurations,
    )  # fmt: skip


def move_aliases(tracking, part: DaySymbol, record: dict, judged: pl.DataFrame, family: str) -> list[str]:
    """After publication: ``challenger`` on the version of each horizon where ``family`` (the
    served one) passed, and the portfolio verdict on every horizon's version. What was done."""
    versions = json.loads(record["versions"])
    done = []
    for horizon, reasons in judged.filter(pl.col("passed") & (pl.col("family") == family)).select("horizon", "reasons").iter_rows():
        if horizon not in versions:
            continue
        moved = mark_challenger(tracking.client, part.symbol, horizon, versions[horizon], part.day, [family], f"{family}: {reasons}")
        done.append(f"challenger {horizon} v{versions[horizon]} ({family}{'' if moved else '; kept on a newer day’s pass'})")
    portfolio = judged.filter(pl.col("family") == PORTFOLIO)
    if portfolio.height:
        passed, reasons = portfolio.row(0, named=True)["passed"], portfolio.row(0, named=True)["reasons"]
        tagged = mark_portfolio(tracking.client, part.symbol, versions, part.day, passed, reasons)
        done.append(f"portfolio {'PASS' if passed else 'FAIL'} on {len(tagged)} versions")
    return done


def _portfolio_line(verdicts: pl.DataFrame) -> str:
    rows = verdicts.filter(pl.col("family") == PORTFOLIO)
    if rows.is_empty():
        return "no portfolio series in the window"
    r = rows.row(0, named=True)
    return (
        f"{'PASS' if r['passed'] else 'FAIL'}: daily Sharpe {r['daily_sharpe']:.2f} "
        f"(90% {r['sharpe_ci_low']:.2f}..{r['sharpe_ci_high']:.2f}), {r['completed_days']} days"
    )


def _reasons_md(verdicts: pl.DataFrame, family: str) -> str:
    """The reasons of the series a person promotes on (the served family's and the portfolio's),
    and a count of the others (ablations, other families: their reasons are in the partition).
    Dagster stores the metadata with every materialization event: all 21 series' reasons were most of it."""
    shown = verdicts.filter(pl.col("family").is_in([family, PORTFOLIO]))
    lines = [f"**{f}/{h}**\n\n" + r.replace("\n", "  \n") for f, h, r in shown.select("family", "horizon", "reasons").iter_rows()]
    others = verdicts.height - shown.height
    if others:
        lines.append(f"_{others} other series (ablations, other families): their reasons are in the partition's rows_")
    return "\n\n".join(lines) or "_no model series in the window_"


def _trials_line(verdicts: pl.DataFrame) -> str:
    if verdicts.is_empty():
        return "none judged"
    r = verdicts.row(0, named=True)
    return f"{r['n_trials']} = {r['trials_counted']} (the deflated Sharpe's trial count, the same for every series of the partition)"


def build_gate_asset(thresholds: Thresholds, leakage_assets: dict[str, str] | None = None):
    """The asset for a window length (the partition mapping needs it at definition time).
    ``leakage_assets``: upstream asset -> which days (``EVIDENCE``, ``SERVED``, ``BOTH``) must have
    passed their blocking checks in the Dagster instance (default ``LEAKAGE_ASSETS``; a code
    location that does not materialize some of them through Dagster names fewer)."""
    window = thresholds.window_days
    leakage_assets = LEAKAGE_ASSETS if leakage_assets is None else leakage_assets

    @asset(
        name=GATE_ASSET,
        group_name=EVALUATION_GROUP,
        kinds={"polars", "parquet", "mlflow"},
        partitions_def=daily_symbol_partitions(),
        backfill_policy=BackfillPolicy.single_run(),
        deps=[
            AssetDep(OOS_ASSET, partition_mapping=day_window_mapping(-(window - 1), 0)),
            # read for each source's coverage over the window (the missing flags only)
            AssetDep(FEATURES_ASSET, partition_mapping=day_window_mapping(-(window - 1), 0)),
            AssetDep(MODELS_ASSET, partition_mapping=IdentityPartitionMapping()),
        ],
        automation_condition=gate_condition(),
        code_version=code_version("quant_assets/assets/gate.py", "quant_assets/evaluation"),
        description=(
            f"The gate's verdict on the model serving day D for symbol S, per series (model family x horizon, ablations and "
            f"the symbol's portfolio included), over the oos_eval days among D-{window - 1}..D whose every label was known at "
            "D 00:00 (the same row whenever it is computed): evidence (enough days and trades), leakage (every upstream "
            "partition's blocking checks passed, read from the Dagster instance), data quality (coverage of the "
            "evaluations and of each source's feature rows), performance "
            "(beats every baseline in enough walk-forward sub-windows, daily-Sharpe floor, with its 90% block-bootstrap "
            "interval), deflated Sharpe over every trial (series x configurations trained in the window + re-judgings) and "
            "PBO, stability (drawdown, turnover). One row per series with the reasons and figures. Published only after its "
            "own blocking checks; then a pass of the served family (QUANT_ASSETS_SERVING_FAMILY) sets the MLflow alias "
            "`challenger` on that horizon's model version and the portfolio verdict is tagged for `model promote`; never `champion`."
        ),
        metadata={"window_days": window, "thresholds": MetadataValue.json(vars(thresholds)), "leakage_assets": MetadataValue.json(leakage_assets)},
    )
    def gate_verdict(context: AssetExecutionContext, lake: LakeResource, mlflow_tracking: MlflowTracking) -> MaterializeResult:
        parts = parse_keys(context.partition_keys)
        store = lake.lake()
        # A model day that failed its checks is quarantined: it is judged, and its verdict is the
        # leakage gate's FAIL naming those checks (read from the instance); one never
        # materialized cannot be judged at all.
        missing = [str(p) for p in parts if not store.exists(MODELS_ASSET, p) and not store.quarantine_report(MODELS_ASSET, p)]
        if missing:
            raise ValueError(f"{GATE_ASSET}: {MODELS_ASSET} partitions not materialized: {', '.join(missing[:10])}; materialize them first")
        tracking = mlflow_tracking.tracking()
        checks = UpstreamChecks(context.instance)
        family = served_family()
        caches: dict = {}  # one read of each fit's folds and each symbol's runs per step (see _read_once)
        books = WindowBooks(store, parts, window)
        records = {p: model_record(store, p) for p in parts}
        evidence = {p: books.evidence_days(p) for p in parts}
        for upstream, wanted in _wanted(leakage_assets, evidence).items():
            checks.read_writers(upstream, wanted)  # one paged query per asset for every window of the run
        judged = []
        for symbol, held in by_symbol(parts).items():  # judge every partition before writing any
            for part in held:
                failing = _failing(checks, leakage_assets, part, evidence[part])
                configurations = configurations_of(tracking, part, books.days[part], caches)
                judged.append((part, judge(books, tracking, part, records[part], thresholds, failing, configurations, caches)))
            books.release(symbol)
        # Staged, not published: gate_verdict_checks publishes the partitions that pass, then moves the aliases.
        with staged_writes(context, lake, GATE_ASSET) as staged:
            for part, verdicts in judged:
                write = staged.write(GATE_ASSET, part, verdicts)
                served = verdicts.filter(pl.col("family") == family)
                record = records[part]
                context.add_asset_metadata(
                    partition_metadata(write, verdicts, {
                        "passed": ", ".join(f"{f}/{h}" for f, h in verdicts.filter("passed").select("family", "horizon").iter_rows()) or "none",
                        "served_family": family,
                        "served_passed": ", ".join(served.filter("passed")["horizon"].to_list()) or "none",
                        "portfolio": _portfolio_line(verdicts),
                        "n_trials": _trials_line(verdicts),
                        "sharpe_interval": "90% stationary block bootstrap over the evidence days (seeded), "
                                           "mean block = max(horizon in days, cube root of the days); ci_block_days per row",
                        "evidence_days": f"{verdicts['completed_days'].max() or 0} days complete by {part.day} 00:00 (labels' label_available_at)",
                        "model_uri": record["model_uri"] if record else store.quarantine_note(MODELS_ASSET, part),
                        "reasons": MetadataValue.md(_reasons_md(verdicts, family)),
                    }, time_column="window_end"),
                    partition_key=part.dagster_key,
                )  # fmt: skip
        served_passes = sum(bool(v.filter(pl.col("passed") & (pl.col("family") == family)).height) for _, v in judged)
        return MaterializeResult(metadata={"run_partitions": len(parts), "run_partitions_where_the_served_family_passed": served_passes})

    return gate_verdict
