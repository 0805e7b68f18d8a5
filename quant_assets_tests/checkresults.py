"""A run's check results, wherever Dagster has them.

When every partition passes, the audit op reports its results in the run. When an asset's
step holds partitions back, it records them through the instance before failing
(``quant_assets.assets.checks.settle``), each marked with the run's id.
"""

from __future__ import annotations

from dagster import DagsterEventType, DagsterInstance

from quant_assets.assets.checks import RECORDED_BY_RUN

RUNLESS = ""  # the run id Dagster files events reported outside any run under


def check_evaluations(result, instance: DagsterInstance) -> list:
    """The run's ``AssetCheckEvaluation`` s: the audit ops' in the run, else the recorded ones."""
    found = list(result.get_asset_check_evaluations())
    records = instance.get_records_for_run(RUNLESS, of_type=DagsterEventType.ASSET_CHECK_EVALUATION, limit=100_000).records
    for record in records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        recorded = evaluation.metadata.get(RECORDED_BY_RUN)
        if recorded is not None and recorded.value == result.run_id:
            found.append(evaluation)
    return found


def checks_by_name(result, instance: DagsterInstance) -> dict[str, object]:
    return {e.check_name: e for e in check_evaluations(result, instance)}


def checks_over(results, instance: DagsterInstance | None = None) -> dict[str, object]:
    """check name -> evaluation over several runs (a later run's overrides); without an
    instance, only what the audit ops reported in the runs."""
    out = {}
    for result in results:
        found = check_evaluations(result, instance) if instance is not None else result.get_asset_check_evaluations()
        out.update({e.check_name: e for e in found})
    return out
