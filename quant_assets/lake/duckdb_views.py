"""DuckDB over the lake in place: one view per stored asset, partitions read from the paths.

``date`` and ``symbol`` come from the hive folders (``date=.../symbol=...``), so a query can
filter on them and DuckDB skips the other files.

An object-store lake (``s3://bucket/prefix``) is read through fsspec's S3 client, registered
with the connection (``register_filesystem``): the same endpoint and credentials as every
other lake read, and no DuckDB extension to download (``httpfs`` needs the network at first
use, which an offline machine does not have). That client keeps its listings for the
connection's life: DuckDB asks for a file's size and date many times per query (nine HEAD
requests a file, measured), which the listing its glob made already answers. So a
connection sees the partitions its first query listed; call ``lake_views`` again for a
fresh look (``quant-assets sql`` makes a connection per query).
"""

from __future__ import annotations

import duckdb
import fsspec
from upath import UPath

from quant_assets.lake.location import is_local, lake_path
from quant_assets.lake.store import PART_FILE


def lake_views(lake_root: str, connection: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyConnection:
    """A connection with a view named after every asset that has stored partitions."""
    con = connection or duckdb.connect()
    root = lake_path(lake_root)
    if not is_local(root):
        _register(con, _snapshot_client(root))
    if not root.exists():
        return con
    for asset_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        pattern = f"{str(asset_dir).rstrip('/')}/date=*/symbol=*/{PART_FILE}"
        con.execute(
            f"CREATE OR REPLACE VIEW {_identifier(asset_dir.name)} AS "
            f"SELECT * FROM read_parquet('{pattern}', hive_partitioning = true, union_by_name = true)"
        )
    return con


def _snapshot_client(root: UPath):
    """A client of the lake's store of this connection's own, with listings cached (see above)."""
    return fsspec.filesystem(root.protocol, **{**root.storage_options, "use_listings_cache": True, "skip_instance_cache": True})


def _register(con: duckdb.DuckDBPyConnection, fs) -> None:
    """Route the store's URLs through ``fs``; a connection that already knows the protocol
    (a lake opened on it before) gets this lake's client, endpoint and all."""
    name = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    if name in con.list_filesystems():
        con.unregister_filesystem(name)
    con.register_filesystem(fs)


def _identifier(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"lake folder {name!r} is not a valid view name")
    return name
