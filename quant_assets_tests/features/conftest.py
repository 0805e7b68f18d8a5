import logging

import pytest
from dagster import DagsterInstance


@pytest.fixture(autouse=True)
def _quiet_dagster():
    # Dagster logs every event at DEBUG to the console; the tests read results instead.
    logging.getLogger("dagster").setLevel(logging.WARNING)
    yield


@pytest.fixture(scope="module")
def instance():
    with DagsterInstance.ephemeral() as inst:
        yield inst
