"""``quant-assets evaluate``: a registered version over any range of the lake.

One version per symbol and horizon (``--alias``, champion by default, or ``--version N``)
is held fixed for the whole range, loaded natively from MLflow, and scored with oos_eval's
own code (``quant_assets.evaluation.range_eval``): one continuous book over the range, the
``mean`` family and the symbol's ``portfolio`` series (the book serving would hold, under
the serving settings) included. A range that starts before the version's first unseen day
(fit end + embargo) is refused; days whose labels are not all known yet are left out of that
horizon and reported. Any refusal is one line, exit 1.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

import click
import polars as pl

from quant_assets import settings
from quant_assets.cli.audit import _symbols
from quant_assets.evaluation import oos, portfolio
from quant_assets.evaluation.bootstrap import sharpe_interval
from quant_assets.evaluation.daily_basis import zero_filled
from quant_assets.evaluation.gate import Thresholds
from quant_assets.evaluation.gate_window import horizon_days
from quant_assets.evaluation.range_eval import Day, evaluate_range, first_unseen_day, walk_forward
from quant_assets.evaluation.strategy import BASELINES
from quant_assets.features.contract import FEATURES_ASSET
from quant_assets.labels.costs import cost_from_env
from quant_assets.labels.forward import LABELS_ASSET
from quant_assets.labels.horizons import HORIZON_NAMES, parse_horizons
from quant_assets.lake.store import ParquetLake
from quant_assets.partitions import DaySymbol, days_between
from quant_assets.registry.names import CHALLENGER, CHAMPION, registered_name
from quant_assets.timegrid import utc_now

SHOWN = (("rank_ic", "IC", "{:.4f}"), ("hit_rate", "hit", "{:.3f}"), ("daily_sharpe", "Sharpe", "{:.2f}"),
         ("pnl", "PnL", "{:.5f}"), ("trades", "trades", "{:d}"), ("max_drawdown", "max DD", "{:.2%}"),
         ("final_position", "final pos", "{:.3f}"), ("exit_cost", "exit cost", "{:.5f}"))  # fmt: skip
RULE = (
    "one version per symbol and horizon for the whole range; only days starting at or after its fit end + embargo; "
    "one continuous book over the range, as in oos_eval: positions carry over midnight, opening flat on the range's "
    "first day and after a day missing from the lake; a trade is a change of position; the final position is "
    "marked and its exit cost stated, not charged; a (day, horizon) whose labels are not all known is left out"
)


def _fail(message: str) -> click.ClickException:
    return click.ClickException(f"evaluate: {message}")


def _versions(tracking, symbols: list[str], horizons: tuple[str, ...], alias: str | None, version: int | None) -> dict:
    """(symbol, horizon) -> (registered name, ModelVersion); a missing one is one line."""
    from quant_assets.registry.tracking import NoSuchVersion

    out = {}
    for symbol in symbols:
        for h in horizons:
            name = registered_name(symbol, h)
            try:
                out[symbol, h] = (name, tracking.registered_version(name, alias=alias, version=version))
            except NoSuchVersion as err:
                raise _fail(str(err)) from None
    return out


def _days(store: ParquetLake, symbol: str, first: date, last: date) -> tuple[list[date], list[date]]:
    """Days of the range with both a feature_matrix and a labels partition, and the others."""
    have, missing = [], []
    for day in days_between(first, last):
        part = DaySymbol(day, symbol)
        (have if store.exists(FEATURES_ASSET, part) and store.exists(LABELS_ASSET, part) else missing).append(day)
    return have, missing


def _spans(days: list[str]) -> list[str]:
    """Consecutive days (YYYY-MM-DD) folded: ['2025-11-06..2025-11-09', '2025-11-12']."""
    spans: list[list[date]] = []
    for day in sorted(map(date.fromisoformat, days)):
        if spans and day - spans[-1][1] == timedelta(days=1):
            spans[-1][1] = day
        else:
            spans.append([day, day])
    return [str(a) if a == b else f"{a}..{b}" for a, b in spans]


@click.command(
    help="Evaluate a registered version of each symbol and horizon (the champion by default) over any range of the lake "
    "with features and labels, with oos_eval's reference strategy and metrics, including days after it was trained. "
    "Refuses a range that starts inside the version's fit window + embargo. Exit 1 on any refusal."
)
@click.option("--start", "start", required=True, type=click.DateTime(["%Y-%m-%d"]), help="first day, YYYY-MM-DD")
@click.option("--end", "end", required=True, type=click.DateTime(["%Y-%m-%d"]), help="last day (inclusive)")
@click.option(
    "--symbols", multiple=True,
    help="symbols (BTC-USDT or BTC/USDT), repeated or comma-separated; default: every symbol with features in the range",
)  # fmt: skip
@click.option("--horizons", default=",".join(HORIZON_NAMES), show_default=True, help="comma-separated horizons")
@click.option("--alias", type=click.Choice([CHAMPION, CHALLENGER]), default=None, help=f"the version an alias points at (default {CHAMPION})")
@click.option("--version", "version", type=click.IntRange(min=1), default=None, help="this version number of every name instead of an alias")
@click.option("--json", "as_json", is_flag=True, help="print one JSON document instead of tables")
def evaluate(start, end, symbols, horizons, alias, version, as_json) -> None:
    from quant_assets.registry.store import MlflowStore
    from quant_assets.registry.tracking import Tracking

    first, last = start.date(), end.date()
    if last < first:
        raise click.BadParameter(f"{last} is before --start {first}", param_hint="--end")
    if alias and version:
        raise click.UsageError("--alias and --version exclude each other")
    alias = None if version else alias or CHAMPION
    try:
        wanted_horizons = parse_horizons(horizons)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--horizons") from None
    store = ParquetLake(settings.home().lake)
    wanted = _symbols(symbols) or sorted({p.symbol for p in store.partitions(FEATURES_ASSET) if first <= p.day <= last})
    if not wanted:
        raise _fail(f"the lake at {store.root} holds no {FEATURES_ASSET} partitions in {first}..{last}")
    days = {}
    for symbol in wanted:
        days[symbol] = _days(store, symbol, first, last)
        if not days[symbol][0]:
            raise _fail(f"the lake at {store.root} holds no day of {symbol} in {first}..{last} with both {FEATURES_ASSET} and {LABELS_ASSET}")

    tracking = Tracking(MlflowStore.from_env())
    versions = _versions(tracking, wanted, wanted_horizons, alias, version)
    cache = Path(settings.home().cache) / "models"
    models, uris = {}, {}
    for key, (name, mv) in versions.items():
        uris[key] = uri = tracking.version_model_uri(mv)
        if uri not in models:
            models[uri] = tracking.load_fitted(uri, cache)
        window = models[uri].window
        unseen = first_unseen_day(window.end, window.embargo)
        if first < unseen:
            raise _fail(
                f"{name} version {mv.version} was fitted on rows up to {window.end:%Y-%m-%d %H:%M} UTC; with its embargo "
                f"({window.embargo}) its first unseen day is {unseen}, and --start {first} is earlier (scored on its own "
                f"training data a model looks better than it is); start on {unseen} or later"
            )

    cost = cost_from_env()
    rules = portfolio.Rules.from_env()
    as_of = utc_now()
    try:
        windows = Thresholds.from_env().walk_forward_windows
    except ValueError as err:
        raise _fail(str(err)) from None
    entries = []
    for symbol in wanted:
        have, missing = days[symbol]
        by_model = defaultdict(list)
        for h in wanted_horizons:
            by_model[uris[symbol, h]].append(h)
        # the portfolio combines every weighted horizon: it is one version's only when that version serves them all
        served_by = {uris.get((symbol, h)) for h in rules.horizons}
        mixed = len(served_by) != 1 or None in served_by
        for uri, served in by_model.items():
            model = models[uri]
            inputs = (Day(d, store.read(FEATURES_ASSET, DaySymbol(d, symbol)), store.read(LABELS_ASSET, DaySymbol(d, symbol))) for d in have)
            result = evaluate_range(inputs, model.predict, oos.Fit(uri, model.window.end), served, cost=cost.fraction, as_of=as_of, rules=rules)
            if mixed:
                result.rows = result.rows.filter(pl.col("family") != portfolio.PORTFOLIO)
            for h in served:
                entries.append(_entry(symbol, h, versions[symbol, h], uri, model.window, result, missing, windows))
    entries.sort(key=lambda e: (e["symbol"], HORIZON_NAMES.index(e["horizon"])))
    document = {
        "start": str(first),
        "end": str(last),
        "selector": {"alias": alias} if alias else {"version": version},
        "round_trip_cost_bps": cost.bps,
        "as_of": as_of.isoformat(),
        "walk_forward_windows": windows,
        "rule": RULE,
        "portfolio_rules": rules.metadata(),
        "entries": entries,
    }
    if as_json:
        click.echo(json.dumps(document, indent=1))
    else:
        _print(document)


def _entry(symbol, h, named, uri, window, result, missing, windows) -> dict:
    name, mv = named
    rows = result.rows.filter(pl.col("horizon") == h)
    figures = oos.summary(rows)
    model_families = sorted(rows.filter(pl.col("model_uri").is_not_null())["family"].unique().to_list())
    families = {f: {**figures[f"{f}/{h}"], **_interval(rows, f, h)} for f in (*model_families, *BASELINES) if f"{f}/{h}" in figures}
    return {
        "symbol": symbol,
        "horizon": h,
        "model": name,
        "version": int(mv.version),
        "aliases": sorted(mv.aliases),
        "model_uri": uri,
        "run_id": mv.run_id,
        "fit_end": window.end.isoformat(),
        "embargo": str(window.embargo),
        "first_unseen_day": str(first_unseen_day(window.end, window.embargo)),
        "days_evaluated": [str(d) for d in result.days[h]],
        "pending_days": [str(d) for d in result.pending[h]],
        "missing_days": [str(d) for d in missing],
        "flat_starts": [str(d) for d in result.flat_starts],
        "families": families,
        "walk_forward": {f: walk_forward(rows, f, h, windows) for f in model_families},
    }


def _interval(rows: pl.DataFrame, family: str, h: str) -> dict:
    """The daily Sharpe's 90% block-bootstrap interval of one series, on the gate's basis
    (zero-filled days, blocks of at least the holding horizon): what its verdict would report."""
    ci = sharpe_interval(zero_filled(rows.filter(pl.col("family") == family)), horizon_days(h, family))
    return oos.json_safe({"sharpe_ci_low": ci.low, "sharpe_ci_high": ci.high, "sharpe_ci_block_days": ci.block_days,
                          "independent_days": ci.independent_days})  # fmt: skip


def _cell(value, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def _print(doc: dict) -> None:
    selector = f"alias {doc['selector']['alias']}" if "alias" in doc["selector"] else f"version {doc['selector']['version']}"
    click.echo(f"evaluate {doc['start']}..{doc['end']}: {selector}, round trip {doc['round_trip_cost_bps']:g} bps; {doc['rule']}")
    for e in doc["entries"]:
        click.echo(
            f"\n{e['symbol']} {e['horizon']}: {e['model']} v{e['version']} (fit end {e['fit_end']}, first unseen day "
            f"{e['first_unseen_day']}), {len(e['days_evaluated'])} days evaluated"
        )
        click.echo("  " + f"{'series':<14}" + "".join(f"{label:>10}" for _, label, _ in SHOWN))
        for family, figures in e["families"].items():
            click.echo("  " + f"{family:<14}" + "".join(f"{_cell(figures.get(k), fmt):>10}" for k, _, fmt in SHOWN))
        for family, wf in e["walk_forward"].items():
            if wf["windows"]:
                click.echo(
                    f"  walk-forward {family}: Sharpe {_cell(wf['estimate'], '{:.2f}')} in [{_cell(wf['low'], '{:.2f}')}, "
                    f"{_cell(wf['high'], '{:.2f}')}] over {wf['windows']} sub-windows of {wf['days']} decision days; "
                    f"beats every baseline in {wf['windows_beaten']}"
                )
            else:
                click.echo(f"  walk-forward {family}: too few decision days ({wf['days']}) for sub-windows")
        if e["pending_days"]:
            click.echo(f"  left out, labels not known yet: {', '.join(_spans(e['pending_days']))}")
        if e["missing_days"]:
            click.echo(f"  left out, no features or labels in the lake: {', '.join(_spans(e['missing_days']))}")
