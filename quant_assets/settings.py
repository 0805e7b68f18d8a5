"""Where state lives and what the universe is, read from the environment once.

Everything the platform writes (the parquet lake, the Dagster instance, the MLflow store,
the trading ledger, landed bundles, caches) lives under one root, ``QUANT_ASSETS_HOME``.
A test or a second deployment is one environment variable away. The lake alone may live
elsewhere, e.g. in an S3 bucket a team shares: ``QUANT_ASSETS_LAKE_ROOT=s3://bucket/prefix``
(with ``QUANT_ASSETS_S3_ENDPOINT_URL`` for an S3-compatible server).

Partition definitions must exist when Dagster loads the code location, so the universe and
the first partition day are environment settings rather than run config.

Every ``QUANT_ASSETS_*`` variable is read through ``read``, so a bad value is one
``SettingsError`` line naming the variable, never a traceback from deep inside a parser.
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
from datetime import date
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

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
        """Verified, imported bundles land here; the ``bundle`` source reads from them."""
        return _join(self.root, "bundles")

    @property
    def cache(self) -> str:
        return _join(self.root, "cache")


def _join(root: str, name: str) -> str:
    # Roots may be URLs (s3://bucket/prefix) as well as local paths.
    return root.rstrip("/") + "/" + name


class SettingsError(ValueError):
    """A ``QUANT_ASSETS_*`` variable that cannot be used; the message is one line naming it."""


def read(name: str, default: str | None, parse: Callable[[str], T] = str, expect: str = "a value") -> T:
    """The environment variable ``name`` parsed by ``parse``; unset or blank means ``default``.

    ``default=None`` makes the variable required. When it is missing, or ``parse`` raises
    ``ValueError``, this raises ``SettingsError`` with one line: the variable, its value, what
    was wrong and ``expect`` (what a good value looks like).
    """
    raw = os.environ.get(name, "").strip()
    if not raw:
        if default is None:
            raise SettingsError(f"{name} is not set; expected {expect}")
        raw = default
    try:
        return parse(raw)
    except ValueError as err:
        reason = " ".join(str(err).split())  # one line, whatever the parser said
        raise SettingsError(f"{name}={raw!r} is not usable ({reason}); expected {expect}") from None


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


LAKE_ROOT_EXPECT = "a local folder or s3://bucket/prefix"


def home() -> HomeLayout:
    root = read("QUANT_ASSETS_HOME", str(DEFAULT_HOME), expect="a folder or URL for all state")
    lake_root = None
    if is_set("QUANT_ASSETS_LAKE_ROOT"):
        lake_root = read("QUANT_ASSETS_LAKE_ROOT", None, lake_location, LAKE_ROOT_EXPECT)
        if lake_root.startswith("s3://"):
            s3_endpoint_url()  # a bad endpoint fails here, when the project loads, not at the first write
    return HomeLayout(root, lake_root)


def s3_endpoint_url() -> str | None:
    """The S3-compatible server of an ``s3://`` lake (``QUANT_ASSETS_S3_ENDPOINT_URL``, e.g.
    MinIO); None leaves it to botocore: ``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL``, the
    AWS config file, else AWS itself."""
    if not is_set("QUANT_ASSETS_S3_ENDPOINT_URL"):
        return None
    return read("QUANT_ASSETS_S3_ENDPOINT_URL", None, http_url, "an http(s)://host[:port] address, e.g. http://127.0.0.1:9000")


def universe() -> list[str]:
    """Symbol partition keys, e.g. ``["BTC-USDT", "ETH-USDT"]``."""
    return read("QUANT_ASSETS_SYMBOLS", DEFAULT_SYMBOLS, symbol_keys, "comma-separated BASE-QUOTE keys, e.g. BTC-USDT,ETH-USDT")


def start_date() -> date:
    return read("QUANT_ASSETS_START_DATE", DEFAULT_START_DATE, date.fromisoformat, "the first UTC day, YYYY-MM-DD")


DEFAULT_TRAIN_DAYS = "90"
DEFAULT_REFIT_DAYS = "7"


def train_days() -> int:
    """Length of a model's fit window, in days (``QUANT_ASSETS_TRAIN_DAYS``, default 90)."""
    return read("QUANT_ASSETS_TRAIN_DAYS", DEFAULT_TRAIN_DAYS, positive_int, "a whole number of days, e.g. 90")


def refit_days() -> int:
    """Refit cadence: days that share a cadence anchor share one fit (``QUANT_ASSETS_REFIT_DAYS``, default 7)."""
    return read("QUANT_ASSETS_REFIT_DAYS", DEFAULT_REFIT_DAYS, positive_int, "a whole number of days, e.g. 7")


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
