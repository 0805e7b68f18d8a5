"""The champion models, per symbol and horizon, resolved from the MLflow registry every tick.

Each registered name ``quant_assets.<SYMBOL>.<horizon>`` is looked up through its
``champion`` alias (``models:/<name>@champion``), resolved to a version, and that version's
native files (LightGBM boosters, the torch net with its standardisation) are loaded with
``Tracking.load_fitted``. Loaded models are cached by the logged model a version points at, so
the four horizon names of one fit share one load; the aliases themselves are read again on
every tick (one registry query for all names), so a person's promotion or rollback takes
effect on the next tick, and a model no alias points at any more is dropped from the cache.
A long-lived trader (``paper replay``, thousands of simulated ticks a minute) may re-read them
at most every ``refresh_s`` wall seconds instead: the query is most of a replayed tick's time.

A (symbol, horizon) without a champion does not trade: it comes back as ``NoChampion`` with
the reason, which the tick writes to the ledger as a ``NO_CHAMPION`` event.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from quant_assets.models.artefact import FittedModel
from quant_assets.registry.names import CHAMPION, PREFIX, registered_name
from quant_assets.registry.tracking import Tracking


@dataclass(frozen=True)
class Slot:
    """One (symbol, horizon), the unit that has (or lacks) a champion."""

    symbol: str
    horizon: str

    @property
    def name(self) -> str:
        return registered_name(self.symbol, self.horizon)


@dataclass(frozen=True)
class Champion(Slot):
    version: str
    model_uri: str  # the logged model the version points at (the cache key)
    model: FittedModel

    @property
    def uri(self) -> str:
        """``models:/<name>/<version>``: what the alias resolved to."""
        return f"models:/{self.name}/{self.version}"


@dataclass(frozen=True)
class NoChampion(Slot):
    reason: str


class ChampionModels:
    """Resolves and caches the champion of every (symbol, horizon) asked for."""

    def __init__(self, tracking: Tracking, cache_root: Path, alias: str = CHAMPION, refresh_s: float = 0.0):
        self.tracking = tracking
        self.refresh_s = refresh_s
        self._read_at, self._read = float("-inf"), {}
        self.cache_root = Path(cache_root)
        self.alias = alias
        self._uris: dict[tuple[str, str], str] = {}  # (name, version) -> logged model uri
        self._models: dict[str, FittedModel] = {}  # logged model uri -> loaded model
        self.loads = 0  # how many times native files were loaded (tests and the benchmark read it)

    def _aliases(self) -> dict[str, dict[str, str]]:
        """Every quant_assets registered name -> its aliases (alias -> version), one query
        (none when the last one is younger than ``refresh_s``)."""
        if time.monotonic() - self._read_at < self.refresh_s:
            return self._read
        found, token = {}, None
        while True:
            page = self.tracking.client.search_registered_models(filter_string=f"name LIKE '{PREFIX}.%'", max_results=1000, page_token=token)
            found.update({m.name: dict(m.aliases or {}) for m in page})
            token = page.token
            if not token:
                self._read_at, self._read = time.monotonic(), found
                return found

    def resolve(self, symbols: list[str], horizons: list[str]) -> dict[tuple[str, str], Champion | NoChampion]:
        aliases = self._aliases()
        out: dict[tuple[str, str], Champion | NoChampion] = {}
        for symbol in symbols:
            for h in horizons:
                name = registered_name(symbol, h)
                if name not in aliases:
                    out[symbol, h] = NoChampion(symbol, h, f"{name} is not registered: no fit of {symbol} has been logged")
                    continue
                version = aliases[name].get(self.alias)
                if version is None:
                    have = ", ".join(f"{a} -> {v}" for a, v in sorted(aliases[name].items())) or "none"
                    out[symbol, h] = NoChampion(symbol, h, f"{name} has no alias '{self.alias}' (aliases set: {have})")
                    continue
                uri = self._uri(name, str(version))
                out[symbol, h] = Champion(symbol, h, str(version), uri, self._model(uri))
        in_use = {c.model_uri for c in out.values() if isinstance(c, Champion)}
        for uri in [u for u in self._models if u not in in_use]:
            del self._models[uri]  # demoted: nothing points at it any more
        return out

    def _uri(self, name: str, version: str) -> str:
        if (name, version) not in self._uris:
            mv = self.tracking.registered_version(name, version=int(version))
            self._uris[name, version] = self.tracking.version_model_uri(mv)
        return self._uris[name, version]

    def _model(self, uri: str) -> FittedModel:
        if uri not in self._models:
            self._models[uri] = self.tracking.load_fitted(uri, self.cache_root)
            self.loads += 1
        return self._models[uri]
