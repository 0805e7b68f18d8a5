"""Shortcuts to the values most code reads: the home's layout, the S3 endpoint, the universe,
the first partition day and the fit window and refit cadence, each from ``current()``.
"""

from __future__ import annotations

from datetime import date

from quant_assets.settings.groups import current
from quant_assets.settings.layout import HomeLayout


def home() -> HomeLayout:
    layout = current().home.layout()
    if layout.lake.startswith("s3://"):
        s3_endpoint_url()  # a bad endpoint fails here, when the project loads, not at the first write
    return layout


def s3_endpoint_url() -> str | None:
    """The S3-compatible server of an ``s3://`` lake (``QUANT_ASSETS_S3_ENDPOINT_URL``, e.g.
    MinIO); None leaves it to botocore: ``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL``, the
    AWS config file, else AWS itself."""
    return current().s3.endpoint_url


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
