"""Symbol partition keys are matched whole: a trailing newline is not a key."""

import pytest

from quant_assets.symbols import Symbol


def test_a_key_maps_to_base_and_quote():
    assert Symbol.from_key("BTC-USDT") == Symbol("BTC", "USDT")


@pytest.mark.parametrize("key", ["BTC-USDT\n", "btc-usdt", "BTCUSDT", "BTC-USDT-PERP", " BTC-USDT"])
def test_anything_but_a_whole_key_is_refused_in_one_line(key):
    with pytest.raises(ValueError, match="is not of the form BASE-QUOTE"):
        Symbol.from_key(key)
