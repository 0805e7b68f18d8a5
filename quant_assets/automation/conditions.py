"""How each downstream asset follows its parents: ``AutomationCondition.eager()``, bounded.

Every asset is partitioned by UTC day x symbol, and many read windows of their parents'
days (labels of D read bars D..D+7; a model of D reads 90-odd days of features and labels).
Plain ``eager()`` does not fit such a graph as it is:

- it looks only at the latest time partition (today), so yesterday's features, the labels of
  the last seven days and their evaluations would never be redone when yesterday closes;
  an unbounded window would instead put the whole history in play. Each asset here gets the
  ``in_latest_time_window`` lookback that covers exactly the partitions a newly closed day
  (and today's intraday refresh) can change through its partition mappings, derived from the
  same constants the mappings use;
- it also requests a partition as soon as it becomes *missing*, i.e. each new day at 00:00,
  before that day's (or yesterday's) data has arrived; then again when it does. Here a
  partition is requested only when a parent was updated (``any_deps_updated``), once per
  update (``since_last_handled``), so nothing fires on a tick where no parent changed;
- ``~any_deps_missing`` over a look-ahead window is never true for recent days: labels of D
  read bars of D+1..D+7, and today's bars are missing until the day's bundle or first
  refresh arrives. The guard is kept where a missing parent means the step cannot run (the
  model's fit window, oos_eval's same-day inputs) and narrowed or dropped where the asset
  itself records a missing input as missing and flagged (labels, features, text latents).

All keep eager's ``~any_deps_in_progress & ~in_progress``: a child waits for its parents' run.
"""

from __future__ import annotations

from datetime import timedelta

from dagster import AssetSelection, AutomationCondition, AutomationConditionSensorDefinition, DefaultSensorStatus

from quant_assets.evaluation.oos import OOS_ASSET
from quant_assets.features.contract import FEATURES_ASSET
from quant_assets.features.inputs import AHEAD_DAYS
from quant_assets.labels.forward import LABELS_ASSET
from quant_assets.labels.horizons import LOOKAHEAD_DAYS
from quant_assets.market.bars import BARS_ASSET
from quant_assets.models.record import MODELS_ASSET
from quant_assets.social.text import SOCIAL_TEXT_ASSET

# A newly closed day Y = today - 1 (and today itself, refreshed intraday) changes children
# up to today; how far back they reach is the look-ahead of the mapping that reads Y.
SAME_DAY = 2  # identity-mapped children of Y and of today
FEATURE_DAYS = max(AHEAD_DAYS.values()) + SAME_DAY  # features of Y - ahead .. today
LABEL_DAYS = LOOKAHEAD_DAYS + SAME_DAY  # labels of Y - 7 .. today read Y's bars
MODEL_DAYS = 1  # a fit window ends 8 days before the day it serves: only today's model is new


def in_latest_days(days: int) -> AutomationCondition:
    """The latest ``days`` daily partitions (today is the latest) of every symbol."""
    return AutomationCondition.in_latest_time_window(timedelta(days=days))


def deps_missing(*assets: str) -> AutomationCondition:
    """Some partition of the named parents (all parents when none is named) is missing and
    not requested on this tick: eager's ``any_deps_missing``, optionally narrowed."""
    if not assets:
        return AutomationCondition.any_deps_missing()
    missing = AutomationCondition.missing() & ~AutomationCondition.will_be_requested()
    return AutomationCondition.any_deps_match(missing).allow(AssetSelection.assets(*assets)).with_label(f"any_deps_missing ({', '.join(assets)})")


def follows_parents(days: int, blocked_by: AutomationCondition | None, updates_ignored: tuple[str, ...] = ()) -> AutomationCondition:
    """``eager()`` over the latest ``days`` partitions, on parent updates only (except those
    of ``updates_ignored``), not blocked while ``blocked_by`` (a missing-parents condition, or
    None for no guard) holds."""
    updated = AutomationCondition.any_deps_updated()
    if updates_ignored:
        updated = updated.ignore(AssetSelection.assets(*updates_ignored))
    condition = in_latest_days(days) & updated.since_last_handled() & ~AutomationCondition.any_deps_in_progress() & ~AutomationCondition.in_progress()
    if blocked_by is not None:
        condition = condition & ~blocked_by
    return condition.with_label(f"follows parents (latest {days} days)")


def labels_condition() -> AutomationCondition:
    """Labels of the last 7 days fill in as their horizons pass: each new day of bars redoes
    them. A bar day still missing leaves its labels missing and flagged, so no guard."""
    return follows_parents(LABEL_DAYS, None)


def features_condition() -> AutomationCondition:
    """Features need their day's bars; missing derivatives or text come out flagged."""
    return follows_parents(FEATURE_DAYS, deps_missing(BARS_ASSET))


def text_embeddings_condition() -> AutomationCondition:
    return follows_parents(SAME_DAY, deps_missing())


def text_latents_condition() -> AutomationCondition:
    """Needs the day's text; days of embedding history without text shrink the PCA's fit set."""
    return follows_parents(SAME_DAY, deps_missing(SOCIAL_TEXT_ASSET))


def model_condition() -> AutomationCondition:
    """Today's model, once the labels of its window's last day are updated (each night). Days
    that share a refit anchor reuse that fit, so this refits on the cadence (every
    ``QUANT_ASSETS_REFIT_DAYS``) and otherwise only records which fit serves the day."""
    return follows_parents(MODEL_DAYS, deps_missing())


def oos_condition() -> AutomationCondition:
    """Each day whose labels, features or model changed; the day's three inputs must exist.
    Its other parent, the previous day's oos_eval (whose close opens the day), neither
    triggers nor blocks it: Dagster counts a self-dependency's update even when the same run
    made both, so each run of consecutive days would request them all again, forever; and a
    missing previous day only makes the day open flat, which it says. A previous day's close
    never depends on its labels, so their nightly updates leave the next day's book as is."""
    return follows_parents(LABEL_DAYS, deps_missing(FEATURES_ASSET, LABELS_ASSET, MODELS_ASSET), updates_ignored=(OOS_ASSET,))


def gate_condition() -> AutomationCondition:
    """The newest days' verdicts (yesterday's and today's), once the day's model exists,
    whenever an evaluation in their window changed. Older days are not re-judged: a verdict
    for D counts only the days whose every label was known at D 00:00, so an older day's
    re-run would give the same row (unless bars of its window reached the lake late), and
    re-judging the last eight days every night cost eight gate runs for verdicts on older
    fits that cannot take challenger from the newest pass (``registry.aliases.mark_challenger``). The gate judges the oos_eval days that exist in
    its window, so missing ones do not block it."""
    return follows_parents(SAME_DAY, deps_missing(MODELS_ASSET))


AUTOMATION_SENSOR = "downstream_automation"


def automation_sensor() -> AutomationConditionSensorDefinition:
    """The sensor that evaluates the conditions above: RUNNING from the start, so the daemon
    moves the graph with no toggle in the UI (Dagster's implicit default sensor starts stopped).
    It emits a backfill per tick that requests partitions, so the backfill daemon launches one
    run per asset and partition range (the assets' single-run backfill policies), not one run
    per day and symbol: a night's labels are one run, not 24."""
    return AutomationConditionSensorDefinition(
        AUTOMATION_SENSOR,
        target=AssetSelection.all(),
        default_status=DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
        emit_backfills=True,
        description="Evaluates every asset's automation condition (quant_assets.automation.conditions) and runs what they request.",
    )
