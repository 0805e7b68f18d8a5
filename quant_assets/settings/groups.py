"""Every ``QUANT_ASSETS_*`` variable, declared once: one ``Group`` per area (Home, Calendar,
Sources, ... Trading), each field with its variable, default, parser and description.

``current()`` is the settings of the environment as it is now (``Settings``: each group read
the first time it is used), kept until a ``QUANT_ASSETS_*`` variable changes; ``declared``
finds a variable's declaration; ``GROUPS`` is the order of the docs' table.
"""

from __future__ import annotations

import functools
import os
from datetime import date, timedelta
from typing import Annotated, ClassVar

from pydantic import Field

from quant_assets.settings.layout import DEFAULT_HOME, HomeLayout
from quant_assets.settings.model import Group, Var, _var
from quant_assets.settings.parsers import (
    _cpu_count,
    bounded,
    broker_url,
    check,
    duration,
    flag,
    fraction,
    http_url,
    lake_location,
    latent_dims,
    local_folder,
    non_negative,
    one_of,
    positive,
    positive_int,
    postgres_url,
    psycopg2_url,
    queue_name,
    round_trip_bps,
    sample_rows,
    symbol_keys,
)

DEFAULT_SYMBOLS = "BTC-USDT,ETH-USDT,SOL-USDT"
DEFAULT_START_DATE = "2025-06-01"
SOURCE_KINDS = ("bundle", "ccxt", "file")
MARKET_TYPES = ("spot", "swap", "perp", "future")
SERVED_FAMILIES = ("lgbm", "mhnet", "mean")
EXECUTORS = ("in_process", "multiprocess", "celery")
DEFAULT_BROKER = "redis://127.0.0.1:6379/0"
DEFAULT_QUEUE = "dagster"  # dagster-celery's own queue name
DEFAULT_TRAIN_DAYS = "90"
DEFAULT_REFIT_DAYS = "7"
LAKE_ROOT_EXPECT = "a local folder or s3://bucket/prefix"
SAMPLES_EXPECT = "partitions per run, e.g. 20"


class Home(Group):
    title: ClassVar[str] = "Home and lake"
    root: Annotated[str, _var("QUANT_ASSETS_HOME", str(DEFAULT_HOME), str, "a folder or URL for all state",
        what="root of all state ([Where state lives](operations.md#where-state-lives))",
        shown="`.quant_assets_home/` in the checkout")]  # fmt: skip
    lake_root: Annotated[str | None, _var("QUANT_ASSETS_LAKE_ROOT", None, lake_location, LAKE_ROOT_EXPECT,
        what="the lake elsewhere: a local folder or `s3://bucket/prefix` (staging and quarantine beside it); "
        "see [The lake in S3](operations.md#the-lake-in-s3-or-minio)", shown="`<home>/lake`")] = None  # fmt: skip

    def layout(self) -> HomeLayout:
        return HomeLayout(self.root, self.lake_root)


class S3(Group):
    """Its own group: the endpoint is checked only where an ``s3://`` lake is used, and a lake
    opened in code (``ParquetLake("s3://...")``) reads it whatever the home's variables say."""

    title: ClassVar[str] = "S3"
    endpoint_url: Annotated[str | None, _var("QUANT_ASSETS_S3_ENDPOINT_URL", None, http_url,
        "an http(s)://host[:port] address, e.g. http://127.0.0.1:9000",
        what="an S3-compatible server for an `s3://` lake, e.g. MinIO's `http://127.0.0.1:9000`",
        shown="(AWS, or `AWS_ENDPOINT_URL`)")] = None  # fmt: skip


class Calendar(Group):
    title: ClassVar[str] = "Universe and calendar"
    symbols: Annotated[list[str], _var("QUANT_ASSETS_SYMBOLS", DEFAULT_SYMBOLS, symbol_keys,
        "comma-separated BASE-QUOTE keys, e.g. BTC-USDT,ETH-USDT",
        what="the universe: `BASE-QUOTE` partition keys (ccxt `BTC/USDT` spot, `BTC/USDT:USDT` perpetual)")]  # fmt: skip
    start_date: Annotated[date, _var("QUANT_ASSETS_START_DATE", DEFAULT_START_DATE, date.fromisoformat,
        "the first UTC day, YYYY-MM-DD", what="first partition day, UTC, `YYYY-MM-DD`",
        shown=f"`{DEFAULT_START_DATE}` (the sample's first day)")]  # fmt: skip


class Sources(Group):
    title: ClassVar[str] = "Sources: market, derivatives, social, file drop, exchange"
    market_source: Annotated[str, _var("QUANT_ASSETS_MARKET_SOURCE", "bundle", one_of(*SOURCE_KINDS), "bundle, ccxt or file",
        what="where bars come from: `bundle` (imported bundles, no network), `ccxt`, `file`")]  # fmt: skip
    exchange: Annotated[str | None, _var("QUANT_ASSETS_EXCHANGE", None, str, "a ccxt exchange id (one of ccxt.exchanges)",
        what="ccxt exchange id of the `ccxt` sources (keys, if any, in `<EXCHANGE>_API_KEY` / `_API_SECRET`)",
        shown="`binance` (the default venue)")] = None  # fmt: skip
    market_type: Annotated[str, _var("QUANT_ASSETS_MARKET_TYPE", "spot", one_of(*MARKET_TYPES), "spot or swap",
        what="market the `ccxt` bars come from: `spot` or `swap`")]  # fmt: skip
    file_drop: Annotated[str | None, _var("QUANT_ASSETS_FILE_DROP", None,
        what="folder of dropped exchange downloads (`../shared/data` layout)", shown="required by a `file` source")] = None  # fmt: skip
    bars_files: Annotated[str, _var("QUANT_ASSETS_BARS_FILES", "binance_spot_5m.parquet", str, "a file name or glob",
        what="file name or glob of the bars in the drop folder")]  # fmt: skip
    bars_source_name: Annotated[str, _var("QUANT_ASSETS_BARS_SOURCE_NAME", "binance-spot", str, "a provenance name",
        what="provenance name recorded with file-drop bars")]  # fmt: skip
    derivatives_source: Annotated[str | None, _var("QUANT_ASSETS_DERIVATIVES_SOURCE", None, one_of(*SOURCE_KINDS),
        "bundle, ccxt or file", shown="the market source",
        what="`bundle`, `ccxt` or `file` (funding and mark files required; the OI / long-short / taker file optional, "
        "its metrics missing with coverage 0 when absent)")] = None  # fmt: skip
    social_source: Annotated[str | None, _var("QUANT_ASSETS_SOCIAL_SOURCE", None, one_of("bundle", "file"), "bundle or file",
        what="`bundle` or `file`", shown="the market source, `bundle` when that is `ccxt`")] = None  # fmt: skip
    social_file_drop: Annotated[str | None, _var("QUANT_ASSETS_SOCIAL_FILE_DROP", None,
        what="folder of scraped Reddit files for the `file` social source", shown="`QUANT_ASSETS_FILE_DROP`")] = None  # fmt: skip

    @property
    def derivatives(self) -> str:
        return self.derivatives_source or self.market_source

    @property
    def social(self) -> str:
        return self.social_source or (self.market_source if self.market_source != "ccxt" else "bundle")

    def drop_folder(self, reader: str, *, social: bool = False) -> str:
        """The file drop a ``file`` source reads (the social one's own, else the common one):
        required, and a folder that exists, only when such a source is chosen."""
        if social and self.social_file_drop:
            name, raw = "QUANT_ASSETS_SOCIAL_FILE_DROP", self.social_file_drop
        else:
            name, raw = "QUANT_ASSETS_FILE_DROP", self.file_drop
        return check(name, raw, local_folder, f"the folder of dropped files that {reader} reads")


class Embedding(Group):
    title: ClassVar[str] = "Embeddings"
    device: Annotated[str, _var("QUANT_ASSETS_EMBEDDING_DEVICE", "cpu", str, "a torch device, e.g. cpu or cuda",
        what="torch device of the embedding model")]  # fmt: skip
    batch: Annotated[int, _var("QUANT_ASSETS_EMBEDDING_BATCH", "64", positive_int, "texts per batch, e.g. 64",
        what="texts per embedding batch")]  # fmt: skip


class Text(Group):
    title: ClassVar[str] = "Text"
    latent_dims: Annotated[tuple[int, int], _var("QUANT_ASSETS_TEXT_LATENT_DIMS", "32,32", latent_dims,
        "'post,comment', e.g. '32,32'", what="post and comment latent sizes (part of the text_latents schema)")]  # fmt: skip
    fit_lookback_days: Annotated[int, _var("QUANT_ASSETS_TEXT_FIT_LOOKBACK_DAYS", "30", positive_int, "a whole number of days, e.g. 30",
        what="days of text before a partition that its projection is fitted on")]  # fmt: skip
    min_fit_texts: Annotated[int, _var("QUANT_ASSETS_TEXT_MIN_FIT_TEXTS", "64", bounded(int, 0), "a whole number of texts, e.g. 64",
        what="fewest texts to fit a projection; with fewer, the tower's latents are missing")]  # fmt: skip
    collection_lag: Annotated[timedelta, _var("QUANT_ASSETS_TEXT_COLLECTION_LAG", "10m", duration, "a duration such as 10m, 90s or 1h",
        what="how long after it is written a text can first have been collected (`10m`, `90s`, `1h`): "
        "`social_text.available_at = max(created_at + lag, first_seen_at)`")]  # fmt: skip


class Features(Group):
    title: ClassVar[str] = "Features"
    prefix_samples: Annotated[str, _var("QUANT_ASSETS_FEATURE_PREFIX_SAMPLES", "3", sample_rows, "a whole number of rows or all",
        what="random rows per partition the prefix-invariance check recomputes, or `all`")]  # fmt: skip


class Labels(Group):
    title: ClassVar[str] = "Labels and costs"
    round_trip_cost_bps: Annotated[float | None, _var("QUANT_ASSETS_ROUND_TRIP_COST_BPS", None, round_trip_bps,
        "basis points for a whole round trip, 0 <= bps < 10000, e.g. 22",
        what="round-trip cost every net label, backtest and signal charges",
        shown="2 x (taker fee + 1 bp): `22` spot, `12` swap")] = None  # fmt: skip
    samples: Annotated[int, _var("QUANT_ASSETS_LABEL_SAMPLES", "20", positive_int, "random rows per partition, e.g. 20",
        what="random rows per labels partition the recompute check checks, besides the first and last")]  # fmt: skip


class Training(Group):
    title: ClassVar[str] = "Models and training"
    train_days: Annotated[int, _var("QUANT_ASSETS_TRAIN_DAYS", DEFAULT_TRAIN_DAYS, positive_int, "a whole number of days, e.g. 90",
        what="a model's fit window, days before its refit anchor (at least 14)")]  # fmt: skip
    refit_days: Annotated[int, _var("QUANT_ASSETS_REFIT_DAYS", DEFAULT_REFIT_DAYS, positive_int, "a whole number of days, e.g. 7",
        what="refit cadence: days sharing an anchor share one fit")]  # fmt: skip


class Study(Group):
    title: ClassVar[str] = "Study"
    processes: Annotated[int, _var("QUANT_ASSETS_STUDY_PROCESSES", _cpu_count, positive_int, "a number of processes, e.g. 2",
        what="processes a `quant-assets study` step whose symbols are independent runs in at once, one group of symbols each",
        shown="the CPU count")]  # fmt: skip


class Evaluation(Group):
    title: ClassVar[str] = "Evaluation and gate"
    oos_summary_samples: Annotated[int, _var("QUANT_ASSETS_OOS_SUMMARY_SAMPLES", "20", positive_int, SAMPLES_EXPECT,
        what="oos_eval partitions per run whose summaries are recomputed from their rows, besides the first and last")]  # fmt: skip
    verdict_reproduce_samples: Annotated[int, _var("QUANT_ASSETS_VERDICT_REPRODUCE_SAMPLES", "20", positive_int, SAMPLES_EXPECT,
        what="gate_verdict partitions per run (besides the first and last) that `gate_verdict_reproduces` judges again")]  # fmt: skip
    elsewhere: ClassVar[tuple[Var, ...]] = (
        _var("QUANT_ASSETS_GATE_*", None, what="gate thresholds of the evaluation library (`..._SHARPE_FLOOR`, `..._MIN_DSR`, "
             "`..._MAX_PBO`, ...), read and checked by `evaluation.gate.Thresholds.from_env`",
             shown="see [Evaluation library](models.md#evaluation-library)"),
    )  # fmt: skip


class Bundles(Group):
    title: ClassVar[str] = "Offline bundles"
    # Read by bundles.limits.BundleLimits.from_env (its own one-line BundleError, any mapping).
    elsewhere: ClassVar[tuple[Var, ...]] = (
        _var("QUANT_ASSETS_BUNDLE_MAX_BYTES", None, shown="16 GiB",
             what="largest bundle an import unpacks ([Offline bundles](operations.md#offline-bundles))"),
        _var("QUANT_ASSETS_BUNDLE_MAX_RATIO", None, what="largest unpacked / packed size ratio an import accepts", shown="`20`"),
        _var("QUANT_ASSETS_BUNDLE_LOCK_TIMEOUT", None, what="seconds an import or export waits for another to finish", shown="`900`"),
    )  # fmt: skip


class Instance(Group):
    title: ClassVar[str] = "Dagster instance"
    pg_url: Annotated[str, _var("QUANT_ASSETS_PG_URL", "", postgres_url, "postgresql+psycopg2://USER@HOST:PORT/DB, or unset for SQLite",
        what="PostgreSQL URL of the Dagster instance ([PostgreSQL instead of SQLite](operations.md#postgresql-instead-of-sqlite)); "
        "dagster.postgres.yaml reads it with `env:`", shown="unset: SQLite")] = Field(repr=False)  # fmt: skip


class Execution(Group):
    title: ClassVar[str] = "Execution"
    executor: Annotated[str, _var("QUANT_ASSETS_EXECUTOR", "in_process", one_of(*EXECUTORS), "in_process, multiprocess or celery",
        what="executor of every run: `in_process`, `multiprocess` (Dagster's process per step) or `celery` "
        "(steps on `quant-assets worker` processes)")]  # fmt: skip
    celery_broker: Annotated[str, _var("QUANT_ASSETS_CELERY_BROKER", DEFAULT_BROKER, broker_url, "a broker URL, e.g. redis://127.0.0.1:6379/0",
        what="Celery broker: `redis://`, `rediss://`, `amqp://` (RabbitMQ), `amqps://`, `pyamqp://`")]  # fmt: skip
    celery_backend: Annotated[str | None, _var("QUANT_ASSETS_CELERY_BACKEND", None, str,
        "a Celery result backend URL, e.g. redis://127.0.0.1:6379/0",
        what="Celery result backend the workers return step events through", shown="the broker when Redis, else `rpc://`")] = None  # fmt: skip
    celery_queue: Annotated[str, _var("QUANT_ASSETS_CELERY_QUEUE", DEFAULT_QUEUE, queue_name, "a queue name, e.g. dagster",
        what="queue steps go to and `quant-assets worker` listens on")]  # fmt: skip
    celery_concurrency: Annotated[int, _var("QUANT_ASSETS_CELERY_CONCURRENCY", _cpu_count, positive_int, "a number of processes, e.g. 4",
        what="steps one `quant-assets worker` runs at once", shown="the CPU count")]  # fmt: skip

    @property
    def backend(self) -> str:
        if self.celery_backend:
            return self.celery_backend
        return self.celery_broker if self.celery_broker.startswith(("redis://", "rediss://")) else "rpc://"


class Automation(Group):
    title: ClassVar[str] = "Automation and freshness"
    daily_minute: Annotated[int, _var("QUANT_ASSETS_DAILY_MINUTE", "10", bounded(int, 0, 59), "a minute of the hour, 0-59, e.g. 10",
        what="minutes after 00:00 UTC at which `daily_sources` materializes yesterday's partitions of the external sources (0-59)")]  # fmt: skip
    intraday_minutes: Annotated[int, _var("QUANT_ASSETS_INTRADAY_MINUTES", "60", positive_int,
        "minutes that tile the day on the 5m grid, e.g. 15, 60 or 120",
        what="minutes between `intraday_sources` refreshes of today's partial partitions; must tile the day on the 5m grid "
        "(5, 10, 15, 20, 30, 60, 120, ...); `1440` turns them off")]  # fmt: skip
    inbox_settle_s: Annotated[float, _var("QUANT_ASSETS_INBOX_SETTLE_S", "10", bounded(float, 0), "seconds, e.g. 10",
        what="seconds a file in `$QUANT_ASSETS_HOME/inbox/` must be left untouched before the inbox sensor reads it")]  # fmt: skip
    # Each source's staleness limit is declared with the source (catalog.max_age_settings, read by catalog.max_age).
    elsewhere: ClassVar[tuple[Var, ...]] = (
        _var("QUANT_ASSETS_MAX_BAR_AGE_S", None, what="how old the newest bar may be: the serving data halt (`DATA_STALE_BARS`) "
             "and, plus one intraday cadence, `market_bars`' freshness policy", shown="`600`"),
        _var("QUANT_ASSETS_MAX_DERIVATIVES_AGE_S", None, what="the same for `derivatives` (freshness policy only)", shown="`7200`"),
        _var("QUANT_ASSETS_MAX_SOCIAL_AGE_S", None, what="the same for `social_text` (freshness policy only)", shown="`172800`"),
        _var("QUANT_ASSETS_SERVING_MAX_BAR_AGE_S", None, what="renamed `QUANT_ASSETS_MAX_BAR_AGE_S`; refused, with that line, if set",
             shown="(none)"),
    )  # fmt: skip


class Mlflow(Group):
    title: ClassVar[str] = "MLflow"
    pg_url: Annotated[str, _var("QUANT_ASSETS_MLFLOW_PG_URL", "", psycopg2_url, "postgresql+psycopg2://user@host:5432/db",
        what="MLflow backend store on PostgreSQL, `postgresql+psycopg2://user@host:5432/db`",
        shown="unset: SQLite under the home")] = Field(repr=False)  # fmt: skip
    tracking_uri: Annotated[str, _var("QUANT_ASSETS_MLFLOW_TRACKING_URI", "", str, "a tracking server, e.g. http://mlflow:5000",
        what="a running MLflow tracking server instead of a store of our own", shown="unset")] = Field(repr=False)  # fmt: skip
    artifacts: Annotated[str, _var("QUANT_ASSETS_MLFLOW_ARTIFACTS", "", str, "an artifact root, e.g. s3://bucket/mlflow",
        what="MLflow artifact root (any location MLflow writes, e.g. `s3://bucket/mlflow`)", shown="`<home>/mlflow/artifacts`")]  # fmt: skip
    ui_url: Annotated[str, _var("QUANT_ASSETS_MLFLOW_UI_URL", "http://127.0.0.1:5000", str,
        "the MLflow UI's address, e.g. http://127.0.0.1:5000", what="where the `mlflow_run` links in asset metadata point")]  # fmt: skip


class Portfolio(Group):
    title: ClassVar[str] = "Portfolio: what serving and the evaluation's portfolio series trade"
    family: Annotated[str, _var("QUANT_ASSETS_SERVING_FAMILY", "lgbm", one_of(*SERVED_FAMILIES), "lgbm, mhnet or mean",
        what="which family's prediction trades: `lgbm`, `mhnet` or `mean` of the two")]  # fmt: skip
    horizon_weights: Annotated[str, _var("QUANT_ASSETS_SERVING_HORIZON_WEIGHTS", "1h=0.25,4h=0.25,1d=0.25,7d=0.25", str,
        "e.g. 1h=0.25,4h=0.25,1d=0.25,7d=0.25",
        what="weight of each horizon's position in a symbol's target (horizons left out weigh 0 and load no model)")]  # fmt: skip
    risk_budget: Annotated[float, _var("QUANT_ASSETS_SERVING_RISK_BUDGET", "0.5", fraction, "a share of capital in (0, 1], e.g. 0.5",
        what="share of capital a full signal deploys")]  # fmt: skip
    max_gross: Annotated[float, _var("QUANT_ASSETS_SERVING_MAX_GROSS", "1", positive, "a share of capital, e.g. 1",
        what="gross notional cap across symbols, as a share of capital (per-symbol cap: `QUANT_ASSETS_RISK_MAX_POSITION`)")]  # fmt: skip
    min_change: Annotated[float, _var("QUANT_ASSETS_SERVING_MIN_CHANGE", "0.002", non_negative, "a share of capital, e.g. 0.002",
        what="no order for a change of notional below this share of capital")]  # fmt: skip
    max_position: Annotated[float, _var("QUANT_ASSETS_RISK_MAX_POSITION", "0.25", fraction,
        "a symbol's notional as a fraction of equity, e.g. 0.25",
        what="refuse an order that takes a symbol's notional above this fraction of equity")]  # fmt: skip


EXCHANGE_KEYS = ("QUANT_ASSETS_EXCHANGE_API_KEY", "QUANT_ASSETS_EXCHANGE_API_SECRET")
SANDBOX_KEYS = ("QUANT_ASSETS_EXCHANGE_SANDBOX_API_KEY", "QUANT_ASSETS_EXCHANGE_SANDBOX_API_SECRET")


class Trading(Group):
    title: ClassVar[str] = "Trading: ledger, paper fills, risk, serving"
    ledger_url: Annotated[str | None, _var("QUANT_ASSETS_LEDGER_URL", None, str,
        "a SQLAlchemy URL, e.g. postgresql+psycopg2://user@host:5432/ledger",
        what="the trading ledger's database, e.g. `postgresql+psycopg2://user@host:5432/ledger` "
        "([Trading ledger and execution](trading.md#trading-ledger-and-execution))",
        shown="unset: SQLite under `<home>/ledger`")] = Field(None, repr=False)  # fmt: skip
    exchange_sandbox: Annotated[bool, _var("QUANT_ASSETS_EXCHANGE_SANDBOX", "false", flag, "true or false",
        what="`true`: the live adapter trades on the venue's testnet (ccxt `set_sandbox_mode`) with the keys below, "
        "in the book `live/<strategy>-testnet`")]  # fmt: skip
    paper_fee_bps: Annotated[float, _var("QUANT_ASSETS_PAPER_FEE_BPS", "10", non_negative, "basis points, e.g. 10",
        what="paper fee per fill, in bps of its notional, charged in the quote currency")]  # fmt: skip
    paper_slippage_bps: Annotated[float, _var("QUANT_ASSETS_PAPER_SLIPPAGE_BPS", "1", non_negative, "basis points, e.g. 1",
        what="paper fill price moves this far against the order from the next bar's open")]  # fmt: skip
    paper_max_volume_share: Annotated[float, _var("QUANT_ASSETS_PAPER_MAX_VOLUME_SHARE", "0.1", fraction,
        "a share of the bar's volume in (0, 1], e.g. 0.1",
        what="largest share of the next bar's volume a paper order fills; the rest expires")]  # fmt: skip
    risk_max_daily_loss: Annotated[float, _var("QUANT_ASSETS_RISK_MAX_DAILY_LOSS", "0.02", fraction,
        "a fraction of the day's starting equity, e.g. 0.02",
        what="halt new risk when equity is this fraction below the day's start")]  # fmt: skip
    risk_max_consecutive_losses: Annotated[int, _var("QUANT_ASSETS_RISK_MAX_CONSECUTIVE_LOSSES", "5", positive_int,
        "a whole number of losing closes, e.g. 5", what="halt new risk after this many losing closing fills in a row")]  # fmt: skip
    risk_max_drawdown: Annotated[float, _var("QUANT_ASSETS_RISK_MAX_DRAWDOWN", "0.03", fraction,
        "a fraction below the day's equity peak, e.g. 0.03",
        what="halt new risk when equity is this fraction below the day's peak")]  # fmt: skip
    strategy: Annotated[str, _var("QUANT_ASSETS_SERVING_STRATEGY", "champion", str, "a book name, e.g. champion",
        what="the book the paper and live sensors trade in the ledger ([Serving](trading.md#serving))")]  # fmt: skip
    capital: Annotated[float, _var("QUANT_ASSETS_SERVING_CAPITAL", "100000", positive, "quote currency, e.g. 100000",
        what="quote notional a full combined position stands for; the paper book's starting cash")]  # fmt: skip
    flatten_without_champion: Annotated[bool, _var("QUANT_ASSETS_SERVING_FLATTEN_WITHOUT_CHAMPION", "true", flag, "true or false",
        what="a horizon whose `champion` alias is removed is flattened by the next tick (`NO_CHAMPION_FLATTEN`); "
        "`false` holds its last decision")]  # fmt: skip
    max_missing_sources: Annotated[int, _var("QUANT_ASSETS_SERVING_MAX_MISSING_SOURCES", "1", bounded(int, 0),
        "a whole number of sources, e.g. 1", what="data halt when more feature sources than this have no record in the row")]  # fmt: skip
    max_drift: Annotated[float, _var("QUANT_ASSETS_SERVING_MAX_DRIFT", "5", positive, "a mean |z-score|, e.g. 5",
        what="data halt when the row's mean abs z-score against the champion's fit window exceeds this")]  # fmt: skip
    # Secrets: never values of the model. They reach the code only as Dagster EnvVars of the
    # exchange_account resource (serving.settings.exchange_account).
    elsewhere: ClassVar[tuple[Var, ...]] = (
        _var(EXCHANGE_KEYS[0], None, what="exchange API key of the live adapter; with the secret, one of the two conditions of live trading"),
        _var(EXCHANGE_KEYS[1], None, what="its secret; both reach the code only as `EnvVar`s of the `exchange_account` resource "
             "and are written nowhere"),
        _var(SANDBOX_KEYS[0], None, what="testnet API key; refused while sandbox is off, as the real keys are while it is on"),
        _var(SANDBOX_KEYS[1], None, what="its secret"),
    )  # fmt: skip


class Settings:
    """Every ``QUANT_ASSETS_*`` variable, one group per area. A group is read from the
    environment the first time it is used and kept with this object, which ``current()`` keeps
    for as long as the ``QUANT_ASSETS_*`` environment is the same."""

    def __init__(self, snapshot: frozenset = frozenset()):
        self.snapshot = snapshot

    home = functools.cached_property(lambda self: Home())
    s3 = functools.cached_property(lambda self: S3())
    calendar = functools.cached_property(lambda self: Calendar())
    sources = functools.cached_property(lambda self: Sources())
    embedding = functools.cached_property(lambda self: Embedding())
    text = functools.cached_property(lambda self: Text())
    features = functools.cached_property(lambda self: Features())
    labels = functools.cached_property(lambda self: Labels())
    training = functools.cached_property(lambda self: Training())
    study = functools.cached_property(lambda self: Study())
    evaluation = functools.cached_property(lambda self: Evaluation())
    bundles = functools.cached_property(lambda self: Bundles())
    instance = functools.cached_property(lambda self: Instance())
    execution = functools.cached_property(lambda self: Execution())
    automation = functools.cached_property(lambda self: Automation())
    mlflow = functools.cached_property(lambda self: Mlflow())
    portfolio = functools.cached_property(lambda self: Portfolio())
    trading = functools.cached_property(lambda self: Trading())


# The docs' table, in this order.
GROUPS: tuple[type[Group], ...] = (
    Home, S3, Calendar, Sources, Embedding, Text, Features, Labels, Training, Study, Evaluation,
    Bundles, Instance, Execution, Automation, Mlflow, Portfolio, Trading,
)  # fmt: skip
PREFIX = "QUANT_ASSETS_"
_current: Settings | None = None


def current() -> Settings:
    """The settings of the environment as it is now: read once, and again only after a
    ``QUANT_ASSETS_*`` variable changed (a test's monkeypatch, ``quant-assets study`` settling its universe)."""
    global _current
    snapshot = frozenset((k, v) for k, v in os.environ.items() if k.startswith(PREFIX))
    cached = _current
    if cached is None or cached.snapshot != snapshot:
        cached = _current = Settings(snapshot)
    return cached


def declared(name: str) -> Var:
    """The declaration of the variable ``name``."""
    for group in GROUPS:
        for var in group.variables().values():
            if var.name == name:
                return var
    raise KeyError(name)
