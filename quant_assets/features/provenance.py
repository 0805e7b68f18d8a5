"""What a feature partition read, as content hashes, so an audit can tell "the inputs are
the ones it was built from" from "an upstream partition changed since the build".

A feature partition of day D reads, per upstream asset, whole partitions of days <= D
(every record in them is available by D's last decision time, D+1 00:00, by the time
rules) and, where its mapping reaches ahead, the records of a later day available by then
(a funding stamped at midnight). Its hash of an upstream day is therefore:

- days <= D: the SHA-256 of the stored parquet file (the lake writes deterministically:
  same rows, same bytes);
- later days: the SHA-256 of the visible rows alone (CSV of the rows with
  ``available_at <= D+1 00:00``, sorted), so records that land in that day after the
  build do not count as a change; a day with no visible row is not listed, like an absent one.
"""

from __future__ import annotations

import polars as pl

from quant_assets.features.compute import UpstreamDays, partition_inputs
from quant_assets.features.inputs import DAY_COLUMN, SERIES, UPSTREAM, Inputs
from quant_assets.lake.store import sha256_bytes
from quant_assets.partitions import DaySymbol

InputHashes = dict[str, dict[str, str]]  # asset -> day (ISO) -> SHA-256


def _visible_hashes(inputs: Inputs, parts: list[DaySymbol], ahead: UpstreamDays) -> dict[tuple[str, str, str], str]:
    """(partition, asset, day) -> hash of the rows of a later day visible to the partition."""
    out = {}
    for asset, frame in partition_inputs(inputs, parts, ahead).items():
        if frame.is_empty():
            continue
        keyed = frame.with_columns(_day=pl.col(DAY_COLUMN[asset]).dt.date().cast(pl.String))
        for (series, day), rows in keyed.group_by(SERIES, "_day", maintain_order=True):
            rows = rows.drop(SERIES, "_day")
            out[(series, asset, day)] = sha256_bytes(rows.sort(rows.columns).write_csv().encode())
    return out


def input_hashes(
    inputs: Inputs,
    parts: list[DaySymbol],
    upstream_days: UpstreamDays,
    file_shas: dict[str, dict[DaySymbol, str]],
) -> dict[DaySymbol, InputHashes]:
    """Per feature partition, the hash of every upstream day it reads (see the module doc).

    ``file_shas`` are the SHA-256 of the upstream files as read (``lake_io.read_inputs``).
    """
    ahead = {p: {a: [d for d in upstream_days[p].get(a, []) if d > p.day] for a in UPSTREAM} for p in parts}
    visible = _visible_hashes(inputs, parts, ahead)
    out = {}
    for part in parts:
        hashes: InputHashes = {}
        for asset in UPSTREAM:
            days = {}
            for day in upstream_days[part].get(asset, []):
                sha = (
                    file_shas.get(asset, {}).get(DaySymbol(day, part.symbol)) if day <= part.day else visible.get((str(part), asset, day.isoformat()))
                )
                if sha is not None:
                    days[day.isoformat()] = sha
            hashes[asset] = days
        out[part] = hashes
    return out


def changed_inputs(recorded: InputHashes, current: InputHashes) -> list[str]:
    """One phrase per upstream day whose content differs from the build's (empty: unchanged)."""
    out = []
    for asset in UPSTREAM:
        before, now = recorded.get(asset, {}), current.get(asset, {})
        for day in sorted(set(before) | set(now)):
            if day not in now:
                out.append(f"{asset} {day} gone")
            elif day not in before:
                out.append(f"{asset} {day} new since build")
            elif before[day] != now[day]:
                out.append(f"{asset} {day} content differs")
    return out
