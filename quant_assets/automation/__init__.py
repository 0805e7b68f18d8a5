"""Continuous runs: what keeps the lake, the models and the gate current with no command typed.

- ``cadence``: when the daily and intraday source refreshes run (settings);
- ``schedules``: the daily run of yesterday's closed partitions of the external sources, and the
  intraday refresh of today's partial partition;
- ``inbox``: the sensor that imports bundles dropped in ``<home>/inbox/``;
- ``conditions``: the ``AutomationCondition`` each downstream asset follows its parents by;
- ``follow_up``: after a run whose checks held partitions back, the assets it skipped, for the
  partitions that were published;
- ``freshness``: the source assets' Dagster freshness policies, from the staleness limits that
  ``quant_assets.catalog`` names (the serving data halt reads the same limits).
"""
