import pytest

from serving.ledger import Ledger


@pytest.fixture
def ledger(tmp_path):
    led = Ledger.open(f"sqlite:///{tmp_path}/ledger/ledger.sqlite3")
    yield led
    led.close()
