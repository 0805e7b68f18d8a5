"""Venues in one place: no product code outside a venue's folder names that venue.

Everything the platform knows about an exchange lives in ``quant_assets/venues/<venue>/``; the
rest talks to it through ``quant_assets.venues.get``. This scans the product code (the
``quant_assets`` and ``serving`` packages, outside each venue's own folder) for code that names
a registered venue: an identifier containing its name (``ccxt.binance``, ``_binance_taker``,
``venues.binance``) or a string that has its name or one of its ccxt ids as a word
(``exchange_id = "binance"``, ``"e.g. binance"``). Comments and docstrings are prose and may say
where data came from, and so may names of data files and provenance labels
(``binance_spot_5m.parquet``, ``binance-usdm``): a venue's name joined into a longer word by
``_`` or ``-`` describes data, it does not select the venue.
"""

from __future__ import annotations

import ast
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from quant_assets import venues
from quant_assets.settings import REPO_ROOT
from serving.records import MODES, client_order_id

PRODUCT = ("quant_assets", "serving")
# A string literal's words: split where a sentence, a URL, a module path or a symbol splits.
_WORDS = re.compile(r"[\s.,;:/()\[\]{}'\"=!?]+")
# Strings that hold a venue's name as a word but mean something else, with why.
NOT_THE_VENUE = {
    ("quant_assets/social/linking.py", "binance"): "r/binance, a general crypto subreddit the text source reads",
}


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string constants that are prose: docstrings and bare string statements."""
    return {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
    }


def _identifiers(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Attribute):
        return [node.attr]
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.arg):
        return [node.arg]
    if isinstance(node, ast.keyword):
        return [node.arg] if node.arg else []
    if isinstance(node, ast.alias):
        return [node.name, node.asname or ""]
    if isinstance(node, ast.ImportFrom):
        return [node.module or ""]
    return []


def venue_names_in_code(source: str, names: set[str], path: str = "<string>") -> list[tuple[int, str]]:
    """``(line, what)`` for each place ``source``'s code names one of ``names`` (lower case)."""
    tree = ast.parse(source)
    prose = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        for ident in _identifiers(node):
            if any(name in ident.lower() for name in names):
                found.append((getattr(node, "lineno", 0), ident))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in prose:
            words = {w.lower() for w in _WORDS.split(node.value)}
            for name in sorted(words & names):
                if (path, name) not in NOT_THE_VENUE:
                    found.append((node.lineno, repr(node.value)))
    return sorted(set(found))


def _venue_names() -> dict[str, set[str]]:
    """Per registered venue: its folder and the names that select it (name and ccxt ids)."""
    registered = [venues.get(name) for name in venues.names()]
    return {f"quant_assets/venues/{v.name}/": {v.name.lower(), *(i.lower() for i in v.ccxt_ids)} for v in registered}


def _product_files() -> list[Path]:
    return sorted(p for package in PRODUCT for p in (REPO_ROOT / package).rglob("*.py"))


def test_the_registry_knows_the_default_venue_by_name_and_ccxt_id():
    assert "binance" in venues.names()
    binance = venues.get("binance")
    assert binance is venues.default() and venues.get("binanceusdm") is binance
    assert binance.title == "Binance" and binance.serves_taker_volume
    other = venues.get("kraken")  # a ccxt exchange no folder describes: ccxt's unified behaviour
    assert other.name == "kraken" and other.ccxt_ids == ("kraken",) and not other.serves_taker_volume
    with pytest.raises(KeyError, match="no venue"):
        venues.get("nosuchexchange")


def test_no_product_code_outside_a_venue_folder_names_the_venue():
    offenders = []
    for folder, names in _venue_names().items():
        for path in _product_files():
            rel = path.relative_to(REPO_ROOT).as_posix()
            if rel.startswith(folder):
                continue
            for line, what in venue_names_in_code(path.read_text(), names, rel):
                offenders.append(f"{rel}:{line}: {what}")
    assert offenders == [], "venue knowledge outside its folder (move it to the venue):\n" + "\n".join(offenders)


def test_the_scan_flags_code_and_lets_prose_and_data_names_pass():
    planted = '''"""Binance spot 5m bars, as the docs may say."""
import ccxt
from quant_assets.venues.binance import VENUE  # Binance, a comment

SPOT_FILE = "binance_spot_5m.parquet"
SOURCE = "binance-usdm"
HELP = "a ccxt exchange id, e.g. binance"


def _binance_taker(exchange):
    """Binance's taker endpoint."""
    if exchange.id == "binanceusdm":
        return ccxt.binance({"options": {"defaultType": "swap"}})
    return f"ccxt:{exchange.id}:binance"
'''
    found = venue_names_in_code(planted, {"binance", "binanceusdm"})
    assert [line for line, _ in found] == [3, 7, 10, 12, 13, 14]
    assert venue_names_in_code(planted.replace("inance", "ourse"), {"binance", "binanceusdm"}) == []


def test_the_platforms_client_order_ids_fit_every_venues_rule():
    bar = datetime(2025, 10, 10, 12, 5, tzinfo=timezone.utc)
    ids = [client_order_id(mode, "a-strategy-name-that-is-long-enough", "BTC/USDT", bar) for mode in MODES]
    for name in venues.names():
        rule = venues.get(name).client_order_id_rule
        assert rule is not None, f"{name} says nothing about the client order ids it accepts"
        assert all(rule.fullmatch(cid) for cid in ids), (name, ids)


def test_a_duplicate_refusal_is_looked_up_on_every_venue_never_recorded_as_rejected():
    """A refusal because an order already carries the client order id means the first copy is
    at the venue: recording it as rejected would leave its fill unbooked and the next bar would
    send the difference again. ccxt's unified ``DuplicateOrderId`` says so for any exchange (the
    base ``Venue``); Binance's -2010 text comes as ``InvalidOrder`` and its folder adds it."""
    import ccxt

    from quant_assets.venues.base import Venue

    plain = Venue("kraken")
    assert plain.is_duplicate_order(ccxt.DuplicateOrderId("kraken: duplicate clientOrderId"))
    assert not plain.is_duplicate_order(ccxt.InvalidOrder("kraken: order size below the minimum"))
    binance = venues.get("binance")
    assert binance.is_duplicate_order(ccxt.InvalidOrder('binance {"code":-2010,"msg":"Duplicate order sent."}'))
    assert binance.is_duplicate_order(ccxt.DuplicateOrderId("binance duplicate"))  # never narrower than the base
    assert not binance.is_duplicate_order(ccxt.InvalidOrder('binance {"code":-1013,"msg":"Filter failure: LOT_SIZE"}'))
