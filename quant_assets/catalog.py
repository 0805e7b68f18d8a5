"""The asset catalog: one declarative spec per lake asset, and everything derived from it.

Each lake asset is one :class:`LakeAsset` in :data:`LAKE_ASSETS`: its name, group and kinds,
its schema (columns, dtypes and row key, ``lake.schemas.AssetSchema``, from the domain module
that defines its columns), the Dagster module that defines it and the module of its checks,
whether it is an external source (:class:`Source`: the resource that feeds it, that
resource's unpacked-bundle twin, how stale it may be), whether models record its bundle
provenance (``raw_input``) and which of its partitions the gate's leakage check reads
(``leakage_checked``). Derived from the specs, and nowhere else written down:

- the lake schemas (:func:`schema_for`, :func:`asset_schemas`; bundle export and import, the
  asset checks) and the assets a bundle exports by default;
- the Definitions' asset and check modules and source resources, and their bundle-import
  twin's resource swap (``definitions``);
- the source schedules' assets and the external sources (``automation.schedules``);
- the sources' staleness limits (:data:`MAX_AGE_SETTINGS`, :func:`max_age`; the freshness
  policies and the serving data halt);
- the models' raw inputs (:func:`raw_inputs`) and the gate's leakage list
  (:func:`leakage_checked`).
- every lake asset's ``dagster/column_schema`` (:func:`columns_for`; ``assets.metadata``).

The DuckDB views need nothing from here: ``lake.duckdb_views`` makes one per stored asset.

Adding a source asset is one spec plus its module (the Dagster asset, its resource and the
resource's bundle twin). A spec outside the product (a test's toy source, a plugin) joins with
:func:`register` (or the :func:`registered` context manager) before the Definitions are built:
:func:`lake_assets` is the product's specs followed by the registered ones, and every derived
list above reads it.

The catalog sits above the domains (it imports their names and columns) and below everything
that reads it (lake users, bundles, resources, assets, automation, serving); the lake itself
names no asset and imports no domain. Modules above it (the Dagster glue, resources) are named
by dotted path and imported only by those above them that build the Definitions (:func:`load`).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import polars as pl

from quant_assets import settings
from quant_assets.derivatives.frame import DERIVATIVES_ASSET, DERIVATIVES_SCHEMA
from quant_assets.evaluation.gate_window import GATE_ASSET
from quant_assets.evaluation.oos import OOS_ASSET, ROW_SCHEMA
from quant_assets.features.contract import COLUMNS as FEATURE_COLUMNS
from quant_assets.features.contract import FEATURES_ASSET
from quant_assets.labels.forward import LABEL_SCHEMA, LABELS_ASSET
from quant_assets.lake.schemas import AssetSchema
from quant_assets.market.bars import BAR_SCHEMA, BARS_ASSET
from quant_assets.models.record import MODELS_ASSET
from quant_assets.social.text import SOCIAL_TEXT_ASSET, SOCIAL_TEXT_SCHEMA
from quant_assets.text.embeddings import TEXT_EMBEDDINGS_ASSET, TEXT_EMBEDDINGS_SCHEMA
from quant_assets.text.latents import TEXT_LATENTS_ASSET, TEXT_LATENTS_SCHEMA

# Which partitions of an asset a gate verdict rests on (``leakage_checked``): the evidence
# days (the completed days of the window), the served day D, or both (see ``assets.gate``).
EVIDENCE, SERVED, BOTH = "evidence", "served", "both"


@dataclass(frozen=True)
class Source:
    """An external source: the Dagster resource that feeds the asset, and how stale it may be.

    ``resource`` is the ``module:function`` that builds the resource from the environment;
    ``bundle_twin`` the ``module:Class`` of its variant that reads unpacked bundles (built as
    ``Class(bundles_root=...)``): a resource of that class is fed by bundles, so the source
    schedules leave it out and the bundle-import Definitions swap every other one for it.
    ``max_age`` is the setting, its default in seconds, and what one record of the source is.
    """

    resource_key: str
    resource: str
    bundle_twin: str
    max_age: tuple[str, str, str]


@dataclass(frozen=True)
class LakeAsset:
    """One lake asset, declared once (see the module doc for what is derived from it).

    ``module`` is the Dagster module that defines the asset (``None``: built by a factory in
    ``definitions``), ``checks`` the module of its asset checks; ``schema`` is ``None`` for an
    asset the lake stores without a catalogued frame schema (labels, models, evaluations).
    ``columns`` are the columns such an asset still declares to Dagster (``dagster/column_schema``,
    :func:`columns_for`) without the lake, bundles or schema checks holding its files to them.
    """

    name: str
    group: str
    kinds: frozenset[str]
    schema: AssetSchema | None = None
    module: str | None = None
    checks: str | None = None
    source: Source | None = None
    raw_input: bool = False  # a model records the bundles it was fitted on from this asset
    leakage_checked: str | None = None  # EVIDENCE, SERVED or BOTH; None: the gate does not read it
    columns: dict[str, pl.DataType] | None = None  # without a schema: the columns Dagster shows


def _kinds(*kinds: str) -> frozenset[str]:
    return frozenset(kinds)


_ASSETS = "quant_assets.assets."
_RESOURCES = "quant_assets.resources."

LAKE_ASSETS: tuple[LakeAsset, ...] = (
    LakeAsset(
        BARS_ASSET, "market", _kinds("polars", "parquet"), AssetSchema(BAR_SCHEMA, key=("ts",)),
        module=_ASSETS + "market", checks=_ASSETS + "market_checks",
        source=Source(
            "market_data", "quant_assets.definitions:market_data_source", _RESOURCES + "market_data:BundleMarketData",
            ("QUANT_ASSETS_MAX_BAR_AGE_S", "600", "a closed 5m bar"),
        ),
        raw_input=True, leakage_checked=BOTH,
    ),
    LakeAsset(
        DERIVATIVES_ASSET, "derivatives", _kinds("polars", "parquet"), AssetSchema(DERIVATIVES_SCHEMA, key=("metric", "event_time")),
        module=_ASSETS + "derivatives", checks=_ASSETS + "derivatives_checks",
        source=Source(
            "derivatives_data", "quant_assets.definitions:derivatives_data_source", _RESOURCES + "derivatives_data:BundleDerivatives",
            # hourly statistics are known only when their hour closes, and the exchange publishes late
            ("QUANT_ASSETS_MAX_DERIVATIVES_AGE_S", "7200", "an hourly derivatives record"),
        ),
        raw_input=True, leakage_checked=BOTH,
    ),
    LakeAsset(
        SOCIAL_TEXT_ASSET, "social", _kinds("reddit", "polars", "parquet"), AssetSchema(SOCIAL_TEXT_SCHEMA, key=("item_id",)),
        module=_ASSETS + "social", checks=_ASSETS + "social_checks",
        source=Source(
            "social_source", "quant_assets.definitions:social_text_source", _RESOURCES + "social_data:BundleSocialText",
            # scraped text arrives in daily files or bundles
            ("QUANT_ASSETS_MAX_SOCIAL_AGE_S", "172800", "a social text item"),
        ),
        raw_input=True, leakage_checked=BOTH,
    ),
    LakeAsset(
        TEXT_EMBEDDINGS_ASSET, "social", _kinds("pytorch", "polars", "parquet"), AssetSchema(TEXT_EMBEDDINGS_SCHEMA, key=("item_id",)),
        module=_ASSETS + "social", checks=_ASSETS + "social_checks", leakage_checked=BOTH,
    ),
    LakeAsset(
        TEXT_LATENTS_ASSET, "social", _kinds("numpy", "polars", "parquet"), AssetSchema(TEXT_LATENTS_SCHEMA, key=("ts",)),
        module=_ASSETS + "social", checks=_ASSETS + "social_checks", leakage_checked=BOTH,
    ),
    LakeAsset(
        FEATURES_ASSET, "features", _kinds("polars", "parquet"), AssetSchema(FEATURE_COLUMNS, key=("t",)),
        module=_ASSETS + "features", checks=_ASSETS + "features_checks", leakage_checked=BOTH,
    ),
    LakeAsset(
        LABELS_ASSET, "labels", _kinds("polars", "parquet"),
        module=_ASSETS + "labels", checks=_ASSETS + "labels_checks", leakage_checked=BOTH, columns=LABEL_SCHEMA,
    ),
    # built by ``assets.models.build_model_asset`` from the training settings
    LakeAsset(
        MODELS_ASSET, "models", _kinds("lightgbm", "pytorch", "mlflow"),
        checks=_ASSETS + "models_checks", leakage_checked=SERVED,
    ),
    LakeAsset(
        OOS_ASSET, "evaluation", _kinds("polars", "parquet", "mlflow"),
        module=_ASSETS + "evaluation", checks=_ASSETS + "evaluation_checks", leakage_checked=EVIDENCE, columns=ROW_SCHEMA,
    ),
    # built by ``assets.gate.build_gate_asset`` from the gate thresholds
    LakeAsset(GATE_ASSET, "evaluation", _kinds("polars", "parquet", "mlflow"), checks=_ASSETS + "gate_checks"),
)  # fmt: skip


# ---- registering specs from outside the product ---------------------------------------------

_REGISTERED: dict[str, LakeAsset] = {}


def register(*specs: LakeAsset) -> None:
    """Add ``specs`` to :func:`lake_assets` (a name already catalogued is refused); build the
    Definitions after registering, since they read the catalog when built."""
    for spec in specs:
        if spec.name in {a.name for a in lake_assets()}:
            raise ValueError(f"lake asset {spec.name!r} is already catalogued")
        _REGISTERED[spec.name] = spec


def unregister(*names: str) -> None:
    for name in names:
        _REGISTERED.pop(name, None)


@contextmanager
def registered(*specs: LakeAsset) -> Iterator[None]:
    """``specs`` are catalogued inside the ``with`` block only."""
    register(*specs)
    try:
        yield
    finally:
        unregister(*(spec.name for spec in specs))


def lake_assets() -> tuple[LakeAsset, ...]:
    """Every catalogued lake asset: the product's, in the order of the asset graph, then the registered ones."""
    return (*LAKE_ASSETS, *_REGISTERED.values())


def sources() -> tuple[LakeAsset, ...]:
    """The source assets (those an external resource feeds), in dependency order."""
    return tuple(a for a in lake_assets() if a.source is not None)


def load(path: str):
    """The object a ``module:name`` path names (or the module, for a bare module path)."""
    module, _, name = path.partition(":")
    loaded = importlib.import_module(module)
    return getattr(loaded, name) if name else loaded


def _unique(paths) -> tuple[str, ...]:
    return tuple(dict.fromkeys(p for p in paths if p is not None))


def asset_modules() -> tuple[str, ...]:
    """The Dagster modules that define the catalogued assets, in graph order, each once."""
    return _unique(a.module for a in lake_assets())


def check_modules() -> tuple[str, ...]:
    """The modules of the catalogued assets' checks, in graph order, each once."""
    return _unique(a.checks for a in lake_assets())


def raw_inputs() -> tuple[str, ...]:
    """The assets whose bundle provenance a model records (``raw_input``)."""
    return tuple(a.name for a in lake_assets() if a.raw_input)


def leakage_checked() -> dict[str, str]:
    """asset -> which of its partitions (EVIDENCE, SERVED, BOTH) the gate's leakage check reads."""
    return {a.name: a.leakage_checked for a in lake_assets() if a.leakage_checked is not None}


# ---- schemas: what each lake asset's partitions must look like ------------------------------


def asset_schemas() -> dict[str, AssetSchema]:
    """asset -> schema, for every catalogued asset with one (also what a bundle exports by default)."""
    return {a.name: a.schema for a in lake_assets() if a.schema is not None}


ASSET_SCHEMAS: dict[str, AssetSchema] = asset_schemas()  # the product's (registered specs: ``asset_schemas()``)


def schema_for(asset: str) -> AssetSchema:
    schemas = asset_schemas()
    if asset not in schemas:
        raise KeyError(f"unknown lake asset {asset!r}; known: {', '.join(sorted(schemas))}")
    return schemas[asset]


def columns_for(asset: str) -> dict[str, pl.DataType]:
    """The columns ``asset`` declares to Dagster: its schema's, else its spec's ``columns``."""
    spec = {a.name: a for a in lake_assets()}.get(asset)
    if spec is None or (spec.schema is None and spec.columns is None):
        raise KeyError(f"lake asset {asset!r} has no catalogued columns")
    return spec.schema.columns if spec.schema is not None else spec.columns


# ---- freshness: how stale each source may be -----------------------------------------------
# One notion for the source assets' Dagster freshness policies (``automation.freshness``) and
# the serving data halt (``serving.settings``): a consumer tolerates a source's newest record
# being at most ``max_age`` old.

_positive_s = settings.bounded(float, 0, above=True)


def max_age_settings() -> dict[str, tuple[str, str, str]]:
    """asset -> (setting, default seconds, what a record of that source is), for every source."""
    return {a.name: a.source.max_age for a in sources()}


MAX_AGE_SETTINGS = max_age_settings()  # the product's sources
RENAMED = {"QUANT_ASSETS_SERVING_MAX_BAR_AGE_S": "QUANT_ASSETS_MAX_BAR_AGE_S"}


def _refuse_renamed() -> None:
    for old, new in RENAMED.items():
        if settings.is_set(old):
            raise settings.SettingsError(f"{old} was renamed {new} (one limit for the lake and the serving halt); set {new} instead")


def max_age(asset: str) -> timedelta:
    """How old ``asset``'s newest record may be before a consumer stops trusting it."""
    _refuse_renamed()
    name, default, record = max_age_settings()[asset]
    return timedelta(seconds=settings.read(name, default, _positive_s, f"seconds {record} may be old, e.g. {default}"))


def max_bar_age() -> timedelta:
    """The serving data halt's limit, and the bars' part of market_bars' freshness policy."""
    return max_age(BARS_ASSET)
