"""Dagster resources: thin, configurable handles over the lake and the data sources."""
