"""The one ``Definitions`` of the code location, merged from small domain modules."""

from __future__ import annotations

import os

from dagster import Definitions, load_asset_checks_from_modules, load_assets_from_modules

from quant_assets import settings
from quant_assets.assets import (
    derivatives,
    derivatives_checks,
    evaluation,
    evaluation_checks,
    features,
    features_checks,
    labels,
    labels_checks,
    market,
    market_checks,
    models_checks,
    social,
    social_checks,
)
from quant_assets.resources.derivatives_data import (
    BundleDerivatives,
    CcxtDerivatives,
    DerivativesSource,
    FileDropDerivatives,
)
from quant_assets.resources.embedding import EmbeddingModel
from quant_assets.assets.models import build_model_asset
from quant_assets.registry.store import MlflowStore
from quant_assets.resources.lake import LakeResource
from quant_assets.resources.models import MlflowTracking, ModelTraining
from quant_assets.resources.market_data import (
    BundleMarketData,
    CcxtMarketData,
    FileDropMarketData,
    MarketDataSource,
)
from quant_assets.resources.social_data import (
    BundleSocialText,
    FileDropSocialText,
    SocialLinking,
    SocialTextSource,
)


def market_data_source() -> MarketDataSource:
    """Where bars come from, per environment (``QUANT_ASSETS_MARKET_SOURCE``).

    ``bundle`` (default) reads imported offline bundles; ``ccxt`` fetches from the exchange;
    ``file`` reads exchange downloads dropped in ``QUANT_ASSETS_FILE_DROP``.
    """
    home = settings.home()
    kind = os.environ.get("QUANT_ASSETS_MARKET_SOURCE", "bundle")
    if kind == "ccxt":
        return CcxtMarketData(
            exchange_id=os.environ.get("QUANT_ASSETS_EXCHANGE", "binance"),
            market_type=os.environ.get("QUANT_ASSETS_MARKET_TYPE", "spot"),
        )
    if kind == "bundle":
        return BundleMarketData(bundles_root=home.bundles)
    if kind == "file":
        return FileDropMarketData(
            folder=os.environ["QUANT_ASSETS_FILE_DROP"],
            pattern=os.environ.get("QUANT_ASSETS_BARS_FILES", "binance_spot_5m.parquet"),
            source_name=os.environ.get("QUANT_ASSETS_BARS_SOURCE_NAME", "binance-spot"),
        )
    raise ValueError(f"QUANT_ASSETS_MARKET_SOURCE={kind!r}: expected 'bundle', 'ccxt' or 'file'")


def derivatives_data_source() -> DerivativesSource:
    """Where derivatives come from (``QUANT_ASSETS_DERIVATIVES_SOURCE``, else the market source):
    ``bundle``, ``ccxt`` (the exchange's perpetuals) or ``file`` (``QUANT_ASSETS_FILE_DROP``)."""
    home = settings.home()
    kind = os.environ.get("QUANT_ASSETS_DERIVATIVES_SOURCE", os.environ.get("QUANT_ASSETS_MARKET_SOURCE", "bundle"))
    if kind == "ccxt":
        return CcxtDerivatives(exchange_id=os.environ.get("QUANT_ASSETS_EXCHANGE", "binance"))
    if kind == "bundle":
        return BundleDerivatives(bundles_root=home.bundles)
    if kind == "file":
        return FileDropDerivatives(folder=os.environ["QUANT_ASSETS_FILE_DROP"])
    raise ValueError(f"QUANT_ASSETS_DERIVATIVES_SOURCE={kind!r}: expected 'bundle', 'ccxt' or 'file'")


def social_text_source() -> SocialTextSource:
    """Where social text comes from (``QUANT_ASSETS_SOCIAL_SOURCE``, else the market source
    when that is ``file`` or ``bundle``): ``bundle`` or ``file`` (scraped Reddit files in
    ``QUANT_ASSETS_SOCIAL_FILE_DROP``, else ``QUANT_ASSETS_FILE_DROP``)."""
    market = os.environ.get("QUANT_ASSETS_MARKET_SOURCE", "bundle")
    kind = os.environ.get("QUANT_ASSETS_SOCIAL_SOURCE", market if market in ("file", "bundle") else "bundle")
    if kind == "bundle":
        return BundleSocialText(bundles_root=settings.home().bundles)
    if kind == "file":
        folder = os.environ.get("QUANT_ASSETS_SOCIAL_FILE_DROP") or os.environ.get("QUANT_ASSETS_FILE_DROP")
        if not folder:
            raise ValueError("the file social source needs QUANT_ASSETS_SOCIAL_FILE_DROP (or QUANT_ASSETS_FILE_DROP)")
        return FileDropSocialText(folder=folder)
    raise ValueError(f"QUANT_ASSETS_SOCIAL_SOURCE={kind!r}: expected 'bundle' or 'file'")


def embedding_model() -> EmbeddingModel:
    """all-MiniLM-L6-v2, offline; ``QUANT_ASSETS_EMBEDDING_DEVICE`` (cpu) and ``_BATCH`` (64)."""
    return EmbeddingModel(
        cache_root=settings.home().cache.rstrip("/") + "/embeddings",
        device=os.environ.get("QUANT_ASSETS_EMBEDDING_DEVICE", "cpu"),
        batch_size=int(os.environ.get("QUANT_ASSETS_EMBEDDING_BATCH", "64")),
    )


def mlflow_tracking() -> MlflowTracking:
    """The MLflow store (see ``quant_assets.registry.store``); ``QUANT_ASSETS_MLFLOW_UI_URL`` is
    where links in asset metadata point (default: ``quant-assets mlflow``'s http://127.0.0.1:5000)."""
    store = MlflowStore.from_env()
    return MlflowTracking(
        tracking_uri=store.tracking_uri,
        artifact_root=store.artifact_root,
        cache_root=settings.home().cache.rstrip("/") + "/models",
        ui_url=os.environ.get("QUANT_ASSETS_MLFLOW_UI_URL", "http://127.0.0.1:5000"),
    )


def build_definitions() -> Definitions:
    home = settings.home()
    return Definitions(
        assets=[
            *load_assets_from_modules([market, derivatives, social, features, labels, evaluation]),
            build_model_asset(settings.train_days(), settings.refit_days()),
        ],
        asset_checks=load_asset_checks_from_modules(
            [market_checks, derivatives_checks, social_checks, features_checks, labels_checks, models_checks, evaluation_checks]
        ),
        resources={
            "lake": LakeResource(root=home.lake),
            "market_data": market_data_source(),
            "derivatives_data": derivatives_data_source(),
            "social_source": social_text_source(),
            "social_linking": SocialLinking(),
            "embedding_model": embedding_model(),
            "mlflow_tracking": mlflow_tracking(),
            "model_training": ModelTraining(),
        },
    )


defs = build_definitions()
