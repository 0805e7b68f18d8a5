"""The one ``Definitions`` of the code location, merged from small domain modules.

Every setting it reads is checked when Dagster (or the CLI) loads it: a bad one stops the
load with one line naming the variable (``settings.exit_on_settings_error``).
"""

from __future__ import annotations

from collections.abc import Sequence

import ccxt
from dagster import Definitions, EnvVar, JobDefinition, load_asset_checks_from_modules, load_assets_from_modules

from quant_assets import catalog, settings, venues

with settings.exit_on_settings_error():
    # Importing the asset modules builds their partitions from QUANT_ASSETS_SYMBOLS and
    # QUANT_ASSETS_START_DATE, so a bad value surfaces here. Which modules: the catalog's.
    for _module in (*catalog.asset_modules(), *catalog.check_modules()):
        catalog.load(_module)
    from serving.assets import trading_book  # its daily partitions start at QUANT_ASSETS_START_DATE
from quant_assets.assets.gate import build_gate_asset, gate_thresholds
from quant_assets.assets.models import build_model_asset
from quant_assets.assets.report import study_report
from quant_assets.automation.conditions import automation_sensor
from quant_assets.automation.follow_up import follow_up_job, partial_follow_up
from quant_assets.automation.inbox import build_bundle_import_job, bundle_inbox_sensor
from quant_assets.automation.schedules import build_source_refresh_job, build_source_schedules, external_sources
from quant_assets.executors import JOB_BUILDER_KEY, executor, run_job
from quant_assets.registry.store import MlflowStore
from quant_assets.resources.derivatives_data import (
    BundleDerivatives,
    CcxtDerivatives,
    DerivativesSource,
    FileDropDerivatives,
)
from quant_assets.resources.embedding import EmbeddingModel
from quant_assets.resources.lake import LakeResource
from quant_assets.resources.market_data import (
    BundleMarketData,
    CcxtMarketData,
    FileDropMarketData,
    MarketDataSource,
)
from quant_assets.resources.models import MlflowTracking, ModelTraining
from quant_assets.resources.social_data import (
    BundleSocialText,
    FileDropSocialText,
    SocialLinking,
    SocialTextSource,
)
from serving.jobs import live_trading_sensor, paper_trading_sensor, trading_tick_job
from serving.settings import exchange_account


def _ccxt_exchange(raw: str) -> str:
    if raw not in ccxt.exchanges:
        raise ValueError("ccxt has no such exchange")
    return raw


def _exchange() -> str:
    exchange = settings.declared("QUANT_ASSETS_EXCHANGE")
    return exchange.refine(_ccxt_exchange, settings.current().sources.exchange or venues.default().name)


def market_data_source() -> MarketDataSource:
    """Where bars come from, per environment (``QUANT_ASSETS_MARKET_SOURCE``).

    ``bundle`` (default) reads imported offline bundles; ``ccxt`` fetches from the exchange;
    ``file`` reads exchange downloads dropped in ``QUANT_ASSETS_FILE_DROP``.
    """
    sources = settings.current().sources
    if sources.market_source == "ccxt":
        return CcxtMarketData(exchange_id=_exchange(), market_type=sources.market_type)
    if sources.market_source == "file":
        return FileDropMarketData(
            folder=sources.drop_folder("QUANT_ASSETS_MARKET_SOURCE=file"),
            pattern=sources.bars_files,
            source_name=sources.bars_source_name,
        )
    return BundleMarketData(bundles_root=settings.home().bundles)


def derivatives_data_source() -> DerivativesSource:
    """Where derivatives come from (``QUANT_ASSETS_DERIVATIVES_SOURCE``, else the market source):
    ``bundle``, ``ccxt`` (the exchange's perpetuals) or ``file`` (``QUANT_ASSETS_FILE_DROP``)."""
    sources = settings.current().sources
    if sources.derivatives == "ccxt":
        return CcxtDerivatives(exchange_id=_exchange())
    if sources.derivatives == "file":
        return FileDropDerivatives(folder=sources.drop_folder("the file derivatives source"))
    return BundleDerivatives(bundles_root=settings.home().bundles)


def social_text_source() -> SocialTextSource:
    """Where social text comes from (``QUANT_ASSETS_SOCIAL_SOURCE``, else the market source
    when that is ``file`` or ``bundle``): ``bundle`` or ``file`` (scraped Reddit files in
    ``QUANT_ASSETS_SOCIAL_FILE_DROP``, else ``QUANT_ASSETS_FILE_DROP``)."""
    sources = settings.current().sources
    if sources.social == "file":
        return FileDropSocialText(folder=sources.drop_folder("the file social source", social=True))
    return BundleSocialText(bundles_root=settings.home().bundles)


def embedding_model() -> EmbeddingModel:
    """all-MiniLM-L6-v2, offline; ``QUANT_ASSETS_EMBEDDING_DEVICE`` (cpu) and ``_BATCH`` (64)."""
    embedding = settings.current().embedding
    return EmbeddingModel(cache_root=settings.home().cache.rstrip("/") + "/embeddings", device=embedding.device, batch_size=embedding.batch)


def mlflow_tracking() -> MlflowTracking:
    """The MLflow store (see ``quant_assets.registry.store``); ``QUANT_ASSETS_MLFLOW_UI_URL`` is
    where links in asset metadata point (default: ``quant-assets mlflow``'s http://127.0.0.1:5000)."""
    store = MlflowStore.from_env()
    return MlflowTracking(
        tracking_uri=_from_env_var(store.tracking_uri, "QUANT_ASSETS_MLFLOW_TRACKING_URI", "QUANT_ASSETS_MLFLOW_PG_URL"),
        artifact_root=store.artifact_root,
        cache_root=settings.home().cache.rstrip("/") + "/models",
        ui_url=settings.current().mlflow.ui_url,
    )


def _from_env_var(value: str, *names: str) -> str | EnvVar:
    """``value`` as the EnvVar of the first of ``names`` that is set (the variable it came
    from): a URL that may carry a database password reaches the resource through the
    environment, so the UI and the run's config show the variable's name, never the value."""
    for name in names:
        if settings.is_set(name):
            return EnvVar(name)
    return value


def build_definitions() -> Definitions:
    """The code location's definitions, from the environment and the catalog: every catalogued
    asset's module and checks, and each source's resource (``catalog.lake_assets``, with any
    registered specs)."""
    home = settings.home()
    resources = {
        "lake": LakeResource(root=home.lake),
        # market_data, derivatives_data, social_source: each source's resource, built by its spec's factory
        **{spec.source.resource_key: catalog.load(spec.source.resource)() for spec in catalog.sources()},
        "social_linking": SocialLinking(),
        "embedding_model": embedding_model(),
        "mlflow_tracking": mlflow_tracking(),
        "model_training": ModelTraining(),
        "exchange_account": exchange_account(),  # the live keys, as EnvVars (never config values)
    }
    source_refresh_job = build_source_refresh_job()
    return Definitions(
        assets=[
            *load_assets_from_modules([catalog.load(m) for m in catalog.asset_modules()]),
            build_model_asset(settings.train_days(), settings.refit_days()),
            build_gate_asset(gate_thresholds()),
            study_report,  # one partition per `quant-assets study`
            trading_book,
        ],
        asset_checks=load_asset_checks_from_modules([catalog.load(m) for m in catalog.check_modules()]),
        # The trading half (serving/): one tick job, run by the paper sensor (running) and the
        # live sensor (stopped; refuses unless a person enabled live trading in the ledger).
        # Continuous runs (quant_assets/automation): the external sources on schedules, bundles
        # through the inbox sensor, everything downstream by its automation condition.
        jobs=[trading_tick_job, source_refresh_job, build_bundle_import_job(bundle_definitions), follow_up_job],
        schedules=build_source_schedules(external_sources(resources), source_refresh_job),
        sensors=[paper_trading_sensor, live_trading_sensor, bundle_inbox_sensor, automation_sensor(), partial_follow_up],
        # QUANT_ASSETS_EXECUTOR: in-process (default), a process per step, or Celery workers (executors.py).
        executor=executor(),
        resources=resources,
    )


# ---- the bundle-import twin, and what a worker rebuilds ------------------------------------
# Built here, at the top, and handed down: the inbox's import job gets ``bundle_definitions``,
# ``quant-assets bundle import`` calls it, and a worker's job pointer
# (``executors.reconstructable_asset_job``) and ``runs.ProcessRuns`` land on ``asset_job`` and
# ``asset_definitions``. Nothing below this module rebuilds the Definitions.


def bundle_definitions(home: settings.HomeLayout) -> Definitions:
    """The code location's definitions, built now from the environment, with every external
    data source swapped for its unpacked-bundle twin: an import materializes what it unpacked,
    never what an exchange says today, whatever ``QUANT_ASSETS_*_SOURCE`` says."""
    defs = build_definitions()
    resources = {**(defs.resources or {}), **_bundle_twins(defs.resources or {}, home)}
    return Definitions(
        assets=defs.assets,
        asset_checks=defs.asset_checks,
        jobs=defs.jobs,
        schedules=defs.schedules,
        sensors=defs.sensors,
        executor=defs.executor,
        loggers=defs.loggers,
        resources=resources,
        # A Celery worker rebuilds this variant, not the plain definitions (asset_job).
        metadata={JOB_BUILDER_KEY: "bundle"},
    )


def _bundle_twins(resources: dict, home: settings.HomeLayout) -> dict:
    """Each catalogued source's resource, as its bundle-reading twin (``Source.bundle_twin``)
    where it is not one already; other resources are not in the answer."""
    twins = {}
    for spec in catalog.sources():
        key, twin = spec.source.resource_key, catalog.load(spec.source.bundle_twin)
        if key in resources and not isinstance(resources[key], twin):
            twins[key] = twin(bundles_root=home.bundles)
    return twins


def asset_definitions(builder: str) -> Definitions:
    """Rebuild, in another process, the definitions the launching process ran: the code
    location's, or their bundle-import twin (``executors.job_builder`` names which)."""
    if builder == "bundle":
        return bundle_definitions(settings.home())
    return build_definitions()


def asset_job(builder: str, assets: Sequence[str]) -> JobDefinition:
    """Rebuild, in the process that runs a step, the job the launching process ran: ``assets``
    of ``asset_definitions(builder)`` (the target of ``executors.reconstructable_asset_job``)."""
    return run_job(asset_definitions(builder), assets)


with settings.exit_on_settings_error():
    defs = build_definitions()
