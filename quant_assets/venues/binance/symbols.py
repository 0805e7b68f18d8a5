"""Binance's markets as ccxt reaches them.

ccxt's ``binance`` class reaches spot (``api.binance.com``) and, with ``defaultType`` swap, the
USD-M futures hosts (``fapi.binance.com``); ``binanceusdm`` is the USD-M-only class. Both are
this venue. Market ids drop ccxt's separators: ``BTC/USDT`` is ``BTCUSDT`` on spot and
``BTC/USDT:USDT`` is ``BTCUSDT`` on USD-M; ccxt maps them (``exchange.market(s)["id"]``), so
the platform only ever names ccxt symbols.
"""

CCXT_IDS = ("binance", "binanceusdm")

# ccxt's binance ``load_markets`` reads spot, USD-M and COIN-M exchangeInfo by default: three
# requests, and a spot job would fail where the futures hosts are blocked (HTTP 451). A job
# loads only the family it trades (``fetchMarkets.types``), per ccxt class and market type.
MARKETS_TO_LOAD = {"binance": {"spot": ["spot"], "swap": ["linear"]}}
