"""What an import may unpack, and how long bundle commands wait for each other: settings.

A bundle comes from elsewhere, so its claims are bounded before they are believed: the total
it may unpack (disk), how much bigger than the archive it may inflate (a gzip bomb is a few
kilobytes that inflate to gigabytes; real bundles of parquet files inflate about 1.5x), and
how long an import or export waits for the one already running in the same home.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Mapping

from quant_assets.bundles.manifest import BundleError

MAX_BYTES_ENV = "QUANT_ASSETS_BUNDLE_MAX_BYTES"
MAX_RATIO_ENV = "QUANT_ASSETS_BUNDLE_MAX_RATIO"
LOCK_TIMEOUT_ENV = "QUANT_ASSETS_BUNDLE_LOCK_TIMEOUT"

# Tar pads even a tiny archive to 10 KiB records, which gzip squeezes to a few dozen bytes:
# the ratio cap applies beyond this much, so a small honest bundle is never a "bomb".
RATIO_SLACK_BYTES = 1 << 20


@dataclass(frozen=True)
class BundleLimits:
    max_bytes: int = 16 << 30  # unpacked bytes of one bundle
    max_ratio: float = 20.0  # unpacked bytes per archive byte
    lock_timeout_s: float = 900.0  # how long to wait for another import or export

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "BundleLimits":
        """The limits from the environment; a bad value is a ``BundleError`` naming its variable."""
        env = os.environ if env is None else env
        default = cls()
        return cls(
            max_bytes=_read(env, MAX_BYTES_ENV, default.max_bytes, int, 1, "a whole number of bytes, at least 1"),
            max_ratio=_read(env, MAX_RATIO_ENV, default.max_ratio, float, 1.0, "a number, at least 1"),
            lock_timeout_s=_read(env, LOCK_TIMEOUT_ENV, default.lock_timeout_s, float, 0.0, "seconds, at least 0"),
        )

    def unpack_ceiling(self, archive_bytes: int) -> tuple[int, str]:
        """The most an archive of ``archive_bytes`` may unpack to, and the setting that says so."""
        by_ratio = int(self.max_ratio * archive_bytes) + RATIO_SLACK_BYTES
        if by_ratio < self.max_bytes:
            return by_ratio, f"{self.max_ratio:g}x its {archive_bytes} bytes ({MAX_RATIO_ENV}); refused as a decompression bomb"
        return self.max_bytes, f"{self.max_bytes} bytes ({MAX_BYTES_ENV})"


def _read(env: Mapping[str, str], name: str, default, kind: type, least, what: str):
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or value < least:
        raise BundleError(f"{name}={raw!r} is not {what}")
    return value
