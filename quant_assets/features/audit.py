"""The feature_matrix checks as pure functions: the blocking asset checks and the
``quant-assets audit`` command both call :func:`audit_lake`, so they cannot disagree.

Checks, per stored partition:

- ``contract``: columns, order and dtypes are the contract's; the file records the current
  contract hash and the upstream partitions it read; ``t`` is unique, sorted and on the
  partition's decision grid (a finished day has all 288 decision times).
- ``no_forward_columns``: no column outside the contract, and no name that reads as a
  label or a look-ahead (``fwd_``, ``label``, ``target``, ``future``, ``y_`` ...).
- ``asof``: structural as-of: for every row and source, ``asof_<source> <= t``, and the text
  projection's ``fit_end <= t``.
- ``asof_inputs``: the as-of stamps and the one-record values of every row equal the newest
  record with ``available_at <= t`` re-derived from the partition's recorded inputs, without
  the feature code's join (:mod:`asof_replay`).
- ``missing_policy``: each feature is null iff its missing flag is set; flags never null;
  no NaN or infinity; a source's as-of stamp is set iff one of its features is present.
- ``prefix_invariance``: for sampled decision times (always the first and last row, plus
  ``sample`` random ones, or every row with ``sample="all"``), the row recomputed from the
  partition's recorded inputs truncated at ``t`` (``available_at <= t``) equals the stored
  row: floats within ``|a - b| <= ATOL + RTOL * |b|``, everything else exactly.

Every violation names the check, the partition, the decision time, the column and the
stored and expected values.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Callable, Iterator

import polars as pl

from quant_assets.features import asof_replay, contract
from quant_assets.features.compute import partition_inputs, recompute_at
from quant_assets.features.inputs import UPSTREAM, Inputs, all_mapped_days, decision_grid
from quant_assets.features.lake_io import (
    read_inputs,
    read_partitions,
    recorded_contract,
    recorded_hashes,
    recorded_inputs,
)
from quant_assets.features.provenance import changed_inputs, input_hashes
from quant_assets.lake.store import ParquetLake
from quant_assets.partitions import DaySymbol

CHECKS = ("contract", "no_forward_columns", "asof", "asof_inputs", "missing_policy", "prefix_invariance")
# The checks that recompute from the recorded inputs: skipped where those changed since the build.
INPUT_CHECKS = ("asof_inputs", "prefix_invariance")
RTOL = 1e-9
ATOL = 1e-12
DEFAULT_SAMPLE = 3
MAX_LISTED = 50  # violations listed per partition and check; all are counted


@dataclass(frozen=True)
class Violation:
    check: str
    partition: str
    t: datetime | None
    feature: str | None
    stored: str | None
    expected: str | None
    detail: str = ""

    def line(self) -> str:
        t = self.t.isoformat() if self.t is not None else "-"
        return f"[{self.check}] {self.partition} t={t} feature={self.feature or '-'} stored={self.stored} expected={self.expected}" + (
            f" ({self.detail})" if self.detail else ""
        )

    def as_dict(self) -> dict:
        return {
            "check": self.check,
            "partition": self.partition,
            "t": self.t.isoformat() if self.t is not None else None,
            "feature": self.feature,
            "stored": self.stored,
            "expected": self.expected,
            "detail": self.detail,
        }


@dataclass
class PartitionReport:
    partition: DaySymbol
    rows: int = 0
    recomputed: int = 0
    violations: list[Violation] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: {c: 0 for c in CHECKS})
    notes: list[str] = field(default_factory=list)
    # upstream days whose content differs from the build's: the recompute is skipped
    inputs_changed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No violation (a partition whose inputs changed can still be ok: see ``status``)."""
        return not any(self.counts.values())

    @property
    def status(self) -> str:
        if not self.ok:
            return "FAIL"
        return "INPUTS_CHANGED" if self.inputs_changed else "OK"

    def add(self, found: list[Violation]) -> None:
        for v in found:
            self.counts[v.check] = self.counts.get(v.check, 0) + 1
            if sum(1 for w in self.violations if w.check == v.check) < MAX_LISTED:
                self.violations.append(v)

    def line(self) -> str:
        status = self.status
        if not self.ok:
            status += " " + ", ".join(f"{c}={n}" for c, n in self.counts.items() if n)
        if self.inputs_changed:
            status += f"  inputs changed since build ({'; '.join(self.inputs_changed)}): not recomputed"
        notes = f"  notes: {'; '.join(self.notes)}" if self.notes else ""
        return f"{self.partition}  rows={self.rows} recomputed={self.recomputed}  {status}{notes}"


def _fmt(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


# ---- per-partition checks on one stored frame -----------------------------------------
def contract_violations(part: DaySymbol, frame: pl.DataFrame, kv: dict[str, str] | None, now: datetime | None = None) -> list[Violation]:
    name = str(part)
    out = [Violation("contract", name, None, None, None, None, p) for p in contract.schema_problems(frame.schema)]
    recorded = recorded_contract(kv or {})
    if recorded is None:
        out.append(Violation("contract", name, None, None, None, contract.CONTRACT_HASH, "file records no feature contract"))
    elif recorded.get("hash") != contract.CONTRACT_HASH:
        out.append(
            Violation(
                "contract", name, None, None, f"{recorded.get('version')}/{recorded.get('hash')}",
                f"{contract.SCHEMA_VERSION}/{contract.CONTRACT_HASH}", "written under another contract",
            )
        )  # fmt: skip
    if recorded_inputs(kv or {}) is None:
        out.append(Violation("contract", name, None, None, None, None, "file records no upstream inputs"))
    if contract.KEY_COLUMN not in frame.columns:
        return out
    times = frame[contract.KEY_COLUMN].to_list()
    grid = decision_grid(part)
    on_grid = set(grid)
    seen, duplicates = set(), set()
    for t in times:
        (duplicates if t in seen else seen).add(t)
    for t in sorted(duplicates):
        out.append(Violation("contract", name, t, "t", _fmt(t), "unique", "duplicate decision time"))
    for t in [t for t in times if t not in on_grid]:
        out.append(Violation("contract", name, t, "t", _fmt(t), "on the day's 5m close grid", "t outside partition"))
    if any(b <= a for a, b in zip(times, times[1:])) and not duplicates:
        out.append(Violation("contract", name, None, "t", None, "increasing", "rows not sorted by t"))
    last = max(times) if times else None
    complete_day = now is None or part.end <= now
    needed = [t for t in grid if (complete_day or (last is not None and t <= last))]
    for t in [t for t in needed if t not in seen]:
        out.append(Violation("contract", name, t, "t", None, _fmt(t), "decision time missing"))
    return out


def forward_column_violations(part: DaySymbol, columns: list[str]) -> list[Violation]:
    out = []
    for c in columns:
        if contract.FORBIDDEN_NAME.search(c):
            out.append(Violation("no_forward_columns", str(part), None, c, "present", "absent", "label or forward-looking name"))
        elif c not in contract.COLUMNS:
            out.append(Violation("no_forward_columns", str(part), None, c, "present", "absent", "column not in the contract"))
    return out


def _rows_to_violations(check: str, frame: pl.DataFrame, feature: str, stored: str, expected: str, detail: str) -> list[Violation]:
    return [Violation(check, p, t, feature, _fmt(s), _fmt(e), detail) for p, t, s, e in frame.select("partition", "t", stored, expected).iter_rows()]


def asof_violations(frame: pl.DataFrame) -> list[Violation]:
    """Vectorised over a frame with ``partition`` + contract columns."""
    stamps = [*contract.ASOF_COLUMNS.values(), contract.PROJECTION_FIT_END]
    out = []
    for col in _masks_with_hits(frame, {c: pl.col(c) > pl.col("t") for c in stamps}):
        bad = frame.filter(pl.col(col) > pl.col("t")).with_columns(_e=pl.lit("<= t"))
        out += _rows_to_violations("asof", bad, col, col, "_e", "used a record not yet available at t")
    return out


def asof_input_violations(stored: pl.DataFrame, series_inputs: dict[str, pl.DataFrame], rtol: float = RTOL, atol: float = ATOL) -> list[Violation]:
    """``stored`` (``partition`` + contract) against the newest records its inputs held at each
    ``t``; ``series_inputs`` are :func:`compute.partition_inputs` (series = partition)."""
    frame = asof_replay.replay_frame(stored, series_inputs)
    found = asof_replay.rules(rtol, atol)
    out = []
    for key in _masks_with_hits(frame, {k: r[2] for k, r in found.items()}):
        column, want, mask, detail = found[key]
        bad = frame.filter(mask).with_columns(_e=want)  # raw values: _fmt prints floats and times exactly
        out += _rows_to_violations("asof_inputs", bad, column, column, "_e", detail)
    return out


def _masks_with_hits(frame: pl.DataFrame, masks: dict[str, pl.Expr]) -> list[str]:
    """Names of the masks true on at least one row: one pass over the frame for all of them."""
    if not masks or frame.is_empty():
        return []
    counts = frame.select([m.fill_null(False).sum().alias(k) for k, m in masks.items()]).row(0, named=True)
    return [k for k, n in counts.items() if n]


def missing_policy_violations(frame: pl.DataFrame) -> list[Violation]:
    rules: dict[str, tuple[pl.Expr, str, pl.Expr, pl.Expr, str]] = {}
    for f in contract.FLAG_NAMES:
        rules[f"null:{f}"] = (pl.col(f).is_null(), f, pl.lit(None, pl.String), pl.lit("true/false"), "missing flag is null")
    for feat in contract.FEATURES:
        v, g = pl.col(feat.name), pl.col(feat.flag)
        rules[f"filled:{feat.name}"] = (
            g & v.is_not_null(),
            feat.name,
            v.cast(pl.String),
            pl.lit(None, pl.String),
            f"value present while {feat.flag} is set",
        )
        rules[f"silent:{feat.name}"] = (~g & v.is_null(), feat.name, pl.lit(None, pl.String), pl.lit("a value"), f"null while {feat.flag} is not set")
        if feat.dtype in (contract.F64, contract.F32):
            rules[f"nan:{feat.name}"] = (v.is_nan() | v.is_infinite(), feat.name, v.cast(pl.String), pl.lit("finite"), "NaN or infinite")
    for source, asof in contract.ASOF_COLUMNS.items():
        any_present = pl.any_horizontal([pl.col(n).is_not_null() for n in contract.FEATURES_BY_SOURCE[source]])
        a = pl.col(asof)
        rules[f"asof:{asof}"] = (
            any_present != a.is_not_null(), asof, a.cast(pl.String),
            pl.when(any_present).then(pl.lit("a stamp")).otherwise(pl.lit(None)),
            f"as-of stamp inconsistent with the {source} features present",
        )  # fmt: skip
    any_latent = pl.any_horizontal([pl.col(n).is_not_null() for n in contract.LATENT_FEATURES])
    fe = pl.col(contract.PROJECTION_FIT_END)
    rules["fit_end"] = (
        any_latent != fe.is_not_null(), contract.PROJECTION_FIT_END, fe.cast(pl.String),
        pl.when(any_latent).then(pl.lit("a fit end")).otherwise(pl.lit(None)),
        "projection fit end inconsistent with latents present",
    )  # fmt: skip
    out = []
    for key in _masks_with_hits(frame, {k: r[0] for k, r in rules.items()}):
        mask, feature, stored, expected, detail = rules[key]
        bad = frame.filter(mask).with_columns(_s=stored, _e=expected)
        out += _rows_to_violations("missing_policy", bad, feature, "_s", "_e", detail)
    return out


def draw_seed() -> int:
    """A fresh seed for the random rows, so repeated audits reach different rows."""
    return random.SystemRandom().randrange(2**31)


def choose_samples(part: DaySymbol, times: list[datetime], sample: int | str, seed: int = 0) -> list[datetime]:
    """First and last row always; ``sample`` more at random (seeded per partition), or all."""
    if not times:
        return []
    if sample == "all":
        return list(times)
    chosen = {times[0], times[-1]}
    middle = [t for t in times[1:-1]]
    rng = random.Random(f"{seed}:{part}")
    chosen.update(rng.sample(middle, min(int(sample), len(middle))))
    return sorted(chosen)


def prefix_violations(
    stored: pl.DataFrame,
    recomputed: pl.DataFrame,
    rtol: float = RTOL,
    atol: float = ATOL,
) -> list[Violation]:
    """Compare stored rows with rows recomputed from truncated inputs (both ``partition`` + contract)."""
    cols = [c for c in contract.COLUMN_NAMES if c != contract.KEY_COLUMN]
    joined = recomputed.join(stored, on=["partition", "t"], how="left", suffix="__stored")
    masks = {}
    for c in cols:
        s, r = pl.col(f"{c}__stored"), pl.col(c)
        if c in contract.FLOAT_COLUMNS:
            s64, r64 = s.cast(pl.Float64), r.cast(pl.Float64)
            both = s64.is_not_null() & r64.is_not_null()
            close = ((s64 - r64).abs() <= atol + rtol * r64.abs()) | (s64.is_nan() & r64.is_nan()) | (s64 == r64)
            masks[c] = (s64.is_null() != r64.is_null()) | (both & ~close.fill_null(False))
        else:
            masks[c] = ~s.eq_missing(r)
    out = []
    for c in _masks_with_hits(joined, masks):
        bad = joined.filter(masks[c]).with_columns(_s=pl.col(f"{c}__stored").cast(pl.String), _e=pl.col(c).cast(pl.String))
        out += _rows_to_violations("prefix_invariance", bad, c, "_s", "_e", "stored row differs from the recompute on inputs truncated at t")
    return out


# ---- over the lake ---------------------------------------------------------------------
Compute = Callable[..., pl.DataFrame] | None


def audit_lake(
    store: ParquetLake,
    parts: list[DaySymbol],
    *,
    sample: int | str = DEFAULT_SAMPLE,
    seed: int = 0,
    compute: Compute = None,
    now: datetime | None = None,
    first_day: date | None = None,
    samples_per_chunk: int = 1000,
) -> Iterator[PartitionReport]:
    """Audit stored partitions; yields one report per partition, in order.

    Inputs for the recompute are the upstream partitions each file records it read (see
    :mod:`lake_io`); a file that records none is recomputed from the mapping rule.
    Partitions are processed in chunks so that memory stays bounded for long ranges.
    """
    parts = sorted(parts)
    samples_per_part = 288 if sample == "all" else int(sample) + 2
    chunk = max(1, samples_per_chunk // samples_per_part)
    for i in range(0, len(parts), chunk):
        yield from _audit_chunk(store, parts[i : i + chunk], sample, seed, compute, now, first_day)


def _audit_chunk(store, parts, sample, seed, compute, now, first_day) -> list[PartitionReport]:
    reports = {p: PartitionReport(p) for p in parts}
    stored, upstream_days, hashes = _read_stored(store, reports, now, first_day)
    if stored is None:
        return [reports[p] for p in parts]
    for v in asof_violations(stored) + missing_policy_violations(stored):
        reports[DaySymbol.parse(v.partition)].add([v])
    inputs = _read_inputs_noting_changes(store, reports, upstream_days, hashes, first_day)
    # recompute only where the inputs are the build's: elsewhere it would prove nothing
    same = {p: days for p, days in upstream_days.items() if not reports[p].inputs_changed}
    if same:
        _input_checks(reports, stored.filter(pl.col("partition").is_in([str(p) for p in same])), inputs, same, sample, seed, compute)
    return [reports[p] for p in parts]


def _read_stored(store, reports, now, first_day):
    """Stored partitions through the checks that need only the file; returns the rows fit
    for the row checks (``partition`` + contract, or None), and per partition the upstream
    days and hashes it records."""
    parts = list(reports)
    frames, upstream_days, hashes = [], {}, {}
    for part, stored_part in zip(parts, read_partitions(store, parts)):
        report = reports[part]
        if stored_part is None:
            # a quarantined partition (its blocking checks failed) is not in the lake: say so
            note = store.quarantine_note(contract.FEATURES_ASSET, part)
            detail = "partition is not materialized" + (f" ({note})" if note else "")
            report.add([Violation("contract", str(part), None, None, None, None, detail)])
            continue
        frame, kv = stored_part
        report.rows = frame.height
        report.add(contract_violations(part, frame, kv, now))
        report.add(forward_column_violations(part, frame.columns))
        if contract.schema_problems(frame.select([c for c in frame.columns if c in contract.COLUMNS]).schema):
            report.notes.append("columns do not match the contract: row checks skipped")
            continue
        recorded = recorded_inputs(kv)
        if recorded is None:
            recorded = all_mapped_days(part.day, first_day)
            report.notes.append("inputs not recorded: recomputed from the mapping rule")
        mapped = all_mapped_days(part.day)
        for asset, days in recorded.items():
            outside = [d for d in days if d not in mapped[asset]]
            if outside:
                report.add([Violation("contract", str(part), None, asset, str(outside), str(mapped[asset]), "read outside its partition mapping")])
        upstream_days[part] = recorded
        hashes[part] = recorded_hashes(kv)
        if hashes[part] is None:
            report.notes.append("input hashes not recorded: changes since the build cannot be seen")
        frames.append(frame.select(contract.COLUMN_NAMES).with_columns(partition=pl.lit(str(part))))
    return (pl.concat(frames) if frames else None), upstream_days, hashes


def _read_inputs_noting_changes(store, reports, upstream_days, hashes, first_day) -> Inputs:
    """Read what each partition read, and what its mapping reaches now; note on each report
    the upstream days whose content differs from the build's."""
    reach = {
        p: {a: sorted(set(days) | set(all_mapped_days(p.day, first_day)[a] if hashes[p] else [])) for a, days in recorded.items()}
        for p, recorded in upstream_days.items()
    }
    wanted = {a: [DaySymbol(d, p.symbol) for p in reach for d in reach[p][a]] for a in UPSTREAM}
    inputs, absent, file_shas = read_inputs(store, wanted)
    present = {p: {a: [d for d in days if DaySymbol(d, p.symbol) not in absent[a]] for a, days in by_asset.items()} for p, by_asset in reach.items()}
    with_hashes = [p for p in upstream_days if hashes[p] is not None]
    now_hashes = input_hashes(inputs, with_hashes, present, file_shas)
    for part in upstream_days:
        if part in now_hashes:
            reports[part].inputs_changed = changed_inputs(hashes[part], now_hashes[part])
            continue
        for asset, days in upstream_days[part].items():
            reports[part].notes += [f"recorded input {asset} {d} is no longer in the lake" for d in days if d not in present[part][asset]]
    return inputs


def _input_checks(reports, stored, inputs, upstream_days, sample, seed, compute) -> None:
    """The checks that recompute from the recorded inputs: as-of re-derived on every row,
    prefix invariance on the sampled rows."""
    for v in asof_input_violations(stored, partition_inputs(inputs, list(upstream_days), upstream_days)):
        reports[DaySymbol.parse(v.partition)].add([v])
    samples = []
    for name, times in stored.group_by("partition", maintain_order=True).agg(pl.col("t")).iter_rows():
        part = DaySymbol.parse(name)
        chosen = choose_samples(part, times, sample, seed)
        reports[part].recomputed = len(chosen)
        samples += [(part, t) for t in chosen]
    for v in prefix_violations(stored, recompute_at(inputs, samples, upstream_days, compute=compute)):
        reports[DaySymbol.parse(v.partition)].add([v])


def audit_frames(
    stored: dict[DaySymbol, pl.DataFrame],
    inputs: Inputs,
    upstream_days: dict[DaySymbol, dict[str, list[date]]],
    *,
    sample: int | str = DEFAULT_SAMPLE,
    seed: int = 0,
    compute: Compute = None,
) -> dict[DaySymbol, PartitionReport]:
    """The row checks on in-memory frames (no lake): for tests and notebooks."""
    reports = {p: PartitionReport(p, rows=f.height) for p, f in stored.items()}
    frame = pl.concat([f.select(contract.COLUMN_NAMES).with_columns(partition=pl.lit(str(p))) for p, f in stored.items()])
    for v in asof_violations(frame) + missing_policy_violations(frame):
        reports[DaySymbol.parse(v.partition)].add([v])
    _input_checks(reports, frame, inputs, {p: upstream_days[p] for p in stored}, sample, seed, compute)
    return reports
