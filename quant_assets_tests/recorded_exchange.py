"""Serve recorded HTTP replies to a real ccxt exchange instance: no network, real ccxt code.

ccxt builds every request (``fetch2`` -> ``sign`` -> ``fetch(url, method, headers, body)``)
and parses every reply in Python; only ``fetch`` talks to the network. ``RecordedExchange``
replaces that one method on one instance with a router over recorded payloads, so the
exchange's own request building, rate limiter, error mapping (``handle_errors`` then
``handle_http_status_code``, exactly as ``Exchange.fetch`` calls them) and parsing all run
for real, and a test sees ccxt's real exception classes.

    ex = make_exchange("binance", "spot")
    rec = RecordedExchange(ex)
    rec.route("/api/v3/exchangeInfo", fixture("binance", "api_v3_exchangeInfo.json"))
    rec.route("/api/v3/klines", http_error(429), windowed(rows), when={"symbol": "BTCUSDT"})
    ex.fetch_ohlcv("BTC/USDT", "5m", since=...)       # 429 (DDoSProtection), then served
    [r.query["startTime"] for r in rec.requests_to("/api/v3/klines")]

Routing: a request goes to the first route (in the order added) whose URL path equals
``path`` and whose ``when`` holds (a dict of query parameters that must be equal, compared
as strings, or a predicate over the query dict; a POST's form body counts as query too,
since signed Binance calls such as ``POST /api/v3/order`` send their parameters there). A route's replies are used in order, one per
request, and the last one repeats, so ``route(p, http_error(503), payload)`` fails once and
then serves ``payload`` for good. A request no route matches raises ``UnroutedRequest`` (an
``AssertionError``, which no retry loop swallows), unless a ``venue`` answers it: a callable
``(method, path, params) -> Reply`` that computes replies from its own state (the stateful
Binance double, ``binance_double.py``, is one). Every request is recorded in
``requests``, and by default ccxt's throttle records its cost in ``throttle_costs`` instead
of sleeping, so tests stay fast and can still prove the rate limiter was consulted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import ccxt
from requests.structures import CaseInsensitiveDict

FIXTURES = Path(__file__).resolve().parent / "fixtures"

Query = dict[str, str]
Body = Any  # a JSON value, a raw str, or Callable[[Query], JSON value | str]


def fixture(*parts: str) -> Any:
    """Parsed JSON of ``quant_assets_tests/fixtures/<parts...>``."""
    return json.loads(FIXTURES.joinpath(*parts).read_text())


@dataclass(frozen=True)
class Reply:
    """One recorded reply: an HTTP status with a body, or a transport failure (``raises``)."""

    body: Body = None
    status: int = 200
    headers: Mapping[str, str] | None = None
    raises: type[ccxt.BaseError] | None = None

    def text(self, query: Query) -> str:
        body = self.body(query) if callable(self.body) else self.body
        return body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))


def http_error(status: int, body: Body = "") -> Reply:
    """An HTTP error reply, e.g. ``http_error(400, {"code": -1121, "msg": "Invalid symbol."})``."""
    return Reply(body=body, status=status)


def network_error(exc: type[ccxt.BaseError] = ccxt.NetworkError) -> Reply:
    """No HTTP reply at all: what ``Exchange.fetch`` raises on a reset connection or a timeout
    (``ccxt.NetworkError``, ``ccxt.RequestTimeout``), with its ``"<id> <method> <url>"`` message."""
    return Reply(raises=exc)


def windowed(
    rows: list,
    *,
    time_of: Callable[[Any], int] = lambda row: int(row[0]),
    start: str = "startTime",
    end: str = "endTime",
    limit: str = "limit",
    default_limit: int = 500,
    max_limit: int = 1000,
    now_ms: int | None = None,
) -> Callable[[Query], list]:
    """A body that answers a time-paged list endpoint the way Binance does.

    With ``start``: the oldest ``limit`` rows at or after it (and at or before ``end``);
    without: the newest ``limit`` rows at or before ``end``. ``now_ms`` is the recording's
    clock: rows stamped later do not exist yet (a kline stamped before it, still forming,
    does). Serves klines (``time_of=row[0]``), and, with ``time_of=lambda r: r["fundingTime"]``
    or ``r["timestamp"]``, funding, open-interest, long/short and taker-volume histories.
    """
    ordered = sorted(rows, key=time_of)

    def answer(query: Query) -> list:
        n = min(int(query.get(limit, default_limit)), max_limit)
        lo = int(query[start]) if start in query else None
        hi = int(query[end]) if end in query else None
        hi = now_ms if hi is None else (hi if now_ms is None else min(hi, now_ms))
        hits = [r for r in ordered if (lo is None or time_of(r) >= lo) and (hi is None or time_of(r) <= hi)]
        return hits[:n] if lo is not None else hits[-n:]

    return answer


@dataclass(frozen=True)
class Request:
    """One request ccxt made: ``query`` holds the URL's parameters (last value wins)."""

    method: str
    url: str
    path: str
    query: Query
    status: int | None  # None when the reply was a transport failure or unrouted
    form: Query = field(default_factory=dict)  # a POST/DELETE body's parameters (signed Binance calls)


class UnroutedRequest(AssertionError):
    """The code under test called an endpoint the test did not record."""


@dataclass
class _Route:
    path: str
    when: Mapping[str, Any] | Callable[[Query], bool] | None
    replies: list[Reply] = field(default_factory=list)
    served: int = 0

    def matches(self, path: str, query: Query) -> bool:
        if path != self.path:
            return False
        if self.when is None:
            return True
        if callable(self.when):
            return bool(self.when(query))
        return all(query.get(k) == str(v) for k, v in self.when.items())

    def next_reply(self) -> Reply:
        reply = self.replies[min(self.served, len(self.replies) - 1)]
        self.served += 1
        return reply


class RecordedExchange:
    """Router of recorded replies installed as ``exchange.fetch`` on one ccxt instance."""

    def __init__(self, exchange: ccxt.Exchange, *, real_throttle: bool = False,
                 venue: Callable[[str, str, Query], Reply] | None = None):  # fmt: skip
        self.exchange = exchange
        self.venue = venue
        self.requests: list[Request] = []
        self.throttle_costs: list[float] = []
        self._routes: list[_Route] = []
        exchange.fetch = self._fetch
        if not real_throttle:
            exchange.throttle = self._throttle
        # Nothing else may reach the network either.
        exchange.session.request = self._no_network

    def route(self, path: str, *replies: Reply | Body, when=None) -> "RecordedExchange":
        """Serve ``replies`` (``Reply`` objects, or plain bodies meaning HTTP 200) for ``path``."""
        if not replies:
            raise ValueError("a route needs at least one reply")
        wrapped = [r if isinstance(r, Reply) else Reply(body=r) for r in replies]
        self._routes.append(_Route(path, when, wrapped))
        return self

    def requests_to(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    # -- ccxt hooks -------------------------------------------------------------------

    def _throttle(self, cost=None):
        self.throttle_costs.append(1 if cost is None else cost)

    def _no_network(self, *args, **kwargs):
        raise UnroutedRequest(f"network access attempted outside the recorded fetch: {args[:2]}")

    def _fetch(self, url, method="GET", headers=None, body=None):
        """``Exchange.fetch`` with the HTTP round trip replaced by a recorded reply."""
        ex = self.exchange
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        form = dict(parse_qsl(body, keep_blank_values=True)) if isinstance(body, str) and method != "GET" else {}
        params = {**query, **form}  # routes and bodies see both, as the venue does
        route = next((r for r in self._routes if r.matches(parts.path, params)), None)
        if route is not None:
            reply = route.next_reply()
        elif self.venue is not None:
            reply = self.venue(method, parts.path, params)
        else:
            self.requests.append(Request(method, url, parts.path, query, None, form))
            known = ", ".join(sorted({r.path for r in self._routes})) or "none"
            raise UnroutedRequest(f"no recorded reply for {method} {url} (routes: {known})")
        self.requests.append(Request(method, url, parts.path, query, None if reply.raises else reply.status, form))
        details = " ".join([ex.id, method, url])
        if reply.raises is not None:
            raise reply.raises(details)

        request_headers = ex.prepare_request_headers(headers)
        response_headers = CaseInsensitiveDict({"Content-Type": "application/json;charset=UTF-8", **(reply.headers or {})})
        status, reason = reply.status, HTTPStatus(reply.status).phrase
        # From here on, the same steps and calls as ccxt's Exchange.fetch after session.request.
        http_response = ex.on_rest_response(status, reason, url, method, response_headers, reply.text(params), request_headers, body)
        json_response = ex.parse_json(http_response)
        if ex.enableLastHttpResponse:
            ex.last_http_response = http_response
        if ex.enableLastJsonResponse:
            ex.last_json_response = json_response
        if ex.enableLastResponseHeaders:
            ex.last_response_headers = response_headers
        if json_response and not isinstance(json_response, list) and ex.returnResponseHeaders:
            json_response["responseHeaders"] = response_headers
        if status >= 400:  # requests' raise_for_status -> HTTPError branch of Exchange.fetch
            skip = ex.handle_errors(status, reason, url, method, response_headers, http_response, json_response, request_headers, body)
            if not skip:
                ex.handle_http_status_code(status, reason, url, method, http_response)
            raise ccxt.ExchangeError(details)
        ex.handle_errors(status, reason, url, method, response_headers, http_response, json_response, request_headers, body)
        return json_response if json_response is not None else http_response
