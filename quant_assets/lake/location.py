"""Where the lake lives: a local folder, or an S3 bucket prefix (``s3://bucket/prefix``).

Every lake path is a ``UPath`` made here, so an ``s3://`` lake gets the same client settings
wherever it is opened (the lake, its staging and quarantine, DuckDB views, bundle import):

- the endpoint: ``QUANT_ASSETS_S3_ENDPOINT_URL`` when set (MinIO, a loopback test server),
  else botocore's own chain (``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL``, the AWS config
  file, else AWS itself); credentials always come from botocore's chain;
- no listing cache: s3fs caches folder listings per process, and a lake is written by
  other processes (Dagster steps, another machine), so a cached listing would hide their
  partitions. Each listing is one request; the lake lists by prefix, not by folder walk.
"""

from __future__ import annotations

from upath import UPath

LOCAL_PROTOCOLS = ("", "file", "local")
S3_PROTOCOLS = ("s3", "s3a")


def lake_path(location: str | UPath) -> UPath:
    """``location`` as a UPath with the lake's client settings (a UPath is taken as it is)."""
    if isinstance(location, UPath):
        return location
    path = UPath(location)
    if path.protocol in S3_PROTOCOLS:
        return UPath(location, **s3_options())
    return path


def s3_options() -> dict:
    """s3fs settings for the lake (see the module docstring)."""
    from quant_assets import settings  # settings reads the environment; the lake stays importable without it

    options: dict = {"use_listings_cache": False}
    endpoint = settings.s3_endpoint_url()
    if endpoint:
        options["endpoint_url"] = endpoint
    return options


def is_local(path: UPath) -> bool:
    return path.protocol in LOCAL_PROTOCOLS


def read_object(path: UPath) -> bytes:
    """A whole file. On S3 one GET: s3fs would otherwise send a HEAD first to decide whether
    to fetch ranges in parallel, which pays for files far larger than a partition."""
    if is_local(path):
        return path.read_bytes()
    if path.protocol in S3_PROTOCOLS:
        return path.fs.cat_file(path.path, max_concurrency=1)
    return path.fs.cat_file(path.path)


def ensure_folder(path: UPath) -> None:
    """Create ``path`` and its parents on a local disk. Object stores have no folders (a key
    is its whole path), and s3fs's ``mkdir`` would create a missing bucket: a typo in the
    lake root would silently make a new bucket instead of failing on the first write."""
    if is_local(path):
        path.mkdir(parents=True, exist_ok=True)
