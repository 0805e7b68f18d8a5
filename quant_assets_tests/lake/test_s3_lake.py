"""The lake in an S3 bucket (moto's S3 server on loopback): settings, layout, atomicity.

Object stores have no rename. What keeps a partition whole there is that S3 shows an object
only once its upload (one PUT, or a multipart upload's completion) or server-side copy is
complete. These tests kill a writer in the middle of an upload, and fail a publication in
the middle, and look at what readers see. The round trips shared with a local lake (publish,
quarantine, DuckDB views, bundles) run in the parametrised tests beside this file.
"""

from __future__ import annotations

import hashlib
import os
import select
import signal
import subprocess
import sys
import textwrap

import polars as pl
import pytest

from quant_assets import settings
from quant_assets.lake.duckdb_views import lake_views
from quant_assets.lake.publish import StagedLake, sweep_staging
from quant_assets.lake.store import ParquetLake
from quant_assets.market.bars import BARS_ASSET
from quant_assets.settings import SettingsError
from quant_assets_tests.bundles.archives import fixture_partitions
from quant_assets_tests.moto_s3 import object_keys

PARTS = dict(fixture_partitions())  # four real partitions: BTC and ETH, 2025-10-06 and 07


@pytest.fixture
def s3_lake(use_s3) -> ParquetLake:
    return ParquetLake(f"{use_s3.fresh_prefix()}/lake")


def _key(lake: ParquetLake, part) -> str:
    return lake.partition_path(BARS_ASSET, part).path.split("/", 1)[1]  # without the bucket


def _object_sha(s3, key: str) -> str:
    return hashlib.sha256(s3.client().get_object(Bucket=s3.bucket, Key=key)["Body"].read()).hexdigest()


# ---- settings ------------------------------------------------------------------------------


def test_the_lake_root_setting_takes_an_s3_prefix_and_refuses_bad_values_in_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("QUANT_ASSETS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("QUANT_ASSETS_LAKE_ROOT", raising=False)
    assert settings.home().lake == str(tmp_path / "home" / "lake")  # unset: under the home, as before

    monkeypatch.setenv("QUANT_ASSETS_LAKE_ROOT", "s3://team-bucket/quant/lake/")
    assert settings.home().lake == "s3://team-bucket/quant/lake"
    assert settings.home().dagster_home == str(tmp_path / "home" / "dagster")  # the rest stays home

    for value, why in [
        ("s3://team-bucket", "no prefix below the bucket"),
        ("s3://Team_Bucket/lake", "'Team_Bucket' is not an S3 bucket name"),
        ("gs://team-bucket/lake", "gs:// is not supported"),
    ]:
        monkeypatch.setenv("QUANT_ASSETS_LAKE_ROOT", value)
        with pytest.raises(SettingsError) as err:
            settings.home()
        message = str(err.value)
        assert message.startswith(f"QUANT_ASSETS_LAKE_ROOT={value!r} is not usable ({why}")
        assert message.endswith("expected a local folder or s3://bucket/prefix") and "\n" not in message

    with pytest.raises(ValueError, match="needs a prefix below the bucket"):
        ParquetLake("s3://team-bucket")  # the same rule for a lake opened in code

    # A bad endpoint fails when the settings are read (the project loading), not at the first write.
    monkeypatch.setenv("QUANT_ASSETS_LAKE_ROOT", "s3://team-bucket/lake")
    monkeypatch.setenv("QUANT_ASSETS_S3_ENDPOINT_URL", "127.0.0.1:9000")
    with pytest.raises(SettingsError, match=r"^QUANT_ASSETS_S3_ENDPOINT_URL='127.0.0.1:9000' is not usable \(not an http"):
        settings.home()


def test_the_standard_aws_endpoint_variable_is_enough(use_s3, monkeypatch):
    # Without QUANT_ASSETS_S3_ENDPOINT_URL the endpoint is botocore's: AWS_ENDPOINT_URL here.
    monkeypatch.delenv("QUANT_ASSETS_S3_ENDPOINT_URL")
    monkeypatch.setenv("AWS_ENDPOINT_URL", use_s3.endpoint)
    lake = ParquetLake(f"{use_s3.fresh_prefix()}/lake")
    part = sorted(PARTS)[0]
    lake.write(BARS_ASSET, part, PARTS[part])
    assert _key(lake, part) in object_keys(use_s3, str(lake.root))
    assert lake.read(BARS_ASSET, part).equals(PARTS[part])


# ---- layout, reads and writes ----------------------------------------------------------------


def test_partitions_are_single_objects_at_hive_keys_and_read_back(s3_lake, use_s3):
    writes = s3_lake.write_many(BARS_ASSET, sorted(PARTS.items()))
    prefix = str(s3_lake.root).removeprefix(f"s3://{use_s3.bucket}/")
    # One object per partition, at its hive key; no temporary object, no folder marker.
    assert object_keys(use_s3, str(s3_lake.root)) == [f"{prefix}/market_bars/date={p.day}/symbol={p.symbol}/part-0.parquet" for p in sorted(PARTS)]
    for write in writes:
        assert write.path == f"{s3_lake.root}/market_bars/date={write.partition.day}/symbol={write.partition.symbol}/part-0.parquet"
        assert _object_sha(use_s3, _key(s3_lake, write.partition)) == write.sha256 == s3_lake.file_sha256(BARS_ASSET, write.partition)
    assert s3_lake.partitions(BARS_ASSET) == sorted(PARTS)
    both = s3_lake.read_many(BARS_ASSET, sorted(PARTS), with_partition_day=True)
    assert both.height == 4 * 288 and set(both["symbol"]) == {"BTC-USDT", "ETH-USDT"}
    assert both.filter(pl.col("partition_day") == sorted(PARTS)[0].day).height == 2 * 288
    assert s3_lake.read_schema(BARS_ASSET, sorted(PARTS)[0]) == PARTS[sorted(PARTS)[0]].schema
    with pytest.raises(FileNotFoundError, match="is not materialized"):
        s3_lake.read(BARS_ASSET, type(sorted(PARTS)[0]).parse("2025-10-08|BTC-USDT"))


def test_a_missing_bucket_is_an_error_not_a_new_bucket(use_s3):
    lake = ParquetLake("s3://no-such-bucket-here/lake")
    part = sorted(PARTS)[0]
    with pytest.raises(FileNotFoundError):
        lake.write(BARS_ASSET, part, PARTS[part])
    names = [b["Name"] for b in use_s3.client().list_buckets()["Buckets"]]
    assert "no-such-bucket-here" not in names


def test_views_over_an_s3_lake_can_be_rebuilt_on_one_connection(s3_lake, use_s3):
    s3_lake.write_many(BARS_ASSET, sorted(PARTS.items()))
    con = lake_views(str(s3_lake.root))
    again = lake_views(str(s3_lake.root), con)  # the second registration replaces the first
    assert again.execute("select count(*), count(distinct symbol) from market_bars").fetchone() == (4 * 288, 2)


# ---- atomicity -------------------------------------------------------------------------------

KILLED_UPLOAD = textwrap.dedent(
    """
    import sys, time
    from datetime import date

    import s3fs

    from quant_assets.lake.store import ParquetLake
    from quant_assets.partitions import DaySymbol
    from quant_assets_tests.lake.bigframe import big_bars

    # Upload in 5 MiB parts (S3's smallest), so this ~17 MB partition is a multipart upload:
    # all its parts are sent, then the writer stops before completing it and waits to be killed.
    pipe = s3fs.S3FileSystem._pipe_file
    async def pipe_in_parts(self, path, data, chunksize=None, **kwargs):
        return await pipe(self, path, data, chunksize=5 * 2**20, **kwargs)
    call = s3fs.S3FileSystem._call_s3
    async def call_s3(self, method, *args, **kwargs):
        if method == "complete_multipart_upload":
            print("PARTS", len(kwargs["MultipartUpload"]["Parts"]), flush=True)
            time.sleep(120)
        return await call(self, method, *args, **kwargs)
    s3fs.S3FileSystem._pipe_file, s3fs.S3FileSystem._call_s3 = pipe_in_parts, call_s3

    frame = big_bars()  # ~17 MB of parquet: big enough to stop halfway through
    ParquetLake(sys.argv[1]).write("market_bars", DaySymbol(date(2025, 10, 6), "BTC-USDT"), frame)
    print("FINISHED", flush=True)
    """
)


def test_a_writer_killed_mid_upload_leaves_the_old_object(s3_lake, use_s3):
    part = sorted(PARTS)[0]
    assert str(part) == "2025-10-06|BTC-USDT"
    old = s3_lake.write(BARS_ASSET, part, PARTS[part])

    child = subprocess.Popen([sys.executable, "-c", KILLED_UPLOAD, str(s3_lake.root)], stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        ready, _, _ = select.select([child.stdout], [], [], 120)
        assert ready, "the child never reached the end of its parts"
        line = child.stdout.readline().split()
        assert line[:1] == ["PARTS"] and int(line[1]) >= 3, line
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL

    # The kill really came mid-upload: the server holds the parts of an unfinished upload.
    key = _key(s3_lake, part)
    uploads = use_s3.client().list_multipart_uploads(Bucket=use_s3.bucket, Prefix=key).get("Uploads", [])
    assert [u["Key"] for u in uploads] == [key]

    # Readers see the old partition, whole; the parts are invisible.
    assert object_keys(use_s3, str(s3_lake.root)) == [key]
    assert _object_sha(use_s3, key) == old.sha256 == s3_lake.file_sha256(BARS_ASSET, part)
    assert s3_lake.read(BARS_ASSET, part).equals(PARTS[part])
    assert s3_lake.partitions(BARS_ASSET) == [part]

    newer = PARTS[part].head(10)
    s3_lake.write(BARS_ASSET, part, newer)
    assert s3_lake.read(BARS_ASSET, part).equals(newer)


def _stage_newer(lake: ParquetLake, run_id: str) -> tuple[dict, dict]:
    """Every partition published, then a shorter version of each staged and sealed: the
    (old, new) SHA-256 per partition."""
    old = {p: lake.write(BARS_ASSET, p, f).sha256 for p, f in PARTS.items()}
    staged = StagedLake.begin(lake, run_id, BARS_ASSET)
    new = {p: staged.write(BARS_ASSET, p, f.head(100)).sha256 for p, f in PARTS.items()}
    staged.seal()
    return old, new


def test_a_publish_failing_midway_leaves_each_partition_old_or_new_and_the_rest_staged(s3_lake, use_s3, monkeypatch):
    old, new = _stage_newer(s3_lake, "run-1")
    failing = sorted(PARTS)[1]
    fs = s3_lake.root.fs
    copy = fs.copy

    def planted_copy(source, target, **kwargs):
        if f"symbol={failing.symbol}" in target and f"date={failing.day}" in target:
            raise OSError("planted: the store refused the copy")
        return copy(source, target, **kwargs)

    monkeypatch.setattr(fs, "copy", planted_copy)
    with pytest.raises(OSError, match="planted"):
        StagedLake.sealed(s3_lake, "run-1", BARS_ASSET).publish({})

    # Every partition reads whole: the failed one is the old version, the others the new one.
    for part in PARTS:
        assert s3_lake.file_sha256(BARS_ASSET, part) == (old[part] if part == failing else new[part])
        assert s3_lake.read(BARS_ASSET, part).height == (288 if part == failing else 100)
    assert s3_lake.partitions(BARS_ASSET) == sorted(PARTS)
    con = lake_views(str(s3_lake.root))
    assert con.execute("select count(*) from market_bars").fetchone() == (288 + 3 * 100,)

    # The unpublished partition is still staged, read by nobody; once the run is over the
    # sweep removes it, and the lake is as the failed publication left it.
    staging = str(s3_lake.staging_root).removeprefix(f"s3://{use_s3.bucket}/")
    assert object_keys(use_s3, str(s3_lake.staging_root)) == [
        f"{staging}/run-1/market_bars/STAGED.json",
        f"{staging}/run-1/market_bars/date={failing.day}/symbol={failing.symbol}/part-0.parquet",
    ]
    assert sweep_staging(s3_lake, lambda run_id: run_id == "run-1") == ["run-1"]
    assert object_keys(use_s3, str(s3_lake.staging_root)) == []
    assert s3_lake.file_sha256(BARS_ASSET, failing) == old[failing]


def test_a_crash_between_copy_and_delete_leaves_the_new_partition_and_a_staged_copy_the_sweep_removes(s3_lake, use_s3, monkeypatch):
    old, new = _stage_newer(s3_lake, "run-2")
    fs = s3_lake.root.fs
    rm_file = fs.rm_file

    def crash(path, **kwargs):
        raise OSError("planted: the process died after the copy")

    monkeypatch.setattr(fs, "rm_file", crash)
    with pytest.raises(OSError, match="planted"):
        StagedLake.sealed(s3_lake, "run-2", BARS_ASSET).publish({})
    monkeypatch.setattr(fs, "rm_file", rm_file)

    # Published whole (the copy is byte for byte: the hash recorded at staging holds) ...
    assert {p: s3_lake.file_sha256(BARS_ASSET, p) for p in PARTS} == new
    # ... and the staged objects are still there, where no reader looks.
    staged_keys = object_keys(use_s3, str(s3_lake.staging_root))
    assert len([k for k in staged_keys if k.endswith("part-0.parquet")]) == len(PARTS)
    assert s3_lake.partitions(BARS_ASSET) == sorted(PARTS)
    assert lake_views(str(s3_lake.root)).execute("select count(*) from market_bars").fetchone() == (4 * 100,)

    # The staging sweep removes them once the run is known to be over.
    assert sweep_staging(s3_lake, lambda run_id: False) == []
    assert sweep_staging(s3_lake, lambda run_id: run_id == "run-2") == ["run-2"]
    assert object_keys(use_s3, str(s3_lake.staging_root)) == []
    assert {p: s3_lake.file_sha256(BARS_ASSET, p) for p in PARTS} == new


def test_the_sql_command_queries_the_s3_lake_named_by_the_setting(s3_lake, monkeypatch, tmp_path):
    from click.testing import CliRunner

    from quant_assets.cli import main

    s3_lake.write_many(BARS_ASSET, sorted(PARTS.items()))
    monkeypatch.setenv("QUANT_ASSETS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("QUANT_ASSETS_LAKE_ROOT", str(s3_lake.root))
    result = CliRunner().invoke(main, ["sql", "select symbol, count(*) as n from market_bars group by symbol order by symbol"])
    assert result.exit_code == 0, result.output
    assert "BTC-USDT" in result.output and "ETH-USDT" in result.output and result.output.count("576") == 2
    assert not (tmp_path / "home" / "lake").exists()  # nothing read or written under the home
