"""The one-line error of a bad setting, and the parsers that check each value.

``SettingsError`` is the error a ``QUANT_ASSETS_*`` variable that cannot be used raises: one
line naming the variable, its value, what was wrong and what a good value looks like.
``check`` and ``read`` raise it around a parser; the parsers here (``one_of``, ``bounded``,
``lake_location``, ``symbol_keys``, ``duration``, ...) raise ``ValueError`` and leave the
line to them. ``exit_on_settings_error`` turns the error into a one-line exit.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from quant_assets.symbols import Symbol

T = TypeVar("T")


class SettingsError(ValueError):
    """A ``QUANT_ASSETS_*`` variable that cannot be used; the message is one line naming it."""


def hide_password(url: str) -> str:
    """``scheme://user:***@host``: a URL fit for a message (unchanged when it has no password)."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def check(name: str, raw: str | None, parse: Callable[[str], T] = str, expect: str = "a value") -> T:
    """``raw`` (the value of the variable ``name``, None when it is unset and has no default)
    parsed by ``parse``; a ``SettingsError`` of one line naming the variable when it cannot be.
    The value is shown with any URL password hidden: the message reaches logs and the UI."""
    if raw is None:
        raise SettingsError(f"{name} is not set; expected {expect}")
    try:
        return parse(raw)
    except ValueError as err:
        reason = " ".join(hide_password(str(err)).split())  # one line, whatever the parser said
        raise SettingsError(f"{name}={hide_password(raw)!r} is not usable ({reason}); expected {expect}") from None


def read(name: str, default: str | None, parse: Callable[[str], T] = str, expect: str = "a value") -> T:
    """The environment variable ``name`` parsed by ``parse``; unset or blank means ``default``.

    ``default=None`` makes the variable required. When it is missing, or ``parse`` raises
    ``ValueError``, this raises ``SettingsError`` with one line: the variable, its value, what
    was wrong and ``expect`` (what a good value looks like). The model (``groups.current()``)
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
