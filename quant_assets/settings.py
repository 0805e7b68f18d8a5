"""Where state lives and what the universe is, read from the environment once.

Everything the platform writes (the parquet lake, the Dagster instance, the MLflow store,
the trading ledger, unpacked bundles, caches) lives under one root, ``QUANT_ASSETS_HOME``.
A test or a second deployment is one environment variable away. The lake alone may live
elsewhere, e.g. in an S3 bucket a team shares: ``QUANT_ASSETS_LAKE_ROOT=s3://bucket/prefix``
(with ``QUANT_ASSETS_S3_ENDPOINT_URL`` for an S3-compatible server).

Partition definitions must exist when Dagster loads the code location, so the universe and
the first partition day are environment settings rather than run config.

Every ``QUANT_ASSETS_*`` variable is declared once, in the typed model below (``Settings``:
one ``Group`` per area, each field with its variable, default, parser and description), and
read through ``current()``; a bad value is one ``SettingsError`` line naming the variable,
never a traceback from deep inside a parser. The docs' table (docs/settings.md) is generated
from the model: ``python -m quant_assets.settings`` rewrites it.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import subprocess
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any, ClassVar, TypeVar
from urllib.parse import urlsplit

from pydantic import Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from quant_assets.symbols import Symbol

T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_HOME = REPO_ROOT / ".quant_assets_home"

DEFAULT_SYMBOLS = "BTC-USDT,ETH-USDT,SOL-USDT"
DEFAULT_START_DATE = "2025-06-01"


@dataclass(frozen=True)
class HomeLayout:
    """The folders under ``QUANT_ASSETS_HOME``; nothing outside it is written, except the
    lake when ``QUANT_ASSETS_LAKE_ROOT`` puts it elsewhere (``lake_root``)."""

    root: str
    lake_root: str | None = None

    @property
    def lake(self) -> str:
        """The lake; its staging and quarantine areas are its siblings (``../staging``)."""
        return self.lake_root or _join(self.root, "lake")

    @property
    def dagster_home(self) -> str:
        return _join(self.root, "dagster")

    @property
    def mlflow(self) -> str:
        return _join(self.root, "mlflow")

    @property
    def ledger(self) -> str:
        return _join(self.root, "ledger")

    @property
    def reports(self) -> str:
        """Study reports (``study_report``): one self-contained HTML page per study."""
        return _join(self.root, "reports")

    @property
    def bundles(self) -> str:
        """Verified, imported bundles are unpacked here; the ``bundle`` source reads from them."""
        return _join(self.root, "bundles")

    @property
    def cache(self) -> str:
        return _join(self.root, "cache")


def _join(root: str, name: str) -> str:
    # Roots may be URLs (s3://bucket/prefix) as well as local paths.
    return root.rstrip("/") + "/" + name


class SettingsError(ValueError):
    """A ``QUANT_ASSETS_*`` variable that cannot be used; the message is one line naming it."""


def check(name: str, raw: str | None, parse: Callable[[str], T] = str, expect: str = "a value") -> T:
    """``raw`` (the value of the variable ``name``, None when it is unset and has no default)
    parsed by ``parse``; a ``SettingsError`` of one line naming the variable when it cannot be."""
    if raw is None:
        raise SettingsError(f"{name} is not set; expected {expect}")
    try:
        return parse(raw)
    except ValueError as err:
        reason = " ".join(str(err).split())  # one line, whatever the parser said
        raise SettingsError(f"{name}={raw!r} is not usable ({reason}); expected {expect}") from None


def read(name: str, default: str | None, parse: Callable[[str], T] = str, expect: str = "a value") -> T:
    """The environment variable ``name`` parsed by ``parse``; unset or blank means ``default``.

    ``default=None`` makes the variable required. When it is missing, or ``parse`` raises
    ``ValueError``, this raises ``SettingsError`` with one line: the variable, its value, what
    was wrong and ``expect`` (what a good value looks like). The model below (``current()``)
    reads every ``QUANT_ASSETS_*`` variable through it.
    """
    return check(name, os.environ.get(name, "").strip() or default, parse, expect)


def is_set(name: str) -> bool:
    return bool(os.environ.get(name, "").strip())


def one_of(*choices: str) -> Callable[[str], str]:
    """A parser that accepts exactly one of ``choices``."""

    def parse(raw: str) -> str:
        if raw not in choices:
            raise ValueError(f"not one of {', '.join(choices)}")
        return raw

    return parse


def bounded(convert: Callable[[str], T], low=None, high=None, *, above: bool = False) -> Callable[[str], T]:
    """A parser: ``convert`` the value, then require ``low <= value`` (``low < value`` with
    ``above``) and ``value <= high``; either bound may be None."""

    def parse(raw: str) -> T:
        value = convert(raw)
        if low is not None and (value <= low if above else value < low):
            raise ValueError(f"must be {'above' if above else 'at least'} {low}")
        if high is not None and value > high:
            raise ValueError(f"must be at most {high}")
        return value

    return parse


positive_int = bounded(int, 1)


def local_folder(raw: str) -> str:
    """A folder that exists (URLs such as ``s3://...`` are taken as they are)."""
    if "://" not in raw and not Path(raw).is_dir():
        raise ValueError("no such folder")
    return raw


_S3_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def lake_location(raw: str) -> str:
    """A local folder (created on the first write) or ``s3://bucket/prefix``, normalised
    without a trailing slash. The prefix is required: staging and quarantine are the lake's
    siblings, so the lake needs a folder of its own below the bucket."""
    if "://" not in raw:
        return raw
    scheme, _, rest = raw.partition("://")
    if scheme != "s3":
        raise ValueError(f"{scheme}:// is not supported")
    bucket, _, prefix = rest.partition("/")
    if not _S3_BUCKET.fullmatch(bucket):
        raise ValueError(f"{bucket!r} is not an S3 bucket name")
    prefix = prefix.strip("/")
    if not prefix:
        raise ValueError("no prefix below the bucket (staging and quarantine live beside the lake)")
    return f"s3://{bucket}/{prefix}"


def http_url(raw: str) -> str:
    """``http(s)://host[:port]``, e.g. an S3-compatible server's endpoint."""
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("not an http:// or https:// address")
    parts.port  # raises ValueError on a bad port
    return raw.rstrip("/")


def symbol_keys(raw: str) -> list[str]:
    """``BTC-USDT,ETH-USDT`` -> partition keys, each checked, no duplicates."""
    keys = [Symbol.from_key(s.strip()).key for s in raw.split(",") if s.strip()]
    if not keys:
        raise ValueError("no symbols")
    duplicated = sorted({k for k in keys if keys.count(k) > 1})
    if duplicated:
        raise ValueError(f"{', '.join(duplicated)} listed twice")
    return keys


@contextmanager
def exit_on_settings_error() -> Iterator[None]:
    """Turn a ``SettingsError`` into a one-line exit (status 1), for code that runs when
    Dagster or the CLI loads the project: a user sees the variable to fix, not a traceback."""
    try:
        yield
    except SettingsError as err:
        raise SystemExit(f"quant_assets: {err}") from None


def flag(raw: str) -> bool:
    """``true`` or ``false`` (any case)."""
    return one_of("true", "false")(raw.lower()) == "true"


fraction = bounded(float, 0, 1, above=True)
non_negative = bounded(float, 0)
positive = bounded(float, 0, above=True)


def postgres_url(raw: str) -> str:
    if raw and not raw.startswith("postgresql"):
        raise ValueError("not a postgresql:// URL")
    return raw


def psycopg2_url(raw: str) -> str:
    if raw and not raw.startswith("postgresql+psycopg2://"):
        raise ValueError("SQLAlchemy 2.1 needs the explicit driver")
    return raw


BROKER_SCHEMES = ("redis", "rediss", "amqp", "amqps", "pyamqp")


def broker_url(raw: str) -> str:
    scheme = raw.split("://", 1)[0] if "://" in raw else ""
    if scheme not in BROKER_SCHEMES:
        raise ValueError(f"not a {', '.join(s + '://' for s in BROKER_SCHEMES)} URL")
    return raw


def queue_name(raw: str) -> str:
    if not raw.replace("_", "").replace("-", "").isalnum():
        raise ValueError("letters, digits, '-' and '_' only")
    return raw


def round_trip_bps(raw: str) -> float:
    bps = float(raw)
    if not 0 <= bps < 1e4:
        raise ValueError("out of range")
    return bps


def duration(raw: str) -> timedelta:
    """``10m``, ``90s``, ``1h`` or plain seconds; not negative."""
    raw = raw.strip().lower()
    units = {"s": 1, "m": 60, "h": 3600}
    number, unit = (raw[:-1], raw[-1]) if raw and raw[-1] in units else (raw, "s")
    seconds = float(number) * units[unit]
    if seconds < 0:
        raise ValueError("must not be negative")
    return timedelta(seconds=seconds)


def latent_dims(raw: str) -> tuple[int, int]:
    """``post,comment`` (or ``post+comment``) latent sizes, each 1-384."""
    post, comment = (int(x) for x in raw.replace("+", ",").split(","))
    if not (1 <= post <= 384 and 1 <= comment <= 384):
        raise ValueError("each size must be 1-384")
    return post, comment


def sample_rows(raw: str) -> str:
    """``all`` or a whole number of rows (kept as text: it is a check's config default)."""
    if raw != "all":
        bounded(int, 0)(raw)
    return raw


def _cpu_count() -> str:
    return str(os.cpu_count() or 1)


# --- The settings model: every QUANT_ASSETS_* variable, declared once, grouped by area ------


@dataclass(frozen=True)
class Var:
    """One environment variable: its name, its default as text (parsed like a set value; None:
    unset leaves the field None; a function: computed when read), the parser that checks it,
    what a good value looks like (``expect``), what it does (``what``, the docs' column) and the
    default as the docs show it where that is not the text itself (``shown``)."""

    name: str
    default: str | Callable[[], str] | None
    parse: Callable[[str], Any] = str
    expect: str = "a value"
    what: str = ""
    shown: str | None = None

    def raw(self) -> str | None:
        raw = os.environ.get(self.name, "").strip()
        if raw:
            return raw
        return self.default() if callable(self.default) else self.default

    def read(self) -> Any:
        """The parsed value, None when unset without a default; a bad value is one ``SettingsError`` line."""
        raw = self.raw()
        return None if raw is None else check(self.name, raw, self.parse, self.expect)

    def refine(self, parse: Callable[[str], T], raw: str | None = None) -> T:
        """The value (or ``raw``) through a stricter parser that only a domain above the settings
        knows (the exchanges ccxt has, the horizons, the bar grid), with this variable's one line."""
        return check(self.name, self.raw() if raw is None else raw, parse, self.expect)

    def default_text(self) -> str:
        if self.shown is not None:
            return self.shown
        if self.default is None or callable(self.default):
            return "unset"
        return f"`{self.default}`"


class _Environment(PydanticBaseSettingsSource):
    """The only source of a group: each field's ``Var`` read from the environment."""

    def get_field_value(self, field, field_name):  # not used: __call__ reads every field at once
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        values = {}
        for field, var in self.settings_cls.variables().items():
            value = var.read()
            if value is not None:
                values[field] = value
        return values


class Group(BaseSettings):
    """One area's variables. A group is read, and each of its values checked, the first time
    the area is used (``current().sources``), so a bad value stops what needs it, and only that."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", arbitrary_types_allowed=True)
    title: ClassVar[str] = ""
    # Variables of the area read by their own module, listed here for the docs' table: secrets
    # (Dagster EnvVars of a resource, never values in the model) and families a module checks itself.
    elsewhere: ClassVar[tuple[Var, ...]] = ()

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings):
        return (init_settings, _Environment(settings_cls))

    @classmethod
    def variables(cls) -> dict[str, Var]:
        """field -> its ``Var``."""
        return {name: next(m for m in f.metadata if isinstance(m, Var)) for name, f in cls.model_fields.items()}


def _var(name: str, default, parse=str, expect: str = "a value", *, what: str, shown: str | None = None) -> Var:
    return Var(name, default, parse, expect, what, shown)


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
    title: ClassVar[str] = "Home, lake and S3"
    root: Annotated[str, _var("QUANT_ASSETS_HOME", str(DEFAULT_HOME), str, "a folder or URL for all state",
        what="root of all state ([Where state lives](operations.md#where-state-lives))",
        shown="`.quant_assets_home/` in the checkout")]  # fmt: skip
    lake_root: Annotated[str | None, _var("QUANT_ASSETS_LAKE_ROOT", None, lake_location, LAKE_ROOT_EXPECT,
        what="the lake elsewhere: a local folder or `s3://bucket/prefix` (staging and quarantine beside it); "
        "see [The lake in S3](operations.md#the-lake-in-s3-or-minio)", shown="`<home>/lake`")] = None  # fmt: skip
    s3_endpoint_url: Annotated[str | None, _var("QUANT_ASSETS_S3_ENDPOINT_URL", None, http_url,
        "an http(s)://host[:port] address, e.g. http://127.0.0.1:9000",
        what="an S3-compatible server for an `s3://` lake, e.g. MinIO's `http://127.0.0.1:9000`",
        shown="(AWS, or `AWS_ENDPOINT_URL`)")] = None  # fmt: skip

    def layout(self) -> HomeLayout:
        return HomeLayout(self.root, self.lake_root)


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
    exchange: Annotated[str | None, _var("QUANT_ASSETS_EXCHANGE", None, str, "a ccxt exchange id, e.g. binance",
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
        what="minutes after 00:00 UTC at which `daily_sources` materialises yesterday's partitions of the external sources (0-59)")]  # fmt: skip
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
    Home, Calendar, Sources, Embedding, Text, Features, Labels, Training, Study, Evaluation,
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


def table() -> str:
    """The docs' settings table (docs/settings.md), generated from the model."""
    rows = ["| variable | default | what |", "|---|---|---|"]
    for group in GROUPS:
        for var in (*group.variables().values(), *group.elsewhere):
            rows.append(f"| `{var.name}` | {var.default_text()} | {var.what} |")
    return "\n".join(rows) + "\n"


DOCS = REPO_ROOT / "docs" / "settings.md"


def table_in_docs(text: str) -> str:
    """The table of docs/settings.md's text: from its header row to the first line not a row."""
    lines = text.splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if line.startswith("| variable |"))
    last = next((i for i in range(first, len(lines)) if not lines[i].startswith("|")), len(lines))
    return "".join(lines[first:last])


def write_docs() -> bool:
    """Replace docs/settings.md's table with ``table()``, keeping its prose; whether it changed."""
    text = DOCS.read_text()
    new = text.replace(table_in_docs(text), table(), 1)
    if new != text:
        DOCS.write_text(new)
    return new != text


def home() -> HomeLayout:
    return current().home.layout()


def s3_endpoint_url() -> str | None:
    """The S3-compatible server of an ``s3://`` lake (``QUANT_ASSETS_S3_ENDPOINT_URL``, e.g.
    MinIO); None leaves it to botocore: ``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL``, the
    AWS config file, else AWS itself."""
    return current().home.s3_endpoint_url


def universe() -> list[str]:
    """Symbol partition keys, e.g. ``["BTC-USDT", "ETH-USDT"]``."""
    return list(current().calendar.symbols)


def start_date() -> date:
    return current().calendar.start_date


def train_days() -> int:
    """Length of a model's fit window, in days (``QUANT_ASSETS_TRAIN_DAYS``, default 90)."""
    return current().training.train_days


def refit_days() -> int:
    """Refit cadence: days that share a cadence anchor share one fit (``QUANT_ASSETS_REFIT_DAYS``, default 7)."""
    return current().training.refit_days


@functools.cache
def code_version() -> str:
    """The git commit of the checkout (``+dirty`` with uncommitted changes), else 'unknown'.

    For people reading a run; what decides whether a fit can be reused is the digest of the
    model code itself (``quant_assets.models.plan.code_digest``).
    """
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if commit.returncode != 0:
        return "unknown"
    return commit.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def source_files(root: Path, entries: Iterable[str]) -> list[Path]:
    """The source files of ``entries`` (relative to ``root``): a package's ``*.py``, or the module named."""
    return sorted({p for entry in entries for p in ((root / entry).glob("*.py") if (root / entry).is_dir() else [root / entry])})


def source_digest(root: Path, entries: Iterable[str]) -> str:
    """SHA-256 over the source of ``source_files(root, entries)``, committed or not: a version
    of that code which changes when it does (unlike :func:`code_version`, the checkout's)."""
    digest = hashlib.sha256()
    for path in source_files(root, entries):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


if __name__ == "__main__":
    # python -m quant_assets.settings: rewrite docs/settings.md's table from the model.
    from quant_assets import settings as _settings  # the module itself, not this __main__ copy

    print("docs/settings.md " + ("rewritten from the model" if _settings.write_docs() else "already matches the model"))
