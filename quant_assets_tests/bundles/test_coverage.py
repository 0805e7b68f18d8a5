"""Bundles whose assets cover different days: each asset runs only where its bundled inputs are."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from quant_assets.bundles.coverage import downstream_steps, import_steps, servable_days
from quant_assets.partitions import DaySymbol

SYMBOL = "BTC-USDT"


def _days(first: date, n: int) -> set[DaySymbol]:
    return {DaySymbol(first + timedelta(days=k), SYMBOL) for k in range(n)}


# The sample's shape: bars and derivatives for four days, text for the last two only.
MARKET = _days(date(2025, 9, 29), 4)
TEXT = _days(date(2025, 10, 1), 2)
HELD = {"market_bars": MARKET, "derivatives": MARKET, "social_text": TEXT}
DEPS = {
    "derivatives": {"market_bars"},
    "text_embeddings": {"social_text"},
    "text_latents": {"social_text", "text_embeddings"},
    "feature_matrix": {"market_bars", "derivatives", "text_latents"},
    "labels": {"market_bars"},
    "model": {"feature_matrix", "labels"},
}


def test_import_runs_each_asset_only_where_the_bundle_holds_it():
    steps = import_steps(HELD, MARKET)
    assert steps == [
        (["derivatives", "market_bars"], sorted(MARKET - TEXT)),
        (["derivatives", "market_bars", "social_text"], sorted(TEXT)),
    ]


def test_import_steps_cover_only_the_partitions_to_do():
    # Re-importing where the lake already holds the text days: only the others run.
    assert import_steps(HELD, MARKET - TEXT) == [(["derivatives", "market_bars"], sorted(MARKET - TEXT))]


def test_text_assets_run_only_on_days_with_text_and_the_rest_everywhere():
    rest = ["feature_matrix", "labels", "model", "text_embeddings", "text_latents"]
    steps = downstream_steps(rest, DEPS, HELD)
    # Text never collected is unknown, not zero posts: nothing text-derived is computed there.
    assert steps[0] == (["text_embeddings", "text_latents"], sorted(TEXT))
    # The feature matrix reads text only through text_latents: it runs on every day (and
    # flags text missing where there is none), after the text assets it reads.
    assert [(names, set(parts)) for names, parts in steps[1:]] == [(["feature_matrix", "labels", "model"], MARKET)]


def test_a_bundle_of_one_coverage_is_one_step_in_dependency_order():
    held = {"market_bars": MARKET, "derivatives": MARKET, "social_text": MARKET}
    steps = downstream_steps(["model", "feature_matrix", "text_latents", "text_embeddings", "labels"], DEPS, held)
    assert len(steps) == 1
    order = steps[0][0]
    for child, parents in DEPS.items():
        for parent in parents & set(order):
            assert order.index(parent) < order.index(child), (parent, child, order)


def test_an_asset_whose_bundled_input_is_absent_runs_nowhere():
    assert downstream_steps(["text_embeddings"], DEPS, {"market_bars": MARKET, "social_text": set()}) == []


def test_a_dependency_cycle_is_named():
    with pytest.raises(ValueError, match="cycle"):
        downstream_steps(["a", "b"], {"a": {"b"}, "b": {"a"}}, HELD)


def test_models_serve_only_days_whose_fit_window_holds_enough_bundled_days():
    """A 30-day bundle, a 28-day window, weekly refits anchored on Mondays: a fit ends 7 days
    and a bar before its anchor, so a day is servable once its window holds 14 bundled days."""
    held = _days(date(2025, 6, 2), 30)  # a Monday, through 2025-07-01
    served = servable_days(held, last_days=30, train_days=28, refit_days=7)
    # Anchor 06-16's window is 05-19..06-08: 7 bundled days; anchor 06-23's is 05-26..06-15: 14.
    assert [p.day for p in served] == [date(2025, 6, 23) + timedelta(days=k) for k in range(9)]
    assert servable_days(held, last_days=1, train_days=28, refit_days=7) == [DaySymbol(date(2025, 7, 1), SYMBOL)]
    assert servable_days(_days(date(2025, 6, 2), 2), last_days=28, train_days=90, refit_days=7) == []
