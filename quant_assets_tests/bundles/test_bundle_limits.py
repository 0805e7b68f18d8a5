"""Bundle import is bounded before it inflates: declared sizes, a total cap, a ratio cap, the
end of the archive, and row counts from the parquet footer.

The bombs are real gzip streams (built in milliseconds, see ``archives.gzip_with_zeros``); the
ones that would take minutes to inflate prove by the clock that the importer never tried.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import time

import pyarrow.parquet as pq
import pytest

from quant_assets.bundles.limits import LOCK_TIMEOUT_ENV, MAX_BYTES_ENV, MAX_RATIO_ENV, BundleLimits
from quant_assets.bundles.manifest import BundleError
from quant_assets.bundles.unpack import verify_and_unpack
from quant_assets_tests.bundles.archives import (
    FIRST,
    bundle_members,
    gzip_with_zeros,
    header_only,
    member,
    read_archive,
    refresh_id,
    tar_bytes,
    tree_digest,
    write_archive,
)

GIB = 1 << 30
# Inflating 10 GiB of zeros takes ~30 s on this machine; refusing up front takes ~1 s.
NEVER_INFLATED_S = 15


def _refusal(cli, path) -> str:
    result = cli("bundle", "import", path)
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def _entry(manifest: dict, path: str) -> dict:
    return next(e for e in manifest["files"] if e["path"] == path)


@pytest.mark.parametrize("manifest_says_10_gib", [False, True], ids=["manifest_honest_about_the_file", "manifest_says_10_gib"])
def test_a_member_declaring_10_gib_of_zeros_is_refused_before_extraction(lived_in_home, good_bundle, tmp_path, cli, manifest_says_10_gib):
    manifest, files = read_archive(good_bundle[0])
    if manifest_says_10_gib:
        _entry(manifest, FIRST)["bytes"] = 10 * GIB
    head = tar_bytes(bundle_members(manifest, {})[:1], close=False) + header_only(FIRST, 10 * GIB)
    # 64 MiB of the zeros are really there (a wrong importer would stage them); the rest is cut.
    bomb = tmp_path / "bomb.tar.gz"
    bomb.write_bytes(gzip_with_zeros(head, 64 << 20))
    before = tree_digest(lived_in_home)

    line = _refusal(cli, bomb)

    if manifest_says_10_gib:
        # 10 GiB is under the 16 GiB default cap, but not from a 70 KB archive.
        assert "bundle_manifest.json declares 107374" in line and MAX_RATIO_ENV in line and "decompression bomb" in line, line
    else:
        assert f"{FIRST}: its tar header declares {10 * GIB} bytes, the manifest says {len(files[FIRST])}" in line, line
        assert "refused before extracting it" in line
    assert tree_digest(lived_in_home) == before


def test_a_bomb_past_the_ratio_cap_is_refused_from_its_manifest(home, good_bundle, tmp_path, cli, monkeypatch):
    # An honest manifest for a 64 MiB file of zeros: nothing lies, it is just a bomb (~1000:1).
    manifest, files = read_archive(good_bundle[0])
    size = 64 << 20
    _entry(manifest, FIRST).update(bytes=size, sha256=hashlib.sha256(bytes(size)).hexdigest())
    refresh_id(manifest)
    others = [member(name, data) for name, data in files.items() if name != FIRST]
    head = tar_bytes(bundle_members(manifest, {})[:1], close=False) + header_only(FIRST, size)
    bomb = tmp_path / "bomb.tar.gz"
    bomb.write_bytes(gzip_with_zeros(head, size, tail=tar_bytes(others)))
    assert bomb.stat().st_size < 100_000

    line = _refusal(cli, bomb)
    assert "decompression bomb" in line and MAX_RATIO_ENV in line and f"20x its {bomb.stat().st_size} bytes" in line, line
    assert not (home / "lake").exists()

    # The cap is the setting: raised, the same archive inflates and fails as what it is.
    monkeypatch.setenv(MAX_RATIO_ENV, "5000")
    assert f"{FIRST}: not a readable parquet file" in _refusal(cli, bomb)


def test_the_total_size_cap_is_a_setting(home, good_bundle, cli, monkeypatch):
    unpacked = len(gzip.decompress(good_bundle[0].read_bytes()))  # files, manifest, tar headers
    monkeypatch.setenv(MAX_BYTES_ENV, "40000")  # below what the manifest declares (~48 KB)
    line = _refusal(cli, good_bundle[0])
    assert "bundle_manifest.json declares" in line and f"40000 bytes ({MAX_BYTES_ENV})" in line, line
    monkeypatch.setenv(MAX_BYTES_ENV, str(unpacked - 1))  # what it declares fits, the stream does not
    line = _refusal(cli, good_bundle[0])
    assert f"good.tar.gz unpacks to more than {unpacked - 1} bytes ({MAX_BYTES_ENV})" in line, line
    assert not (home / "bundles").exists() or not any(p.name != ".lock" for p in (home / "bundles").iterdir())
    monkeypatch.setenv(MAX_BYTES_ENV, str(unpacked))
    assert cli("bundle", "import", "--unpack-only", good_bundle[0]).exit_code == 0


def test_zeros_after_the_tar_end_are_refused_without_inflating_them(lived_in_home, good_bundle, tmp_path, cli):
    manifest, files = read_archive(good_bundle[0])
    # A whole, valid bundle, then 10 GiB of zeros inside the same gzip stream.
    bomb = tmp_path / "trailing.tar.gz"
    bomb.write_bytes(gzip_with_zeros(tar_bytes(bundle_members(manifest, files)), 10 * GIB, true_trailer=False))
    before = tree_digest(lived_in_home)
    started = time.monotonic()
    line = _refusal(cli, bomb)
    assert time.monotonic() - started < NEVER_INFLATED_S
    assert "has data after the end of its tar archive" in line, line
    assert tree_digest(lived_in_home) == before


def test_the_row_count_comes_from_the_parquet_footer(home, good_bundle, tmp_path):
    # The ts column's data page is garbage; the footer still says 288 rows. A row count taken
    # by reading the column could not compare anything; the footer's is compared first.
    manifest, files = read_archive(good_bundle[0])
    data = bytearray(files[FIRST])
    page = pq.read_metadata(io.BytesIO(files[FIRST])).row_group(0).column(0).data_page_offset
    for at in range(page + 20, page + 60):
        data[at] ^= 0xFF
    files[FIRST] = bytes(data)
    _entry(manifest, FIRST).update(rows=287, sha256=hashlib.sha256(files[FIRST]).hexdigest())
    refresh_id(manifest)
    bad = write_archive(tmp_path / "bad.tar.gz", bundle_members(manifest, files))
    with pytest.raises(BundleError, match=f"{FIRST}: row count mismatch: the file has 288 rows, the manifest says 287"):
        verify_and_unpack(bad, home / "bundles")


@pytest.mark.parametrize(
    "name, raw, says",
    [
        (MAX_BYTES_ENV, "10GB", "a whole number of bytes"),
        (MAX_BYTES_ENV, "0", "a whole number of bytes, at least 1"),
        (MAX_RATIO_ENV, "lots", "a number, at least 1"),
        (MAX_RATIO_ENV, "0.5", "a number, at least 1"),
        (MAX_RATIO_ENV, "nan", "a number"),
        (LOCK_TIMEOUT_ENV, "-1", "seconds, at least 0"),
        (LOCK_TIMEOUT_ENV, "inf", "seconds"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(home, good_bundle, cli, monkeypatch, name, raw, says):
    monkeypatch.setenv(name, raw)
    line = _refusal(cli, good_bundle[0])
    assert line.startswith(f"Error: bundle good.tar.gz refused: {name}={raw!r} is not {says}"), line
    assert not home.exists()
    exported = cli("bundle", "export", "--out", home.parent / "x.tar.gz", "--start", "2025-10-06", "--end", "2025-10-07")
    if name == LOCK_TIMEOUT_ENV:  # export reads only the lock's setting
        assert exported.exit_code == 1 and f"{name}={raw!r}" in exported.stderr


def test_settings_read_from_the_environment():
    limits = BundleLimits.from_env({MAX_BYTES_ENV: "2_000_000", MAX_RATIO_ENV: "2.5", LOCK_TIMEOUT_ENV: "0"})
    assert limits == BundleLimits(max_bytes=2_000_000, max_ratio=2.5, lock_timeout_s=0.0)
    assert BundleLimits.from_env({}) == BundleLimits()
    assert limits.unpack_ceiling(1000) == (2500 + (1 << 20), f"2.5x its 1000 bytes ({MAX_RATIO_ENV}); refused as a decompression bomb")
    assert limits.unpack_ceiling(10 << 20) == (2_000_000, f"2000000 bytes ({MAX_BYTES_ENV})")
