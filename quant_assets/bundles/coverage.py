"""What to run for a bundle whose assets do not cover the same days.

A bundle's assets need not share their partitions: the sample ships bars and derivatives
from June 2025 but Reddit text only from October, when the scrape began. A day without a
social_text partition is text that was never collected, not a day without posts, so
nothing may be computed as if it were empty: an asset is run only where the bundle holds
the bundled assets it reads. Assets further down that read those only through other assets
(the feature matrix reads text through text_latents) run everywhere and report the absent
inputs as missing, which is their documented behaviour.

Pure: asset names and partitions in, ``(assets, partitions)`` steps out, each one launch of
``quant_assets.runs.materialize`` (one run per partition rectangle).
"""

from __future__ import annotations

from typing import Mapping

from quant_assets.bundles.manifest import Manifest
from quant_assets.models.window import MIN_TRAIN_DAYS, fit_window
from quant_assets.partitions import DaySymbol

Step = tuple[list[str], list[DaySymbol]]


def held_partitions(manifest: Manifest) -> dict[str, set[DaySymbol]]:
    """Per asset of the bundle, the partitions it holds."""
    return {asset: set(manifest.partitions(asset)) for asset in manifest.assets}


def import_steps(held: Mapping[str, set[DaySymbol]], todo: set[DaySymbol]) -> list[Step]:
    """The bundle's own assets for the partitions in ``todo``: partitions that hold the same
    assets share a step, so every asset of a step is materialized only where the bundle
    holds it (and Dagster orders assets that read each other within a partition)."""
    groups: dict[tuple[str, ...], list[DaySymbol]] = {}
    for part in sorted(todo):
        assets = tuple(sorted(a for a, parts in held.items() if part in parts))
        groups.setdefault(assets, []).append(part)
    return [(list(assets), parts) for assets, parts in sorted(groups.items(), key=lambda g: (g[1][0], g[0]))]


def downstream_steps(assets: list[str], deps: Mapping[str, set[str]], held: Mapping[str, set[DaySymbol]]) -> list[Step]:
    """``assets`` (not in the bundle) in dependency order, each for the partitions where the
    bundle holds every bundled asset it reads directly (all of the bundle's partitions when
    it reads none). Consecutive assets with the same partitions share a step."""
    every = set().union(*held.values()) if held else set()

    def coverage(asset: str) -> frozenset[DaySymbol]:
        parents = [held[p] for p in deps.get(asset, set()) if p in held]
        return frozenset(set.intersection(*map(set, parents)) if parents else every)

    parts = {a: coverage(a) for a in assets}
    steps: list[tuple[list[str], frozenset[DaySymbol]]] = []
    # Of the assets ready to run: those sharing the last one's partitions first (same step),
    # then the narrower ones (children of data that starts later), then by name.
    rank = lambda a, last: (last is None or parts[a] != parts[last], len(parts[a]), a)  # noqa: E731
    for asset in _dependency_order(assets, deps, rank):
        if not parts[asset]:
            continue
        if steps and steps[-1][1] == parts[asset]:
            steps[-1][0].append(asset)
        else:
            steps.append(([asset], parts[asset]))
    return [(names, sorted(covered)) for names, covered in steps]


def _dependency_order(assets: list[str], deps: Mapping[str, set[str]], rank) -> list[str]:
    """Parents before children (among ``assets``); of the ready ones, the lowest
    ``rank(asset, asset placed last)`` goes next."""
    pending = {a: {d for d in deps.get(a, set()) if d in assets and d != a} for a in assets}
    order: list[str] = []
    while pending:
        ready = [a for a, waiting in pending.items() if not waiting]
        if not ready:
            raise ValueError(f"assets {sorted(pending)} depend on each other in a cycle")
        asset = min(ready, key=lambda a: rank(a, order[-1] if order else None))
        order.append(asset)
        del pending[asset]
        for waiting in pending.values():
            waiting.discard(asset)
    return order


def servable_days(held: set[DaySymbol], last_days: int, train_days: int, refit_days: int) -> list[DaySymbol]:
    """Of the bundle's last ``last_days`` days, the partitions a model can serve: those whose
    fit window holds at least ``MIN_TRAIN_DAYS`` days of the bundle's data for the symbol.
    Earlier days (or a bundle too short for any fit) have nothing to learn from, and a
    model partition with an empty window is a failure, not a model."""
    if not held:
        return []
    last = max(p.day for p in held)
    days_of: dict[str, set] = {}
    for p in held:
        days_of.setdefault(p.symbol, set()).add(p.day)
    return [
        p
        for p in sorted(held)
        if (last - p.day).days < last_days
        and len(days_of[p.symbol] & set(fit_window(p.day, p.symbol, train_days, refit_days).days)) >= MIN_TRAIN_DAYS
    ]
