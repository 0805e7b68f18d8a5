"""Dagster assets, one module per domain; each module only glues pure transforms to Dagster."""
