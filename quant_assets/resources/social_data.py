"""Where social text comes from, and the rules that link it to symbols.

Every source implements ``SocialTextSource.fetch(parts, now) -> (frame, meta)``:

- a *raw* source (``FileDropSocialText``; later a Reddit API or RSS connector) returns raw
  items (``quant_assets.social.items.ITEM_SCHEMA``) created in the parts' days by ``now``,
  plus the older posts those comments reply to, and the asset links them with
  ``SocialLinking``;
- a *linked* source (``BundleSocialText``) returns rows already linked and partitioned
  (``symbol`` + the social_text schema), as a bundle exported them; they are kept as they are.

``meta`` is per partition and ends up in the partition's metadata.
"""

from datetime import datetime
from pathlib import Path
from typing import ClassVar

import polars as pl
from dagster import ConfigurableResource
from pydantic import Field

from quant_assets.bundles.unpacked import UnpackedBundles
from quant_assets.partitions import DaySymbol
from quant_assets.social.items import (
    ITEM_SCHEMA,
    as_of,
    comments_to_items,
    empty_items,
    first_observation,
    in_span_with_parents,
    posts_to_items,
)
from quant_assets.social.linking import (
    DEFAULT_MARKET_SUBREDDITS,
    DEFAULT_MENTIONS,
    DEFAULT_SUBREDDIT_SYMBOLS,
    LinkRules,
)
from quant_assets.social.text import ENGAGEMENT_COLUMNS, SOCIAL_TEXT_ASSET


class SocialLinking(ConfigurableResource):
    """Symbol-linking rules: subreddit -> base asset, mention regexes per base asset
    (case-insensitive), the general subreddits whose coin-less text is market-wide."""

    subreddit_symbols: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_SUBREDDIT_SYMBOLS))
    mention_patterns: dict[str, list[str]] = Field(default_factory=lambda: {k: list(v) for k, v in DEFAULT_MENTIONS.items()})
    market_subreddits: list[str] = Field(default_factory=lambda: list(DEFAULT_MARKET_SUBREDDITS))
    comments_inherit_post_link: bool = True

    def rules(self) -> LinkRules:
        return LinkRules(
            subreddit_symbols={k.lower(): v for k, v in self.subreddit_symbols.items()},
            mentions={k: list(v) for k, v in self.mention_patterns.items()},
            market_subreddits=tuple(s.lower() for s in self.market_subreddits),
            comments_inherit_post_link=self.comments_inherit_post_link,
        )


class SocialTextSource(ConfigurableResource):
    """Interface: social items for a set of (day, symbol) partitions, with per-partition metadata."""

    # True when ``fetch`` returns linked rows (``symbol`` + social_text schema), not raw items.
    linked: ClassVar[bool] = False

    def fetch(self, parts: list[DaySymbol], now: datetime) -> tuple[pl.DataFrame, dict[DaySymbol, dict]]:
        raise NotImplementedError

    def source_name(self) -> str:
        raise NotImplementedError


def _read_table(path: Path) -> pl.DataFrame:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return pl.read_parquet(path)
    if suffix in (".jsonl", ".ndjson", ".json"):
        return pl.read_ndjson(path, infer_schema_length=None)
    raise ValueError(f"{path}: unsupported social text file (expected .parquet or .jsonl)")


class FileDropSocialText(SocialTextSource):
    """Scraped Reddit posts and comments dropped in a folder, as parquet or JSONL.

    Files are laid out like ``reddit_crypto_posts.parquet`` (``post_id, subreddit,
    created_utc, title, selftext, author, score, num_comments, upvote_ratio, scraped_at``)
    and ``reddit_crypto_comments.parquet`` (``comment_id, post_id, subreddit, created_utc,
    body, author, score, scraped_at``); timestamps may be datetimes, epoch seconds or ISO
    strings, all UTC. ``scraped_at`` is required: it is when the engagement was observed.
    """

    folder: str
    posts_patterns: list[str] = Field(default_factory=lambda: ["*posts*.parquet", "*posts*.jsonl", "*posts*.ndjson"])
    comments_patterns: list[str] = Field(default_factory=lambda: ["*comments*.parquet", "*comments*.jsonl", "*comments*.ndjson"])
    name: str = "reddit"

    def source_name(self) -> str:
        return f"file:{self.name}"

    def _files(self, patterns: list[str]) -> list[Path]:
        folder = Path(self.folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"social file drop folder {folder} does not exist")
        return sorted({p for pattern in patterns for p in folder.glob(pattern) if p.is_file()})

    def read_items(self) -> tuple[pl.DataFrame, dict]:
        """Every item in the folder, normalised; and what was dropped on the way."""
        post_files, comment_files = self._files(self.posts_patterns), self._files(self.comments_patterns)
        if not post_files and not comment_files:
            raise FileNotFoundError(f"no posts or comments files in {self.folder} matching {self.posts_patterns + self.comments_patterns}")
        frames = [posts_to_items(_read_table(p)) for p in post_files]
        frames += [comments_to_items(_read_table(p)) for p in comment_files]
        items = pl.concat(frames, how="vertical") if frames else empty_items()
        # Items whose text was deleted or removed by the scrape are kept: they existed.
        items, repeats = first_observation(items)
        info = {
            "files": [p.name for p in post_files + comment_files],
            "text_unavailable": int(items["text"].null_count()),
            "repeat_observations_dropped": repeats,
        }
        return items, info

    def fetch(self, parts, now):
        items, info = self.read_items()
        start, end = min(p.start for p in parts), max(p.end for p in parts)
        frame = in_span_with_parents(as_of(items, now), start, end)
        meta = {
            p: {
                "source": self.source_name(),
                "source_files": ", ".join(info["files"]),
                "source_text_unavailable": info["text_unavailable"],
                "source_repeat_observations_dropped": info["repeat_observations_dropped"],
            }
            for p in parts
        }
        return frame.select(list(ITEM_SCHEMA)), meta


class BundleSocialText(SocialTextSource):
    """social_text partitions from bundles unpacked by ``quant-assets bundle import`` (no network).

    They were linked when exported, so they are served as they are (``linked = True``); only
    what was knowable at ``now`` is kept.
    """

    linked: ClassVar[bool] = True
    bundles_root: str
    asset: str = SOCIAL_TEXT_ASSET

    def source_name(self) -> str:
        return "bundle"

    def fetch(self, parts, now):
        frame, meta = UnpackedBundles(self.bundles_root).read_with_provenance(self.asset, parts)
        if not frame.is_empty():
            unseen = pl.col("observed_at").is_null() | (pl.col("observed_at") > now)
            frame = frame.filter(pl.col("created_at") <= now).with_columns(
                [pl.when(unseen).then(None).otherwise(pl.col(c)).alias(c) for c in (*ENGAGEMENT_COLUMNS, "observed_at")]
            )
        return frame, meta
