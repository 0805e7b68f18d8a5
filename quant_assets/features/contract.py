"""The feature contract: the single definition of what a feature_matrix row is.

Training and serving import this module; the asset writes it into every partition (file
metadata and Dagster metadata) and the checks and the audit compare stored partitions with
it. Change a name, a dtype or the order and the hash changes; bump ``SCHEMA_VERSION`` with it.

A row is stamped at decision time ``t`` (the close of the 5m bar opened at ``t - 5m``). Per
source the row keeps ``asof_<source>``, the newest ``available_at`` of the records it used
(null when it used none), and for text the ``fit_end`` of the projection behind the latents.

Missing-value policy (checked on every partition):

- every feature has a missing flag (several features may share one); a feature is null
  **if and only if** its flag is true: nothing missing is filled, nothing present is flagged;
- float features are never NaN or infinite;
- ``asof_<source>`` is null only when every feature of that source is null, and is set
  whenever one of them is present; ``text_projection_fit_end`` is set iff a latent is present.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import polars as pl

from quant_assets.timegrid import TS_DTYPE

FEATURES_ASSET = "feature_matrix"
SCHEMA_VERSION = "1.0.0"

SOURCES = ("bars", "derivatives", "text")
KEY_COLUMN = "t"
ASOF_COLUMNS = {"bars": "asof_bars", "derivatives": "asof_derivatives", "text": "asof_text"}
PROJECTION_FIT_END = "text_projection_fit_end"

LATENT_DIM = 32

F64 = pl.Float64()
F32 = pl.Float32()
I64 = pl.Int64()
BOOL = pl.Boolean()


@dataclass(frozen=True)
class Feature:
    name: str
    dtype: pl.DataType
    source: str
    flag: str  # name of the Boolean missing flag that governs this feature
    doc: str


def _bars() -> list[Feature]:
    out = []
    fam = {
        "5m": [("ret_5m", "log return over 1 bar"), ("range_5m", "ln(high/low) of the bar closing at t")],
        "15m": [("ret_15m", "log return over 3 bars")],
        "1h": [
            ("ret_1h", "log return over 12 bars"),
            ("rv_1h", "sqrt of the sum of squared 5m log returns, 12 bars"),
            ("range_1h", "ln(max high / min low), 12 bars"),
            ("volz_1h", "z-score of ln(1+volume) of the bar at t within 12 bars (0 when flat)"),
            ("rsi_1h", "100*sum(up moves)/sum(|moves|), 12 bars (50 when flat)"),
        ],
        "4h": [
            ("ret_4h", "log return over 48 bars"),
            ("rv_4h", "realised volatility, 48 bars"),
            ("range_4h", "ln(max high / min low), 48 bars"),
            ("rsi_4h", "RSI-like oscillator, 48 bars"),
        ],
        "1d": [
            ("ret_1d", "log return over 288 bars"),
            ("rv_1d", "realised volatility, 288 bars"),
            ("range_1d", "ln(max high / min low), 288 bars"),
            ("volz_1d", "z-score of ln(1+volume) within 288 bars (0 when flat)"),
        ],
    }
    for window, feats in fam.items():
        out += [Feature(n, F64, "bars", f"bars_{window}_missing", d) for n, d in feats]
    return out


def _derivatives() -> list[Feature]:
    return [
        Feature("funding_rate", F64, "derivatives", "funding_missing", "latest realised funding rate (max age 8h)"),
        Feature("funding_age_h", F64, "derivatives", "funding_missing", "hours since that funding became known"),
        Feature("basis_bps", F64, "derivatives", "basis_missing", "latest hourly perp mark vs spot basis, bps"),
        Feature("oi_change_1h", F64, "derivatives", "oi_1h_missing", "latest open interest / 1h earlier - 1"),
        Feature("oi_change_4h", F64, "derivatives", "oi_4h_missing", "latest open interest / 4h earlier - 1"),
        Feature("long_short_ratio", F64, "derivatives", "long_short_missing", "latest long/short account ratio"),
        Feature("taker_imbalance_1h", F64, "derivatives", "taker_missing", "(buy-sell)/(buy+sell), latest hour"),
    ]


def _text() -> list[Feature]:
    out = [
        Feature("text_post_count_1h", I64, "text", "text_1h_missing", "posts linked to the symbol, last 12 buckets"),
        Feature("text_comment_count_1h", I64, "text", "text_1h_missing", "comments, last 12 buckets"),
        Feature("text_market_post_count_1h", I64, "text", "text_1h_missing", "market-wide posts, last 12 buckets"),
        Feature("text_post_count_24h", I64, "text", "text_24h_missing", "posts, last 288 buckets"),
        Feature("text_comment_count_24h", I64, "text", "text_24h_missing", "comments, last 288 buckets"),
        Feature("text_market_post_count_24h", I64, "text", "text_24h_missing", "market-wide posts, last 288 buckets"),
        Feature("text_comment_post_ratio_24h", F64, "text", "text_ratio_missing", "comments / posts over 24h (missing without posts)"),
        Feature("text_post_score_mean_24h", F64, "text", "text_engagement_missing", "mean post score observed by each bucket's end, 24h"),
        Feature(
            "text_post_num_comments_mean_24h", F64, "text", "text_engagement_missing", "mean post num_comments observed by each bucket's end, 24h"
        ),
    ]
    for tower in ("post", "comment"):
        out += [
            Feature(
                f"text_{tower}_z_{i:02d}",
                F32,
                "text",
                f"text_{tower}_latent_missing",
                f"mean {tower} latent {i} over the 24h buckets that share the latest bucket's projection",
            )
            for i in range(LATENT_DIM)
        ]
    return out


FEATURES: tuple[Feature, ...] = tuple(_bars() + _derivatives() + _text())
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
FLAG_NAMES: tuple[str, ...] = tuple(dict.fromkeys(f.flag for f in FEATURES))
FEATURES_BY_SOURCE: dict[str, tuple[str, ...]] = {s: tuple(f.name for f in FEATURES if f.source == s) for s in SOURCES}
FLAGS_BY_SOURCE: dict[str, tuple[str, ...]] = {s: tuple(dict.fromkeys(f.flag for f in FEATURES if f.source == s)) for s in SOURCES}


def source_columns(source: str) -> tuple[str, ...]:
    """The model inputs that belong to ``source``: its features, then their missing flags."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; known: {', '.join(SOURCES)}")
    return FEATURES_BY_SOURCE[source] + FLAGS_BY_SOURCE[source]


LATENT_FEATURES: tuple[str, ...] = tuple(n for n in FEATURE_NAMES if "_z_" in n)

# The stored partition, in order: key, as-of stamps, features, flags.
COLUMNS: dict[str, pl.DataType] = {
    KEY_COLUMN: TS_DTYPE,
    **{c: TS_DTYPE for c in ASOF_COLUMNS.values()},
    PROJECTION_FIT_END: TS_DTYPE,
    **{f.name: f.dtype for f in FEATURES},
    **{flag: BOOL for flag in FLAG_NAMES},
}
COLUMN_NAMES: tuple[str, ...] = tuple(COLUMNS)
FLOAT_COLUMNS: tuple[str, ...] = tuple(n for n, t in COLUMNS.items() if t in (F64, F32))

# A column whose name says it looks forward or is a target never belongs in the matrix.
FORBIDDEN_NAME = re.compile(r"(^|_)(fwd|forward|label|labels|target|future|lead|next)(_|$)|^y_|^y$", re.I)


def contract_hash() -> str:
    """SHA-256 over the version and the ordered (name, dtype) pairs."""
    text = SCHEMA_VERSION + "\n" + "\n".join(f"{n}:{t}" for n, t in COLUMNS.items())
    return hashlib.sha256(text.encode()).hexdigest()


CONTRACT_HASH = contract_hash()


def schema() -> pl.Schema:
    return pl.Schema(COLUMNS)


def empty() -> pl.DataFrame:
    return pl.DataFrame(schema=COLUMNS)


def metadata() -> dict[str, str]:
    """What every partition records about the contract it was written under."""
    return {
        "contract_version": SCHEMA_VERSION,
        "contract_hash": CONTRACT_HASH,
        "feature_count": str(len(FEATURE_NAMES)),
    }


def schema_problems(found: pl.Schema) -> list[str]:
    """Differences between a frame's schema and the contract (names, order, dtypes)."""
    names = list(found)
    problems = [f"missing column {n}" for n in COLUMNS if n not in found]
    problems += [f"column {n} is not in the contract" for n in names if n not in COLUMNS]
    problems += [f"column {n} is {found[n]}, contract says {t}" for n, t in COLUMNS.items() if n in found and found[n] != t]
    if not problems and names != list(COLUMNS):
        first = next(i for i, (a, b) in enumerate(zip(names, COLUMNS)) if a != b)
        problems.append(f"column order differs from the contract at position {first}: {names[first]} vs {COLUMN_NAMES[first]}")
    return problems


assert not [n for n in COLUMN_NAMES if FORBIDDEN_NAME.search(n)], "contract holds a forward-looking name"
