"""Where state lives and what the universe is, read from the environment once.

Everything the platform writes (the parquet lake, the Dagster instance, the MLflow store,
the trading ledger, unpacked bundles, caches) lives under one root, ``QUANT_ASSETS_HOME``.
A test or a second deployment is one environment variable away. The lake alone may live
elsewhere, e.g. in an S3 bucket a team shares: ``QUANT_ASSETS_LAKE_ROOT=s3://bucket/prefix``
(with ``QUANT_ASSETS_S3_ENDPOINT_URL`` for an S3-compatible server).

Partition definitions must exist when Dagster loads the code location, so the universe and
the first partition day are environment settings rather than run config.

Every ``QUANT_ASSETS_*`` variable is declared once, in the typed model (``Settings``: one
``Group`` per area, each field with its variable, default, parser and description), and read
through ``current()``; a bad value is one ``SettingsError`` line naming the variable, never a
traceback from deep inside a parser. The docs' table (docs/settings.md) is generated from the
model: ``python -m quant_assets.settings`` rewrites it.

The package, module by module:

- ``parsers``: ``SettingsError``, ``check`` / ``read`` and the parsers of the values;
- ``layout``: ``REPO_ROOT``, ``DEFAULT_HOME`` and ``HomeLayout``, the folders under the home;
- ``model``: ``Var`` and ``Group``, the building blocks of the model;
- ``groups``: the areas' groups, ``Settings``, ``current()`` and ``declared()``;
- ``accessors``: ``home()``, ``universe()``, ``start_date()`` and the like, from ``current()``;
- ``docs_table``: the docs' table, generated from the groups;
- ``versions``: ``code_version()`` and ``source_digest()``.

Callers import from the package (``from quant_assets import settings``; ``settings.home()``),
which re-exports every public name of these modules.
"""

from quant_assets.settings.accessors import home, refit_days, s3_endpoint_url, start_date, train_days, universe
from quant_assets.settings.docs_table import DOCS, table, table_in_docs, write_docs
from quant_assets.settings.groups import (
    DEFAULT_BROKER,
    DEFAULT_QUEUE,
    DEFAULT_REFIT_DAYS,
    DEFAULT_START_DATE,
    DEFAULT_SYMBOLS,
    DEFAULT_TRAIN_DAYS,
    EXCHANGE_KEYS,
    EXECUTORS,
    GROUPS,
    LAKE_ROOT_EXPECT,
    MARKET_TYPES,
    PREFIX,
    SAMPLES_EXPECT,
    SANDBOX_KEYS,
    SERVED_FAMILIES,
    SOURCE_KINDS,
    Automation,
    Bundles,
    Calendar,
    Embedding,
    Evaluation,
    Execution,
    Features,
    Home,
    Instance,
    Labels,
    Mlflow,
    Portfolio,
    Settings,
    Sources,
    Study,
    Text,
    Trading,
    Training,
    current,
    declared,
)
from quant_assets.settings.layout import DEFAULT_HOME, REPO_ROOT, HomeLayout
from quant_assets.settings.model import Group, Var
from quant_assets.settings.parsers import (
    BROKER_SCHEMES,
    SettingsError,
    bounded,
    broker_url,
    check,
    duration,
    exit_on_settings_error,
    flag,
    fraction,
    hide_password,
    http_url,
    is_set,
    lake_location,
    latent_dims,
    local_folder,
    non_negative,
    one_of,
    positive,
    positive_int,
    postgres_url,
    psycopg2_url,
    queue_name,
    read,
    round_trip_bps,
    sample_rows,
    symbol_keys,
)
from quant_assets.settings.versions import code_version, source_digest, source_files

__all__ = [
    # parsers
    "SettingsError", "check", "hide_password", "read", "is_set", "exit_on_settings_error", "one_of", "bounded", "positive_int",
    "local_folder", "lake_location", "http_url", "symbol_keys", "flag", "fraction", "non_negative", "positive",
    "postgres_url", "psycopg2_url", "BROKER_SCHEMES", "broker_url", "queue_name", "round_trip_bps", "duration",
    "latent_dims", "sample_rows",
    # layout
    "REPO_ROOT", "DEFAULT_HOME", "HomeLayout",
    # model
    "Var", "Group",
    # groups
    "DEFAULT_SYMBOLS", "DEFAULT_START_DATE", "SOURCE_KINDS", "MARKET_TYPES", "SERVED_FAMILIES", "EXECUTORS",
    "DEFAULT_BROKER", "DEFAULT_QUEUE", "DEFAULT_TRAIN_DAYS", "DEFAULT_REFIT_DAYS", "LAKE_ROOT_EXPECT", "SAMPLES_EXPECT",
    "Home", "Calendar", "Sources", "Embedding", "Text", "Features", "Labels", "Training", "Study", "Evaluation",
    "Bundles", "Instance", "Execution", "Automation", "Mlflow", "Portfolio", "Trading",
    "EXCHANGE_KEYS", "SANDBOX_KEYS", "Settings", "GROUPS", "PREFIX", "current", "declared",
    # accessors
    "home", "s3_endpoint_url", "universe", "start_date", "train_days", "refit_days",
    # docs_table
    "DOCS", "table", "table_in_docs", "write_docs",
    # versions
    "code_version", "source_files", "source_digest",
]  # fmt: skip
