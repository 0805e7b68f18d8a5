"""The registry's aliases: ``challenger`` set by a passing gate verdict, ``champion`` moved
only by a person (``quant-assets model promote|rollback`` or the MLflow UI).

Where the facts live, all in the MLflow registry so the UI shows them:

- a passing verdict of the family serving trades (``QUANT_ASSETS_SERVING_FAMILY``) is written
  as tags of the version it passed (``quant_assets.verdict*``: PASS, the day, the family, the
  reasons), next to the ``challenger`` alias; ablations and other families never move it;
- the symbol's ``portfolio`` verdict (the combined book serving would hold over every horizon)
  of the same day is written on each horizon's version (``quant_assets.portfolio_verdict*``:
  PASS or FAIL, the day, the reasons); ``promote`` refuses a version whose portfolio verdict
  did not pass unless forced with a reason;
- a promotion writes who, why, when and whether it was forced as tags of the promoted
  version (``quant_assets.promoted_*``);
- rollback history is a model-level tag, ``quant_assets.champion_history``: a JSON list of
  the versions that were champion, oldest first, ending with the one the CLI made champion
  last. A promotion first appends the outgoing champion when the list does not already end
  with it (a person moved ``champion`` in the UI since), then the new one; a rollback drops
  the entries equal to the current champion from the end and makes the newest remaining one
  champion again. So a promotion in the UI is rolled back by the CLI too (consecutive UI
  moves keep only the one before the last). A model tag, not one alias per generation,
  because aliases are names a person reads in the UI and history would crowd them.

Nothing here moves ``champion`` except ``promote`` and ``rollback``, which a person calls.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timezone

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from quant_assets.labels.horizons import HORIZON_NAMES
from quant_assets.registry.names import CHALLENGER, CHAMPION, PREFIX, parse_name, registered_name

VERDICT_TAG = "quant_assets.verdict"  # "PASS"
VERDICT_DAY_TAG = "quant_assets.verdict_day"
VERDICT_FAMILIES_TAG = "quant_assets.verdict_families"
VERDICT_REASONS_TAG = "quant_assets.verdict_reasons"
PORTFOLIO_TAG = "quant_assets.portfolio_verdict"  # "PASS" or "FAIL"
PORTFOLIO_DAY_TAG = "quant_assets.portfolio_verdict_day"
PORTFOLIO_REASONS_TAG = "quant_assets.portfolio_verdict_reasons"
PROMOTED_BY_TAG = "quant_assets.promoted_by"
PROMOTED_REASON_TAG = "quant_assets.promoted_reason"
PROMOTED_AT_TAG = "quant_assets.promoted_at"
PROMOTED_FORCED_TAG = "quant_assets.promoted_forced"
HISTORY_TAG = "quant_assets.champion_history"
ROLLED_BACK_TAG = "quant_assets.rolled_back"  # model tag: who, when, from and to
PASS, FAIL = "PASS", "FAIL"
# MLflow caps a tag value; reasons are a handful of short lines, kept whole below this.
MAX_TAG_CHARS = 5000


class Refused(ValueError):
    """A promote or rollback that must not happen; the message is one line saying why."""


@dataclass(frozen=True)
class Move:
    name: str
    version: str
    previous: str | None  # the champion before, if any


def _alias_version(client: MlflowClient, name: str, alias: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def _registered(client: MlflowClient, symbol: str, horizon: str) -> str:
    name = registered_name(symbol, horizon)
    try:
        client.get_registered_model(name)
    except MlflowException:
        raise Refused(f"no registered model {name}: no fit of {symbol} has been logged") from None
    return name


def mark_challenger(client: MlflowClient, symbol: str, horizon: str, version: str, day: date, families: list[str], reasons: str) -> bool:
    """A passing verdict: ``challenger`` on ``version`` with the verdict as its tags. Never champion.

    The newest verdict wins. The gate re-judges recent days as their labels fill in, so a pass
    may arrive for an older day (and an older fit) after a newer day's verdict set the alias:
    it is left where the newer verdict put it, and a version keeps the tags of its newest
    passing day. Returns whether the alias is on ``version`` now."""
    name = registered_name(symbol, horizon)
    if _verdict_day(client, name, version) <= day.isoformat():
        for key, value in ((VERDICT_TAG, PASS), (VERDICT_DAY_TAG, day.isoformat()), (VERDICT_FAMILIES_TAG, ",".join(families)),
                           (VERDICT_REASONS_TAG, reasons[:MAX_TAG_CHARS])):  # fmt: skip
            client.set_model_version_tag(name, version, key, value)
    current = _alias_version(client, name, CHALLENGER)
    if current not in (None, version) and _verdict_day(client, name, current) > day.isoformat():
        return False
    client.set_registered_model_alias(name, CHALLENGER, version)
    return True


def mark_portfolio(client: MlflowClient, symbol: str, versions: dict[str, str], day: date, passed: bool, reasons: str) -> list[str]:
    """The symbol's portfolio verdict of ``day`` as tags of each horizon's version of the fit
    that serves it (``versions``: horizon -> version), unless a newer day's is there already
    (the newest wins, as for ``mark_challenger``). Returns the names tagged."""
    tagged = []
    for horizon, version in sorted(versions.items()):
        name = registered_name(symbol, horizon)
        if client.get_model_version(name, version).tags.get(PORTFOLIO_DAY_TAG, "") > day.isoformat():
            continue
        for key, value in ((PORTFOLIO_TAG, PASS if passed else FAIL), (PORTFOLIO_DAY_TAG, day.isoformat()),
                           (PORTFOLIO_REASONS_TAG, reasons[:MAX_TAG_CHARS])):  # fmt: skip
            client.set_model_version_tag(name, version, key, value)
        tagged.append(f"{name} v{version}")
    return tagged


def _portfolio(tags: dict) -> str:
    """ "PASS <day>", "FAIL <day>" or "none" (no portfolio verdict on the version yet)."""
    return f"{tags[PORTFOLIO_TAG]} {tags.get(PORTFOLIO_DAY_TAG, '')}".strip() if PORTFOLIO_TAG in tags else "none"


def _verdict_day(client: MlflowClient, name: str, version: str) -> str:
    """The day of the newest passing verdict on ``version`` (ISO; "" when none)."""
    return client.get_model_version(name, version).tags.get(VERDICT_DAY_TAG, "")


def _history(client: MlflowClient, name: str) -> list[str]:
    return json.loads(client.get_registered_model(name).tags.get(HISTORY_TAG, "[]"))


def promote(client: MlflowClient, symbol: str, horizon: str, *, version: str | None, force: bool, reason: str | None,
            by: str, now: datetime | None = None) -> Move:  # fmt: skip
    """Make ``version`` (default: the current challenger) champion. Refused without a passing
    verdict of its own and of the symbol's portfolio unless forced with a reason; who, why
    and when are written on the version."""
    name = _registered(client, symbol, horizon)
    if force and not (reason or "").strip():
        raise Refused(f"{name}: --force needs --reason saying why a version without passing verdicts may serve")
    if version is None:
        version = _alias_version(client, name, CHALLENGER)
        if version is None:
            raise Refused(f"{name}: no challenger to promote (no passing gate verdict yet); name a --version")
    try:
        client.get_model_version(name, version)
    except MlflowException:
        raise Refused(f"{name}: there is no version {version}") from None
    tags = client.get_model_version(name, version).tags
    passed = tags.get(VERDICT_TAG) == PASS
    if not passed and not force:
        raise Refused(f'{name} version {version} has no passing gate verdict; promote it only with --force --reason "..."')
    portfolio = _portfolio(tags)
    passed &= portfolio.startswith(PASS)
    if not passed and not force:
        why = "failed" if portfolio.startswith(FAIL) else "is missing"
        raise Refused(f"{name} version {version}: the {symbol} portfolio verdict {why} ({portfolio}): the combined book serving "
                      f"would trade has not passed; promote it only with --force --reason \"...\"")  # fmt: skip
    current = _alias_version(client, name, CHAMPION)
    if current == version:
        raise Refused(f"{name} version {version} is already champion")
    history = _history(client, name)
    if current is not None and history[-1:] != [current]:
        history.append(current)  # set outside the CLI (the UI): still what a rollback returns to
    client.set_registered_model_tag(name, HISTORY_TAG, json.dumps([*history, version]))
    stamp = (now or datetime.now(timezone.utc)).isoformat(timespec="seconds")
    for key, value in ((PROMOTED_BY_TAG, by), (PROMOTED_REASON_TAG, (reason or "passing gate verdict")[:MAX_TAG_CHARS]),
                       (PROMOTED_AT_TAG, stamp), (PROMOTED_FORCED_TAG, str(not passed).lower())):  # fmt: skip
        client.set_model_version_tag(name, version, key, value)
    client.set_registered_model_alias(name, CHAMPION, version)
    return Move(name, version, current)


def rollback(client: MlflowClient, symbol: str, horizon: str, *, by: str, now: datetime | None = None) -> Move:
    """Move ``champion`` back to the newest earlier champion; refused when there is none."""
    name = _registered(client, symbol, horizon)
    current = _alias_version(client, name, CHAMPION)
    history = _history(client, name)
    while history and history[-1] == current:
        history.pop()
    if not history:
        raise Refused(f"{name}: no previous champion to roll back to (champion: {current or 'none'})")
    target = history[-1]  # stays last: it is the champion again
    stamp = (now or datetime.now(timezone.utc)).isoformat(timespec="seconds")
    client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history))
    client.set_registered_model_tag(name, ROLLED_BACK_TAG, f"{by} at {stamp}: version {current} -> {target}")
    client.set_registered_model_alias(name, CHAMPION, target)
    return Move(name, target, current)


@dataclass(frozen=True)
class AliasState:
    version: str | None
    verdict: str  # "PASS <day>" or "none"
    created: datetime | None
    portfolio: str = "none"  # the symbol's portfolio verdict on the version: "PASS <day>", "FAIL <day>" or "none"


@dataclass(frozen=True)
class ModelStatus:
    symbol: str
    horizon: str
    champion: AliasState
    challenger: AliasState


def _state(client: MlflowClient, name: str, alias: str) -> AliasState:
    try:
        mv = client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return AliasState(None, "none", None)
    tags = mv.tags or {}
    verdict = f"{tags[VERDICT_TAG]} {tags.get(VERDICT_DAY_TAG, '')}".strip() if VERDICT_TAG in tags else "none"
    return AliasState(str(mv.version), verdict, datetime.fromtimestamp(mv.creation_timestamp / 1000, timezone.utc), _portfolio(tags))


def status(client: MlflowClient) -> list[ModelStatus]:
    """Champion and challenger of every quant_assets registered model, by symbol and horizon."""
    out = []
    for model in client.search_registered_models(filter_string=f"name LIKE '{PREFIX}.%'"):
        symbol, horizon = parse_name(model.name)
        out.append(ModelStatus(symbol, horizon, _state(client, model.name, CHAMPION), _state(client, model.name, CHALLENGER)))
    return sorted(out, key=lambda s: (s.symbol, HORIZON_NAMES.index(s.horizon)))
