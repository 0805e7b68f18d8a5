"""Logging fits to MLflow and finding them again.

A fit is one MLflow run in the ``quant_assets`` experiment: parameters (training settings,
window, embargo, contract), tags (symbol, fit key, Dagster run and partitions, code
version), metrics per horizon (ablations included), the purged k-fold per fold (metrics
``cv_<h>_<figure>`` with the fold as step, their means, and the artifact
``purged_kfold.json``), the input partitions' content hashes as an artifact, and the
model (a pyfunc with the contract's signature, whose artifacts are the
native files). The logged model is registered as a new version of each horizon's name.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import mlflow
import polars as pl
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from quant_assets.labels.horizons import HORIZON_NAMES
from quant_assets.models import cv
from quant_assets.models.artefact import FittedModel
from quant_assets.registry.names import registered_name
from quant_assets.registry.pyfunc import NATIVE_DIR, signature
from quant_assets.registry.store import EXPERIMENT, MlflowStore

FIT_KEY_TAG = "quant_assets.fit_key"
STUDY_KEY_TAG = "quant_assets.study"
STUDY_EXPERIMENT = "quant_assets.studies"  # one run per study, its report the artifact
PYFUNC_CODE = Path(__file__).with_name("pyfunc_model.py")
# Downloads of a few small files need no progress bars in run logs.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
MODEL_ARTIFACT = "model"
# Run parameters that locate one refit of a configuration (its window and inputs), not the
# configuration itself: fits of the same settings, contract and code on different anchors are
# one configuration; any other parameter or the code digest differing makes another.
WINDOW_PARAMS = frozenset({"fit_anchor", "fit_start", "fit_end", "inputs_sha256"})
# What a loaded pyfunc needs besides the project itself; listing it stops MLflow from
# inferring requirements, which costs seconds per model.
PIP_REQUIREMENTS = ["lightgbm==4.7.0", "torch==2.13.0", "polars", "numpy", "pandas"]


def log_pyfunc(code: Path, native: Path, model_signature) -> "mlflow.models.model.ModelInfo":
    """Log a models-from-code pyfunc (``code``) over its native files (``native``) in the active
    run, with its signature and ``PIP_REQUIREMENTS``.

    No input example: with one, ``log_model`` reloads the model it has just written and
    predicts the example ("serving input validation"), which once the fits got cheap (issue 18)
    was the largest part of logging one. Every logged model is loaded and predicted anyway, by
    the model checks (``model_reproduces``) and the registry tests; the signature says what
    the inputs are.
    """
    return mlflow.pyfunc.log_model(
        name=MODEL_ARTIFACT,
        python_model=str(code),
        artifacts={NATIVE_DIR: str(native)},
        signature=model_signature,
        pip_requirements=PIP_REQUIREMENTS,
    )


@dataclass(frozen=True)
class LoggedFit:
    run_id: str
    model_uri: str
    versions: dict[str, str]  # horizon -> registered model version


def configuration_key(params: dict[str, str], tags: dict[str, str]) -> str:
    """One fit's configuration: its parameters but the window's, and its code digest."""
    kept = {k: v for k, v in params.items() if k not in WINDOW_PARAMS} | {"code_digest": tags.get("code_digest", "")}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]


def fit_metrics(model: FittedModel, model_id: str | None) -> list[Metric]:
    """A fit's run metrics: per horizon (ablations included), training rows, the purged k-fold's
    means and, per fold (the step), its figures; those of step 0 also linked to the logged model
    ``model_id``, as MLflow links a run's step-0 metrics when the model is logged after them."""
    now = int(time.time() * 1000)
    by_step = {0: {k: v for k, v in model.metrics.items() if v == v}}
    by_step[0].update({f"train_rows_{h}": float(s["rows"]) for h, s in model.training.items()})
    by_step[0].update(cv.summary_metrics(model.cv))
    for step, figures in cv.fold_metrics(model.cv).items():
        by_step.setdefault(step, {}).update(figures)
    metrics = [Metric(k, float(v), now, step) for step, figures in sorted(by_step.items()) for k, v in figures.items()]
    return metrics + [Metric(m.key, m.value, now, 0, model_id=model_id) for m in metrics if m.step == 0 and model_id]


class NoSuchVersion(LookupError):
    """A registered name, alias or version that is not there; the message is one line."""


class Tracking:
    """One MLflow store: the experiment, runs and the registry."""

    def __init__(self, store: MlflowStore):
        self.store = store
        mlflow.set_tracking_uri(store.tracking_uri)
        mlflow.set_registry_uri(store.tracking_uri)
        self.client = MlflowClient(store.tracking_uri, store.tracking_uri)
        self._registered: set[str] = set()  # registered model names known to exist
        found = self.client.get_experiment_by_name(EXPERIMENT)
        self.experiment_id = found.experiment_id if found else self.client.create_experiment(EXPERIMENT, artifact_location=store.artifact_root)

    def find_fit(self, fit_key: str) -> LoggedFit | None:
        """The finished run already logged for ``fit_key`` (same window, inputs, settings, code)."""
        runs = self.client.search_runs(
            [self.experiment_id], filter_string=f"tags.`{FIT_KEY_TAG}` = '{fit_key}' and attributes.status = 'FINISHED'", max_results=1
        )
        if not runs:
            return None
        tags = runs[0].data.tags
        versions = json.loads(tags.get("quant_assets.versions", "{}"))
        if set(versions) != set(HORIZON_NAMES):
            return None
        return LoggedFit(runs[0].info.run_id, tags["quant_assets.model_uri"], versions)

    def log_fit(
        self,
        model: FittedModel,
        fit_key: str,
        params: dict,
        tags: dict[str, str],
        inputs: dict,
        version_tags: dict[str, str],
    ) -> LoggedFit:
        symbol = model.window.symbol
        with tempfile.TemporaryDirectory() as tmp:
            folder = model.save(Path(tmp) / NATIVE_DIR)
            files = Path(tmp) / "files"
            files.mkdir()
            (files / "inputs.json").write_text(json.dumps(inputs, indent=1, sort_keys=True))
            (files / cv.ARTIFACT).write_text(json.dumps(model.cv, indent=1, sort_keys=True))
            with mlflow.start_run(experiment_id=self.experiment_id, run_name=f"{symbol} {model.window.anchor}") as run:
                run_id = run.info.run_id
                mlflow.log_artifacts(str(files))
                # The model before the metrics: logging a model re-reads every metric already in
                # the run, one history query each (~200 here), to link step 0's to the model;
                # the batch below links them itself, in one write.
                info = log_pyfunc(PYFUNC_CODE, folder, signature(model.input_columns))
                versions = {}
                for h in HORIZON_NAMES:
                    name = registered_name(symbol, h)
                    self.ensure_registered(
                        name,
                        {"symbol": symbol, "horizon": h},
                        f"{symbol}: predicted gross forward log return over {h} (LightGBM and multi-head net; see the version's run). "
                        "Aliases: challenger is set by a passing gate verdict; champion only by a person.",
                    )
                    mv = self.client.create_model_version(
                        name, info.model_uri, run_id=run_id, tags={**version_tags, "horizon": h, FIT_KEY_TAG: fit_key}
                    )
                    versions[h] = str(mv.version)
                # One write for the run's metrics, parameters and tags (each fluent call is a transaction).
                self.client.log_batch(
                    run_id,
                    metrics=fit_metrics(model, info.model_id),
                    params=[Param(k, str(v)) for k, v in params.items()],
                    tags=[RunTag(k, str(v)) for k, v in {
                        **tags, FIT_KEY_TAG: fit_key, "quant_assets.versions": json.dumps(versions), "quant_assets.model_uri": info.model_uri,
                    }.items()],
                )  # fmt: skip
        return LoggedFit(run_id, info.model_uri, versions)

    def log_study(self, study_key: str, report: Path, metrics: dict[str, float], tags: dict[str, str]) -> tuple[str, str]:
        """The study's report as an artifact of its one run in the ``STUDY_EXPERIMENT``
        experiment (the run tagged with ``study_key``, made on first use, reused after, so a
        re-run study replaces its report rather than adding a run). Returns (experiment id, run id)."""
        found = self.client.get_experiment_by_name(STUDY_EXPERIMENT)
        experiment_id = (
            found.experiment_id
            if found
            else self.client.create_experiment(STUDY_EXPERIMENT, artifact_location=f"{self.store.artifact_root.rstrip('/')}/studies")
        )
        runs = self.client.search_runs([experiment_id], filter_string=f"tags.`{STUDY_KEY_TAG}` = '{study_key}'", max_results=1)
        run_id = runs[0].info.run_id if runs else None
        with mlflow.start_run(run_id=run_id, experiment_id=None if run_id else experiment_id, run_name=study_key) as run:
            mlflow.set_tags({**tags, STUDY_KEY_TAG: study_key})
            mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v == v})
            mlflow.log_artifact(str(report))
        return experiment_id, run.info.run_id

    def _is_registered(self, name: str) -> bool:
        return bool(self.client.search_registered_models(filter_string=f"name = '{name}'", max_results=1))

    def configurations(self, symbol: str, first: date, last: date, runs: list | None = None) -> set[str]:
        """Distinct configurations (``configuration_key``) of the finished fits of ``symbol``
        anchored in ``first..last``. ``runs``: the symbol's runs (``symbol_runs``), when read already."""
        runs = self.symbol_runs(symbol) if runs is None else runs
        anchored = [r for r in runs if first.isoformat() <= r.data.tags.get("fit_anchor", "") <= last.isoformat()]
        return {configuration_key(r.data.params, r.data.tags) for r in anchored}

    def symbol_runs(self, symbol: str) -> list:
        """Every finished fit run of ``symbol`` (its params and tags)."""
        return self.client.search_runs(
            [self.experiment_id], filter_string=f"tags.symbol = '{symbol}' and attributes.status = 'FINISHED'", max_results=5000
        )

    def purged_kfold(self, run_id: str) -> pl.DataFrame:
        """The purged k-fold results a fit stored in its run, one row per (horizon, fold)
        (``models.cv.FOLD_SCHEMA``; the same as ``cv.fold_results(model.cv)``)."""
        uri = f"{self.client.get_run(run_id).info.artifact_uri}/{cv.ARTIFACT}"
        try:
            stored = mlflow.artifacts.load_dict(uri)
        except (MlflowException, OSError) as error:
            raise ValueError(f"MLflow run {run_id} has no {cv.ARTIFACT} (fitted before purged k-fold was stored?): {error}") from error
        return cv.fold_results(stored)

    def ensure_registered(self, name: str, tags: dict[str, str], description: str) -> None:
        """The registered model ``name``, made with ``tags`` and ``description`` if it is not there."""
        if name in self._registered:  # names are never deleted by the platform: one search per name per store
            return
        if not self._is_registered(name):
            self.client.create_registered_model(name, tags=tags, description=description)
        self._registered.add(name)

    def registered_version(self, name: str, *, alias: str | None = None, version: int | None = None) -> ModelVersion:
        """Version ``version`` of ``name``, or the one ``alias`` points at; ``NoSuchVersion``
        (one line saying what there is instead) when the name, version or alias is not set."""
        if not self._is_registered(name):
            raise NoSuchVersion(f"{name} is not registered in {self.store.tracking_uri}: no fit of that symbol has been logged")
        try:
            if version is not None:
                return self.client.get_model_version(name, str(version))
            return self.client.get_model_version_by_alias(name, alias)
        except MlflowException:
            pass
        if version is not None:
            known = sorted(int(v.version) for v in self.client.search_model_versions(f"name = '{name}'"))
            have = f"versions {known[0]}..{known[-1]}" if known else "no versions"
            raise NoSuchVersion(f"{name} has no version {version} ({have})")
        aliases = self.client.get_registered_model(name).aliases
        have = ", ".join(f"{a} -> {v}" for a, v in sorted(aliases.items())) or "none"
        raise NoSuchVersion(f"{name} has no alias '{alias}' (aliases set: {have})")

    @staticmethod
    def version_model_uri(version: ModelVersion) -> str:
        """The logged model a registered version points at (``models:/<model id>``)."""
        return f"models:/{version.model_id}" if version.model_id else version.source

    def native_folder(self, model_uri: str, cache_root: Path) -> Path:
        """The native files behind a logged model, downloaded once into ``cache_root``."""
        target = Path(cache_root) / model_uri.replace(":", "_").replace("/", "_")
        marker = target / ".complete"
        if not marker.exists():
            target.mkdir(parents=True, exist_ok=True)
            location = self.client.get_logged_model(model_uri.removeprefix("models:/")).artifact_location
            mlflow.artifacts.download_artifacts(artifact_uri=f"{location}/artifacts/{NATIVE_DIR}", dst_path=str(target))
            marker.touch()
        return target / NATIVE_DIR

    def load_fitted(self, model_uri: str, cache_root: Path) -> FittedModel:
        """The native model behind a logged model, downloaded once into ``cache_root``."""
        return FittedModel.load(self.native_folder(model_uri, cache_root))
