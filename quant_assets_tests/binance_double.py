"""A small stateful Binance spot account behind ccxt's real request building and parsing.

``BinanceDouble`` answers the endpoints a spot trader uses through ``RecordedExchange``'s
``venue`` hook, so ccxt signs each request, sends it (here), parses the reply and maps errors
exactly as against Binance; only the HTTP round trip is replaced.

    venue = BinanceDouble(tmp_path / "venue.json")          # state survives the process
    exchange = live_exchange("binance", "spot", FAKE)
    venue.attach(exchange)                                   # ccxt's clock is the venue's test clock
    venue.fault("timeout_after")                             # next POST /api/v3/order: placed, reply lost

What it keeps, like Binance:

- ``GET /api/v3/exchangeInfo`` (fixtures/binance, plus SOLUSDT: ``exchange_info``), ``GET /api/v3/time``;
- ``POST /api/v3/order`` (MARKET, ``newOrderRespType=FULL``): the client order id is unique only
  among OPEN orders (-2010 "Duplicate order sent." only while one is open; a filled order's id
  is accepted again); filters checked with Binance's bodies (-1013 "Filter failure: LOT_SIZE",
  "Filter failure: NOTIONAL"; ``filters`` can be tightened after ccxt loaded the markets, as
  when Binance changes them); balance checked (-2010 insufficient balance); filled against a
  static book of ``levels``, the rest EXPIRED when the book is too thin;
- ``GET /api/v3/order`` by ``origClientOrderId`` (the newest with it) or ``orderId``, -2013
  "Order does not exist." otherwise; ``GET /api/v3/myTrades``; ``GET /api/v3/account``;
- fills move balances: a buy pays the quote and its fee in the base asset, a sell its fee in
  the quote (Binance's default without BNB);
- signed requests outside the recvWindow of the venue's clock get -1021; a request during a
  429's Retry-After escalates to a 418 ban, and one during a ban gets 418 again.

Faults (``fault(kind, ...)``, consumed by the next matching request after ``skip`` of them,
``times`` in a row):
``timeout_after`` (processed, reply lost: ``RequestTimeout``), ``timeout_before`` (lost before
arriving), ``503_unknown`` (processed, 503 "Unknown error..."), ``503_maintenance`` (not processed,
503 "Service Unavailable."), ``429`` and ``418`` (with ``retry_after`` seconds), ``partial``
(``now`` of the quantity fills at once, ``later`` more on the next request, then CANCELED).
The clock skew (``skew_ms``: the venue's clock ahead of ours) makes -1021 happen for real.
Every request is logged (``log``) with the venue time and its status.
"""

from __future__ import annotations

import json
import math
import os
import threading
from datetime import datetime, timezone
from pathlib import Path

import ccxt

from quant_assets_tests.recorded_exchange import RecordedExchange, Reply, UnroutedRequest, fixture, http_error

UTC = timezone.utc
ORDER, TRADES, ACCOUNT, TIME, INFO = "/api/v3/order", "/api/v3/myTrades", "/api/v3/account", "/api/v3/time", "/api/v3/exchangeInfo"
START_MS = 1760097900000  # 2025-10-10 12:05 UTC: the recorded BTCUSDT open of 121,665.34
FEE_RATE = 0.001
START_BALANCES = {"USDT": 10_000.0, "BTC": 0.0, "ETH": 0.0, "SOL": 0.0}
OPEN_STATUSES = ("NEW", "PARTIALLY_FILLED")

ERRORS = {
    "insufficient_balance": {"code": -2010, "msg": "Account has insufficient balance for requested action."},
    "duplicate": {"code": -2010, "msg": "Duplicate order sent."},
    "lot_size": {"code": -1013, "msg": "Filter failure: LOT_SIZE"},
    "notional": {"code": -1013, "msg": "Filter failure: NOTIONAL"},
    "unknown_order": {"code": -2013, "msg": "Order does not exist."},
    "recv_window": {"code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."},
    "ahead": {"code": -1021, "msg": "Timestamp for this request was 1000ms ahead of the server's time."},
    "rate_limited": {"code": -1003, "msg": "Too many requests; current limit of IP(127.0.0.1) is 6000 requests per minute. "
                                            "Please use WebSocket Streams for live updates to avoid polling the API."},
}  # fmt: skip
UNKNOWN_503 = "Unknown error, please check your request or try again later."
MAINTENANCE_503 = "Service Unavailable."


def exchange_info() -> dict:
    """The recorded spot exchangeInfo (BTCUSDT, ETHUSDT) and SOLUSDT, a copy of ETHUSDT's entry
    under SOL's name: a third market, so one batch can carry three orders."""
    info = fixture("binance", "api_v3_exchangeInfo.json")
    (eth,) = [s for s in info["symbols"] if s["symbol"] == "ETHUSDT"]
    info["symbols"].append({**json.loads(json.dumps(eth)), "symbol": "SOLUSDT", "baseAsset": "SOL"})
    return info


def _filters() -> dict:
    """symbol -> the LOT_SIZE and NOTIONAL limits of ``exchange_info``."""
    out = {}
    for s in exchange_info()["symbols"]:
        f = {x["filterType"]: x for x in s["filters"]}
        out[s["symbol"]] = {
            "base": s["baseAsset"], "quote": s["quoteAsset"],
            "minQty": float(f["LOT_SIZE"]["minQty"]), "maxQty": float(f["LOT_SIZE"]["maxQty"]),
            "stepSize": float(f["LOT_SIZE"]["stepSize"]), "minNotional": float(f["NOTIONAL"]["minNotional"]),
        }  # fmt: skip
    return out


def _s(x: float) -> str:
    return f"{x:.8f}"


class BinanceDouble:
    def __init__(self, path: Path | None = None, *, balances: dict[str, float] | None = None, levels: dict | None = None):
        self.path = path
        self._lock = threading.Lock()
        if path is not None and path.exists():
            self.reload()
            return
        self.state = {
            "clock_ms": START_MS,
            "skew_ms": 0,
            "balances": dict(balances or START_BALANCES),
            "start_balances": dict(balances or START_BALANCES),
            # a static book per symbol: [price, quantity] from the touch outwards (asks for buys, bids for sells)
            "levels": levels or {
                "BTCUSDT": {"BUY": [[121665.34, 0.006], [121668.90, 10.0]], "SELL": [[121665.33, 0.006], [121660.00, 10.0]]},
                "ETHUSDT": {"BUY": [[4300.10, 5.0], [4300.50, 100.0]], "SELL": [[4300.00, 5.0], [4299.50, 100.0]]},
                "SOLUSDT": {"BUY": [[220.05, 50.0], [220.10, 1000.0]], "SELL": [[220.00, 50.0], [219.95, 1000.0]]},
            },
            "filters": _filters(),
            "orders": [],
            "trades": [],
            "next_order_id": 52218341702,
            "next_trade_id": 5283394011,
            "faults": [],
            "limited_until": 0,
            "banned_until": 0,
            "log": [],
        }  # fmt: skip
        self._save()

    # -- the test's handles ------------------------------------------------------------

    def attach(self, exchange: ccxt.Exchange) -> RecordedExchange:
        """Serve ``exchange`` from this venue; its clock becomes the test clock (``now_ms``)."""
        exchange.milliseconds = self.now_ms
        return RecordedExchange(exchange, venue=self.answer)

    def now_ms(self) -> int:
        return self.state["clock_ms"]

    def clock(self) -> datetime:
        return datetime.fromtimestamp(self.now_ms() / 1000, UTC)

    def advance(self, seconds: float) -> None:
        self.state["clock_ms"] += int(seconds * 1000)
        self._save()

    def fault(self, kind: str, *, method: str = "POST", path: str = ORDER, times: int = 1, **params) -> None:
        self.state["faults"].append({"kind": kind, "method": method, "path": path, "times": times, "params": params})
        self._save()

    def set(self, **changes) -> None:
        """Change the venue: ``skew_ms``, ``faults``, ``balances`` (a transfer: merged),
        ``filters`` (per symbol, merged)."""
        for key, value in changes.items():
            if key == "balances":  # a transfer in or out, not a fill: what trading moved is unchanged
                for asset, amount in value.items():
                    self.state["start_balances"][asset] += amount - self.state["balances"][asset]
                    self.state["balances"][asset] = amount
            elif key == "filters":
                for symbol, f in value.items():
                    self.state["filters"][symbol].update(f)
            else:
                self.state[key] = value
        self._save()

    def reload(self) -> None:
        self.state = json.loads(self.path.read_text())

    def orders_by_client_id(self) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {}
        for o in self.state["orders"]:
            out.setdefault(o["clientOrderId"], []).append(o)
        return out

    # -- the venue -----------------------------------------------------------------------

    def answer(self, method: str, path: str, params: dict) -> Reply:
        with self._lock:  # two clients in two threads: one request at a time, as one matching engine
            return self._logged(method, path, params)

    def _logged(self, method: str, path: str, params: dict) -> Reply:
        now = self.now_ms()
        entry = {"ms": now, "method": method, "path": path, "cid": params.get("newClientOrderId") or params.get("origClientOrderId")}
        reply = self._answer(method, path, params, now)
        entry["status"] = "lost" if reply.raises else reply.status
        if reply.headers and "Retry-After" in reply.headers:
            entry["retry_after"] = int(reply.headers["Retry-After"])
        self.state["log"].append(entry)
        self._save()
        return reply

    def _answer(self, method: str, path: str, params: dict, now: int) -> Reply:
        if now < self.state["banned_until"]:
            return self._ban(now, self.state["banned_until"])
        if now < self.state["limited_until"]:  # hammering through a 429: Binance bans the IP
            return self._ban(now, now + 120_000)
        self._progress()
        fault = self._take_fault(method, path)
        kind = fault["kind"] if fault else None
        if kind == "429":
            self.state["limited_until"] = now + fault["params"].get("retry_after", 30) * 1000
            return Reply(ERRORS["rate_limited"], 429, {"Retry-After": str(fault["params"].get("retry_after", 30))})
        if kind == "418":
            return self._ban(now, now + fault["params"].get("retry_after", 120) * 1000)
        if kind == "timeout_before":
            return Reply(raises=ccxt.RequestTimeout)
        if kind == "503_maintenance":
            return Reply(MAINTENANCE_503, 503)
        if "signature" in params:
            late = self._outside_recv_window(params)
            if late:
                return http_error(400, late)
        reply = self._route(method, path, params, fault)
        if kind == "timeout_after":
            return Reply(raises=ccxt.RequestTimeout)
        if kind == "503_unknown":
            return Reply(UNKNOWN_503, 503)
        return reply

    def _ban(self, now: int, until: int) -> Reply:
        self.state["banned_until"] = until
        body = {"code": -1003, "msg": f"Way too much request weight used; IP banned until {until}. "
                                      "Please use WebSocket Streams for live updates to avoid bans."}  # fmt: skip
        return Reply(body, 418, {"Retry-After": str(math.ceil((until - now) / 1000))})

    def _take_fault(self, method: str, path: str) -> dict | None:
        for fault in self.state["faults"]:
            if fault["times"] > 0 and fault["method"] == method and fault["path"] == path:
                if fault["params"].get("skip", 0) > 0:  # let this many matching requests through first
                    fault["params"]["skip"] -= 1
                    return None
                fault["times"] -= 1
                return fault
        return None

    def _outside_recv_window(self, params: dict) -> dict | None:
        server = self.now_ms() + self.state["skew_ms"]
        stamp, window = int(params["timestamp"]), int(params.get("recvWindow", 5000))
        if stamp >= server + 1000:
            return ERRORS["ahead"]
        return ERRORS["recv_window"] if server - stamp > window else None

    def _route(self, method: str, path: str, params: dict, fault: dict | None) -> Reply:
        if (method, path) == ("GET", INFO):
            return Reply(exchange_info())
        if (method, path) == ("GET", TIME):
            return Reply({"serverTime": self.now_ms() + self.state["skew_ms"]})
        if (method, path) == ("POST", ORDER):
            return self._new_order(params, fault)
        if (method, path) == ("GET", ORDER):
            return self._query_order(params)
        if (method, path) == ("GET", TRADES):
            trades = [t for t in self.state["trades"] if t["symbol"] == params["symbol"]
                      and ("orderId" not in params or str(t["orderId"]) == params["orderId"])]  # fmt: skip
            return Reply([self._trade_body(t) for t in trades])
        if (method, path) == ("GET", ACCOUNT):
            balances = [{"asset": a, "free": _s(v), "locked": _s(0)} for a, v in self.state["balances"].items()]
            return Reply({"makerCommission": 10, "takerCommission": 10, "buyerCommission": 0, "sellerCommission": 0,
                          "canTrade": True, "canWithdraw": True, "canDeposit": True, "brokered": False,
                          "updateTime": self.now_ms(), "accountType": "SPOT", "balances": balances, "permissions": ["SPOT"]})  # fmt: skip
        raise UnroutedRequest(f"the Binance double does not serve {method} {path}")

    def _new_order(self, params: dict, fault: dict | None) -> Reply:
        symbol, side, cid = params["symbol"], params["side"], params["newClientOrderId"]
        if any(o["clientOrderId"] == cid and o["status"] in OPEN_STATUSES for o in self.state["orders"]):
            return http_error(400, ERRORS["duplicate"])
        if params["type"] != "MARKET":
            raise UnroutedRequest(f"the Binance double takes MARKET orders only, not {params['type']}")
        quantity = float(params["quantity"])
        f = self.state["filters"][symbol]
        steps = quantity / f["stepSize"]
        if quantity < f["minQty"] or quantity > f["maxQty"] or abs(steps - round(steps)) > 1e-6:
            return http_error(400, ERRORS["lot_size"])
        levels = self.state["levels"][symbol][side]
        if quantity * levels[0][0] < f["minNotional"]:
            return http_error(400, ERRORS["notional"])
        wanted = quantity * (fault["params"].get("now", 1.0) if fault and fault["kind"] == "partial" else 1.0)
        fills, left = [], wanted
        for price, available in levels:
            take = min(left, available)
            if take > 1e-12:
                fills.append((price, round(take, 8)))
                left -= take
        cost = sum(p * q for p, q in fills)
        have = self.state["balances"]
        if (side == "BUY" and have[f["quote"]] < cost - 1e-9) or (side == "SELL" and have[f["base"]] < quantity - 1e-12):
            return http_error(400, ERRORS["insufficient_balance"])
        order = {
            "symbol": symbol, "orderId": self.state["next_order_id"], "clientOrderId": cid, "side": side, "type": "MARKET",
            "origQty": quantity, "executedQty": 0.0, "cummulativeQuoteQty": 0.0, "status": "NEW",
            "time": self.now_ms(), "updateTime": self.now_ms(), "pending": None,
        }  # fmt: skip
        self.state["next_order_id"] += 1
        self.state["orders"].append(order)
        new_trades = [self._fill(order, price, qty) for price, qty in fills]
        if fault and fault["kind"] == "partial":
            order["status"] = "PARTIALLY_FILLED"
            order["pending"] = fault["params"].get("later", 0.0)
        else:
            order["status"] = "FILLED" if order["executedQty"] >= quantity - 1e-12 else "EXPIRED"
        body = self._order_body(order)
        body["transactTime"] = self.now_ms()
        body["fills"] = [
            {"price": _s(t["price"]), "qty": _s(t["qty"]), "commission": _s(t["commission"]),
             "commissionAsset": t["commissionAsset"], "tradeId": t["id"]}
            for t in new_trades
        ]  # fmt: skip
        return Reply(body)

    def _fill(self, order: dict, price: float, qty: float) -> dict:
        f, b = self.state["filters"][order["symbol"]], self.state["balances"]
        buy = order["side"] == "BUY"
        fee, fee_asset = (qty * FEE_RATE, f["base"]) if buy else (qty * price * FEE_RATE, f["quote"])
        fee = round(fee, 8)
        b[f["base"]] += (qty - fee) if buy else -qty
        b[f["quote"]] += -qty * price if buy else qty * price - fee
        trade = {"symbol": order["symbol"], "id": self.state["next_trade_id"], "orderId": order["orderId"], "price": price, "qty": qty,
                 "commission": fee, "commissionAsset": fee_asset, "time": self.now_ms(), "isBuyer": buy}  # fmt: skip
        self.state["next_trade_id"] += 1
        self.state["trades"].append(trade)
        order["executedQty"] = round(order["executedQty"] + qty, 8)
        order["cummulativeQuoteQty"] += qty * price
        order["updateTime"] = self.now_ms()
        return trade

    def _progress(self) -> None:
        """What happens at the venue between two requests: a partly filled order fills a bit
        more, then is canceled."""
        for order in self.state["orders"]:
            if order["status"] == "PARTIALLY_FILLED" and order["pending"] is not None:
                more = round(order["origQty"] * order["pending"], 8)
                if more > 0:
                    self._fill(order, self.state["levels"][order["symbol"]][order["side"]][0][0], more)
                order["status"], order["pending"] = "CANCELED", None

    def _query_order(self, params: dict) -> Reply:
        mine = [o for o in self.state["orders"] if o["symbol"] == params["symbol"]]
        if "origClientOrderId" in params:
            mine = [o for o in mine if o["clientOrderId"] == params["origClientOrderId"]]
        else:
            mine = [o for o in mine if str(o["orderId"]) == params.get("orderId")]
        if not mine:
            return http_error(400, ERRORS["unknown_order"])
        return Reply(self._order_body(mine[-1]))

    def _order_body(self, o: dict) -> dict:
        return {
            "symbol": o["symbol"], "orderId": o["orderId"], "orderListId": -1, "clientOrderId": o["clientOrderId"],
            "price": _s(0), "origQty": _s(o["origQty"]), "executedQty": _s(o["executedQty"]),
            "cummulativeQuoteQty": _s(o["cummulativeQuoteQty"]), "status": o["status"], "timeInForce": "GTC",
            "type": "MARKET", "side": o["side"], "stopPrice": _s(0), "icebergQty": _s(0), "time": o["time"],
            "updateTime": o["updateTime"], "isWorking": True, "workingTime": o["time"], "origQuoteOrderQty": _s(0),
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }  # fmt: skip

    def _trade_body(self, t: dict) -> dict:
        return {"symbol": t["symbol"], "id": t["id"], "orderId": t["orderId"], "orderListId": -1, "price": _s(t["price"]),
                "qty": _s(t["qty"]), "quoteQty": _s(t["price"] * t["qty"]), "commission": _s(t["commission"]),
                "commissionAsset": t["commissionAsset"], "time": t["time"], "isBuyer": t["isBuyer"], "isMaker": False,
                "isBestMatch": True}  # fmt: skip

    def _save(self) -> None:
        if self.path is None:
            return
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state))
        os.replace(tmp, self.path)  # a kill mid-write leaves the previous state, never half of one
