"""Every way ``bundle import`` refuses a bundle: non-zero exit, one line naming the problem,
and the home (lake, unpacked bundles, Dagster) byte-identical afterwards.

Each case takes a good bundle written by the real exporter apart and damages exactly one
thing, so the refusal it provokes can only come from that damage.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import tarfile
from pathlib import Path

import polars as pl
import pytest

from quant_assets.bundles.manifest import BundleError
from quant_assets.bundles.unpack import verify_and_unpack
from quant_assets.lake.store import parquet_bytes
from quant_assets_tests.bundles.archives import (
    FIRST,
    SECOND,
    bundle_members,
    describe,
    member,
    read_archive,
    refresh_id,
    tar_bytes,
    tree_digest,
    write_archive,
)


def _replace_file(manifest, files, path, data, new_path=None, **fields):
    """Put ``data`` in place of ``path`` with a manifest entry that tells the truth about it."""
    entry = next(e for e in manifest["files"] if e["path"] == path)
    entry.update(describe(data), **fields)
    if new_path:
        entry["path"] = new_path
        del files[path]
    files[new_path or path] = data
    refresh_id(manifest)
    return bundle_members(manifest, files)


def _flip_byte(data: bytes, at: int = 100) -> bytes:
    """Same size, different bytes."""
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]


def _frame(files, path=FIRST) -> pl.DataFrame:
    return pl.read_parquet(files[path])


# Each case: (id, build(manifest, files, good_bytes) -> members list or raw archive bytes, expected words)
CASES = [
    (
        "hash_mismatch",
        lambda m, f, g: bundle_members(m, {**f, FIRST: _flip_byte(f[FIRST])}),
        ["sha256 mismatch", FIRST],
    ),
    (
        # Another file in its place: its tar header already says it is not the manifest's file.
        "tar_size_differs_from_manifest",
        lambda m, f, g: bundle_members(m, {**f, FIRST: f[SECOND]}),
        ["its tar header declares", "the manifest says", "refused before extracting", FIRST],
    ),
    ("truncated_half", lambda m, f, g: g[: len(g) // 2], ["truncated or corrupt"]),
    # Cut inside the gzip trailer only: every tar member is whole, the CRC/length check is not.
    ("truncated_trailer", lambda m, f, g: g[:-3], ["truncated or corrupt"]),
    (
        "corrupt_gzip",
        lambda m, f, g: g[:200] + bytes(b ^ 0xFF for b in g[200:240]) + g[240:],
        # Flipped deflate bytes either break the stream or inflate to garbage; which one
        # depends on the archive's bytes (its creation time), and both must be refused.
        [("truncated or corrupt", "is not valid JSON")],
    ),
    ("not_gzip", lambda m, f, g: b"PAR1 this is not a bundle", ["truncated or corrupt"]),
    (
        "missing_manifest",
        lambda m, f, g: [member(n, d) for n, d in f.items()],
        ["bundle_manifest.json is missing", FIRST],
    ),
    ("empty_archive", lambda m, f, g: [], ["bundle_manifest.json is missing"]),
    (
        "manifest_not_first",
        lambda m, f, g: bundle_members(m, f)[1:] + bundle_members(m, f)[:1],
        ["bundle_manifest.json is missing", "must come first"],
    ),
    (
        "manifest_not_json",
        lambda m, f, g: [member("bundle_manifest.json", b'{"format_version": 1, "files": [')] + bundle_members(m, f)[1:],
        ["bundle_manifest.json is not valid JSON"],
    ),
    (
        "manifest_lists_no_files",
        lambda m, f, g: bundle_members(refresh_id({**m, "files": []}), {}),
        ["bundle_manifest.json lists no files"],
    ),
    (
        "manifest_missing_files",
        lambda m, f, g: bundle_members({k: v for k, v in m.items() if k != "files"}, f),
        ["missing field 'files'"],
    ),
    (
        "entry_missing_sha256",
        lambda m, f, g: bundle_members({**m, "files": [{k: v for k, v in m["files"][0].items() if k != "sha256"}] + m["files"][1:]}, f),
        ["missing field 'sha256'", FIRST],
    ),
    (
        "entry_rows_not_int",
        lambda m, f, g: bundle_members({**m, "files": [{**m["files"][0], "rows": "288"}] + m["files"][1:]}, f),
        ["field 'rows' must be int", FIRST],
    ),
    (
        "unknown_format_version",
        lambda m, f, g: bundle_members({**m, "format_version": 2}, f),
        ["unknown format_version 2"],
    ),
    (
        "absolute_path",
        lambda m, f, g: bundle_members(m, f) + [member("/tmp/quant_assets_evil.parquet", b"x")],
        ["absolute path", "/tmp/quant_assets_evil.parquet"],
    ),
    (
        "dotdot_path",
        lambda m, f, g: bundle_members(m, f) + [member("lake/../../evil.parquet", b"x")],
        ["'..'", "lake/../../evil.parquet"],
    ),
    (
        "symlink",
        lambda m, f, g: bundle_members(m, f) + [member("lake/link", kind=tarfile.SYMTYPE, linkname="/etc/passwd")],
        ["symbolic link", "lake/link"],
    ),
    (
        "hardlink",
        lambda m, f, g: bundle_members(m, f) + [member("lake/hard", kind=tarfile.LNKTYPE, linkname=FIRST)],
        ["hard link", "lake/hard"],
    ),
    (
        "char_device",
        lambda m, f, g: bundle_members(m, f) + [member("lake/null", kind=tarfile.CHRTYPE)],
        ["device file", "lake/null"],
    ),
    (
        "block_device",
        lambda m, f, g: bundle_members(m, f) + [member("lake/sda", kind=tarfile.BLKTYPE)],
        ["device file", "lake/sda"],
    ),
    (
        "fifo",
        lambda m, f, g: bundle_members(m, f) + [member("lake/pipe", kind=tarfile.FIFOTYPE)],
        ["fifo", "lake/pipe"],
    ),
    (
        "file_not_in_manifest",
        lambda m, f, g: bundle_members(m, f) + [member("lake/market_bars/date=2025-10-08/symbol=BTC-USDT/part-0.parquet", f[FIRST])],
        ["not listed in bundle_manifest.json", "date=2025-10-08/symbol=BTC-USDT"],
    ),
    (
        "manifest_entry_not_in_archive",
        lambda m, f, g: bundle_members(m, {n: d for n, d in f.items() if n != SECOND}),
        ["the archive does not hold", SECOND],
    ),
    (
        "duplicate_member",
        lambda m, f, g: bundle_members(m, f) + [member(FIRST, f[FIRST])],
        ["appears twice", FIRST],
    ),
    (
        "row_count_mismatch",
        lambda m, f, g: bundle_members({**m, "files": [{**m["files"][0], "rows": 287}] + m["files"][1:]}, f),
        ["row count mismatch", "287", FIRST],
    ),
    (
        "schema_mismatch_with_manifest",
        lambda m, f, g: bundle_members(
            {**m, "files": [{**m["files"][0], "schema": {**m["files"][0]["schema"], "volume": "Int64"}}] + m["files"][1:]},
            f,
        ),
        ["schema mismatch with the manifest", "volume", FIRST],
    ),
    (
        "schema_mismatch_with_asset",
        lambda m, f, g: _replace_file(m, f, FIRST, parquet_bytes(_frame(f).with_columns(pl.col("volume").cast(pl.Int64)))),
        ["schema mismatch with market_bars", "column volume is Int64", FIRST],
    ),
    (
        "extra_column",
        lambda m, f, g: _replace_file(m, f, FIRST, parquet_bytes(_frame(f).with_columns(note=pl.lit("x")))),
        ["unexpected column note", FIRST],
    ),
    (
        "duplicate_row_keys",
        lambda m, f, g: _replace_file(m, f, FIRST, parquet_bytes(pl.concat([_frame(f), _frame(f).slice(10, 1)]))),
        ["duplicate keys (ts)", "2025-10-06 00:50:00", FIRST],
    ),
    (
        "duplicate_manifest_entry",
        lambda m, f, g: bundle_members({**m, "files": m["files"] + [m["files"][0]]}, f),
        ["duplicate entry", "market_bars 2025-10-06|BTC-USDT"],
    ),
    (
        "unknown_asset",
        lambda m, f, g: _replace_file(m, f, FIRST, f[FIRST], new_path=FIRST.replace("market_bars", "order_book"), asset="order_book"),
        ["unknown lake asset 'order_book'"],
    ),
    (
        "bundle_id_mismatch",
        lambda m, f, g: bundle_members({**m, "bundle_id": "0" * 16}, f),
        ["bundle_id '0000000000000000' does not match"],
    ),
    (
        "not_parquet",
        lambda m, f, g: _replace_file(m, f, FIRST, b"not parquet at all"),
        ["not a readable parquet file", FIRST],
    ),
    (
        # A key regex matched with $ accepted a trailing newline: two entries, one path, and
        # the file checked against only one of them. Here the canonical entry lies and the other is true.
        "newline_in_symbol_key",
        lambda m, f, g: bundle_members(
            refresh_id(
                {
                    **m,
                    "files": [{**m["files"][0], "rows": 1, "sha256": "0" * 64}, {**m["files"][0], "symbol": "BTC-USDT\n"}] + m["files"][1:],
                }
            ),
            f,
        ),
        ["bad partition", "'BTC-USDT\\n'"],
    ),
    (
        "date_not_written_as_its_key",
        lambda m, f, g: bundle_members(refresh_id({**m, "files": [{**m["files"][0], "date": "20251006"}] + m["files"][1:]}), f),
        ["bad partition", "'20251006'", "'2025-10-06'"],
    ),
    (
        "duplicate_path_after_normalisation",
        lambda m, f, g: bundle_members({**m, "files": m["files"] + [{**m["files"][0], "path": FIRST.replace("lake/", "lake/./")}]}, f),
        ["duplicate entry", FIRST],
    ),
    (
        "junk_after_the_tar_end",
        lambda m, f, g: gzip.compress(tar_bytes(bundle_members(m, f)) + b"junk"),
        ["has data after the end of its tar archive"],
    ),
    (
        "no_end_of_archive_marker",
        lambda m, f, g: gzip.compress(tar_bytes(bundle_members(m, f), close=False)),
        ["no end-of-archive marker"],
    ),
    (
        "data_after_the_gzip_stream",
        lambda m, f, g: g + gzip.compress(b"more"),
        ["has data after the end of its gzip stream"],
    ),
    (
        "symbol_outside_universe",
        lambda m, f, g: _replace_file(m, f, FIRST, f[FIRST], new_path=FIRST.replace("BTC-USDT", "SOL-USDT"), symbol="SOL-USDT"),
        ["SOL-USDT", "not in the universe", "QUANT_ASSETS_SYMBOLS"],
    ),
]


def _bad_archive(tmp_path, good_path, build) -> Path:
    manifest, files = read_archive(good_path)
    built = build(copy.deepcopy(manifest), dict(files), good_path.read_bytes())
    bad = tmp_path / "bad.tar.gz"
    if isinstance(built, bytes):
        bad.write_bytes(built)
        return bad
    return write_archive(bad, built)


def _assert_refused(result, expected):
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: bundle bad.tar.gz refused: ")
    for words in expected:
        alternatives = words if isinstance(words, tuple) else (words,)
        assert any(w in lines[0] for w in alternatives), lines[0]


@pytest.mark.parametrize("build, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_import_refuses(lived_in_home, good_bundle, tmp_path, cli, build, expected):
    bad = _bad_archive(tmp_path, good_bundle[0], build)
    before = tree_digest(lived_in_home)
    result = cli("bundle", "import", bad)
    _assert_refused(result, expected)
    assert tree_digest(lived_in_home) == before


def test_import_refuses_days_before_the_first_partition(lived_in_home, good_bundle, cli, monkeypatch):
    monkeypatch.setenv("QUANT_ASSETS_START_DATE", "2025-10-07")
    before = tree_digest(lived_in_home)
    bad = good_bundle[0].rename(good_bundle[0].with_name("bad.tar.gz"))
    _assert_refused(cli("bundle", "import", bad), ["2025-10-06", "QUANT_ASSETS_START_DATE"])
    assert tree_digest(lived_in_home) == before


def test_refusal_in_a_fresh_home_creates_nothing_but_the_lock(home, good_bundle, tmp_path):
    manifest, files = read_archive(good_bundle[0])
    bad = write_archive(tmp_path / "bad.tar.gz", bundle_members(manifest, {**files, FIRST: _flip_byte(files[FIRST])}))
    with pytest.raises(BundleError, match="sha256 mismatch"):
        verify_and_unpack(bad, home / "bundles")
    # The lock file stays: deleting it while another import may have opened it would let
    # two imports hold "the" lock at once.
    assert tree_digest(home) == {"bundles": "dir", "bundles/.lock": hashlib.sha256(b"").hexdigest()}


def test_crafted_members_are_what_the_cases_claim(tmp_path):
    # tarfile must keep the hostile names and types as written, or the cases above prove nothing.
    path = write_archive(
        tmp_path / "x.tar.gz",
        [member("/abs", b"x"), member("a/../b", b"y"), member("l", kind=tarfile.SYMTYPE, linkname="/etc")],
    )
    with tarfile.open(path, "r:gz") as tar:
        names = [(m.name, m.type) for m in tar]
    assert names == [("/abs", tarfile.REGTYPE), ("a/../b", tarfile.REGTYPE), ("l", tarfile.SYMTYPE)]


def test_an_unusable_bundles_folder_is_one_line_not_a_traceback(home, good_bundle, cli):
    home.mkdir()
    (home / "bundles").write_text("not a folder")
    result = cli("bundle", "import", good_bundle[0])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert result.stderr.strip().splitlines() == [
        f"Error: bundle good.tar.gz refused: cannot take the bundle lock {home / 'bundles' / '.lock'}: File exists"
    ]
