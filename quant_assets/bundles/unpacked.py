"""Read partitions out of bundles that were verified and unpacked by ``bundle import``.

An unpacked bundle is a folder (named by its bundle id) that holds ``LANDED.json``, which the
import writes last. Anything else under the bundles root (staging folders, a folder whose
import was killed before its marker, the lock file) is not a bundle and is never read.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from quant_assets.lake.store import ParquetLake
from quant_assets.partitions import DaySymbol

MANIFEST_NAME = "bundle_manifest.json"
UNPACKED_MARKER = "LANDED.json"  # and its "landed_at": named before "unpack", kept so homes unpacked before read as they are
STAGING_PREFIX = ".staging-"
_BUNDLE_ID = re.compile(r"[0-9a-f]{16}")


def is_bundle_id(name: str) -> bool:
    return _BUNDLE_ID.fullmatch(name) is not None


@dataclass(frozen=True)
class Provenance:
    bundle_id: str
    bundle_sha256: str
    file_sha256: str


@dataclass(frozen=True)
class UnpackedBundle:
    root: Path
    bundle_id: str
    bundle_sha256: str
    unpacked_at: str
    files: dict[tuple[str, DaySymbol], str]  # (asset, partition) -> file sha256

    @property
    def lake(self) -> ParquetLake:
        return ParquetLake(str(self.root / "lake"))


def load_unpacked(root: Path) -> UnpackedBundle:
    unpacked = json.loads((root / UNPACKED_MARKER).read_text())
    manifest = json.loads((root / MANIFEST_NAME).read_text())
    files = {(entry["asset"], DaySymbol.parse(f"{entry['date']}|{entry['symbol']}")): entry["sha256"] for entry in manifest["files"]}
    return UnpackedBundle(root, manifest["bundle_id"], unpacked["bundle_sha256"], unpacked["landed_at"], files)


class UnpackedBundles:
    """All unpacked bundles under one folder; the most recently unpacked one wins a partition."""

    def __init__(self, root: str):
        self.root = Path(root)

    def bundles(self) -> list[UnpackedBundle]:
        if not self.root.exists():
            return []
        # Dot names are the import's own (staging folders, the lock); a folder without the
        # marker is one whose import has not finished, or never will.
        found = [load_unpacked(d) for d in self.root.iterdir() if not d.name.startswith(".") and (d / UNPACKED_MARKER).exists()]
        return sorted(found, key=lambda b: b.unpacked_at, reverse=True)

    def locate(self, asset: str, parts: list[DaySymbol]) -> dict[DaySymbol, UnpackedBundle]:
        bundles = self.bundles()
        located = {}
        for part in parts:
            for bundle in bundles:
                if (asset, part) in bundle.files:
                    located[part] = bundle
                    break
        return located

    def read(self, asset: str, parts: list[DaySymbol]) -> tuple[pl.DataFrame, dict[DaySymbol, Provenance]]:
        """Rows of the requested partitions (with ``symbol``), and where each came from.

        A partition that no unpacked bundle holds is an error naming it: the bundle source
        never invents an empty day.
        """
        located = self.locate(asset, parts)
        missing = [str(p) for p in parts if p not in located]
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise FileNotFoundError(f"no imported bundle holds {asset} for {shown}; run `quant-assets bundle import FILE`")
        by_bundle: dict[str, list[DaySymbol]] = {}
        for part in parts:
            by_bundle.setdefault(located[part].bundle_id, []).append(part)
        bundles = {b.bundle_id: b for b in located.values()}
        # One multi-file read per bundle, not one read per partition.
        frames = [bundles[b].lake.read_many(asset, group) for b, group in sorted(by_bundle.items())]
        provenance = {part: Provenance(located[part].bundle_id, located[part].bundle_sha256, located[part].files[(asset, part)]) for part in parts}
        return pl.concat(frames, how="vertical") if frames else pl.DataFrame(), provenance

    def read_with_provenance(self, asset: str, parts: list[DaySymbol]) -> tuple[pl.DataFrame, dict[DaySymbol, dict[str, str]]]:
        """:meth:`read`, with each partition's provenance as the materialization metadata
        the bundle sources report (``source``, ``bundle_id``, ``bundle_sha256``)."""
        frame, provenance = self.read(asset, parts)
        meta = {part: {"source": "bundle", "bundle_id": prov.bundle_id, "bundle_sha256": prov.bundle_sha256} for part, prov in provenance.items()}
        return frame, meta
