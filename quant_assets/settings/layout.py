"""Where state lives: the checkout, ``QUANT_ASSETS_HOME`` and the folders under it.

``HomeLayout`` names each folder of the home (the lake, the Dagster instance, the MLflow
store, the ledger, reports, unpacked bundles, the cache); the lake alone may live elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_HOME = REPO_ROOT / ".quant_assets_home"


@dataclass(frozen=True)
class HomeLayout:
    """The folders under ``QUANT_ASSETS_HOME``; nothing outside it is written, except the
    lake when ``QUANT_ASSETS_LAKE_ROOT`` puts it elsewhere (``lake_root``)."""

    root: str
    lake_root: str | None = None

    @property
    def lake(self) -> str:
        """The lake; its staging and quarantine areas are its siblings (``../staging``)."""
        return self.lake_root or _join(self.root, "lake")

    @property
    def dagster_home(self) -> str:
        return _join(self.root, "dagster")

    @property
    def mlflow(self) -> str:
        return _join(self.root, "mlflow")

    @property
    def ledger(self) -> str:
        return _join(self.root, "ledger")

    @property
    def reports(self) -> str:
        """Study reports (``study_report``): one self-contained HTML page per study."""
        return _join(self.root, "reports")

    @property
    def bundles(self) -> str:
        """Verified, imported bundles are unpacked here; the ``bundle`` source reads from them."""
        return _join(self.root, "bundles")

    @property
    def cache(self) -> str:
        return _join(self.root, "cache")


def _join(root: str, name: str) -> str:
    # Roots may be URLs (s3://bucket/prefix) as well as local paths.
    return root.rstrip("/") + "/" + name
