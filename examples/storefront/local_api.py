"""A local stand-in for the storefront's REST API and for a webhook receiver, on 127.0.0.1.

    with StorefrontAPI(token="s3cret") as api:
        api.add_order("berlin", total=25.0)
        api.url                       # http://127.0.0.1:<port>
        api.received                  # what the webhook stored, by Idempotency-Key

The orders endpoint pages as the real one does (``GET /shops/{shop}/orders?updated_after=&
after_id=&limit=``, sorted by ``(updated_at, id)``); the webhook (``POST /hooks/orders``) stores a
request once per ``Idempotency-Key`` and refuses orders with a negative total (HTTP 422).
``fail_next`` makes the next requests answer an error. Run ``python local_api.py`` to try the
example by hand.
"""

from __future__ import annotations

import itertools
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FIRST_UPDATE_MS = 1_700_000_000_000
MAX_PAGE = 1000  # the most orders one page holds, whatever the limit asked for


class StorefrontAPI:
    def __init__(self, *, token: str | None = None) -> None:
        self.token = token
        self.orders: dict[str, dict[str, dict[str, Any]]] = {}
        self.received: dict[str, Any] = {}          # Idempotency-Key (or a serial) -> body
        self.deliveries = 0                          # webhook requests, duplicates included
        self._failures: list[int | None] = []
        self._ids = itertools.count(1)
        self._clock = itertools.count(FIRST_UPDATE_MS, 1000)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- data ----------------------------------------------------------------------------------

    def add_shop(self, shop: str) -> None:
        with self._lock:
            self.orders.setdefault(shop, {})

    def add_order(self, shop: str, *, total: float = 10.0, status: str = "paid",
                  updated_at: int | None = None) -> dict[str, Any]:
        with self._lock:
            order = {"id": f"o-{next(self._ids):05d}", "shop": shop, "status": status, "total": total,
                     "currency": "EUR", "updated_at": next(self._clock) if updated_at is None else updated_at}
            self.orders.setdefault(shop, {})[order["id"]] = order
            return dict(order)

    def update_order(self, shop: str, order_id: str, **changes: Any) -> dict[str, Any]:
        with self._lock:
            order = self.orders[shop][order_id]
            order.update(changes, updated_at=changes.get("updated_at", next(self._clock)))
            return dict(order)

    def fail_next(self, status: int, times: int = 1, *, after: int = 0) -> None:
        """``times`` requests (either endpoint), after the next ``after`` ones, answer ``status``."""
        with self._lock:
            self._failures += [None] * after + [status] * times

    # --- the server ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the API first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "StorefrontAPI":
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                api._get(self)

            def do_POST(self) -> None:  # noqa: N802
                api._post(self)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="storefront-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "StorefrontAPI":
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    # --- requests ------------------------------------------------------------------------------

    def _failure(self) -> int | None:
        with self._lock:
            return self._failures.pop(0) if self._failures else None

    def _authorised(self, request: BaseHTTPRequestHandler) -> bool:
        return self.token is None or request.headers.get("Authorization") == f"Bearer {self.token}"

    def _get(self, request: BaseHTTPRequestHandler) -> None:
        url = urllib.parse.urlsplit(request.path)
        parts = url.path.strip("/").split("/")
        if len(parts) != 3 or parts[0] != "shops" or parts[2] != "orders":
            return _answer(request, 404, {"error": "no such endpoint"})
        failure = self._failure()
        if failure is not None:
            return _answer(request, failure, {"error": "injected failure"})
        if not self._authorised(request):
            return _answer(request, 401, {"error": "missing or wrong bearer token"})
        shop = urllib.parse.unquote(parts[1])
        query = dict(urllib.parse.parse_qsl(url.query))
        with self._lock:
            if shop not in self.orders:
                return _answer(request, 404, {"error": f"unknown shop {shop!r}"})
            after = (int(query.get("updated_after", -1)), query.get("after_id", ""))
            newer = sorted((o for o in self.orders[shop].values() if (o["updated_at"], o["id"]) > after),
                           key=lambda o: (o["updated_at"], o["id"]))
            page = [dict(o) for o in newer[: min(int(query.get("limit", 100)), MAX_PAGE)]]
        _answer(request, 200, {"orders": page})

    def _post(self, request: BaseHTTPRequestHandler) -> None:
        if urllib.parse.urlsplit(request.path).path != "/hooks/orders":
            return _answer(request, 404, {"error": "no such endpoint"})
        body = json.loads(request.rfile.read(int(request.headers.get("Content-Length", 0))) or b"null")
        with self._lock:
            self.deliveries += 1
        failure = self._failure()
        if failure is not None:
            return _answer(request, failure, {"error": "injected failure"})
        if not self._authorised(request):
            return _answer(request, 401, {"error": "missing or wrong bearer token"})
        if not isinstance(body, dict) or body.get("total", 0) < 0:
            return _answer(request, 422, {"error": "total must not be negative"})
        key = request.headers.get("Idempotency-Key")
        with self._lock:
            if key is not None and key in self.received:
                return _answer(request, 200, {"duplicate": True})
            self.received[key if key is not None else f"no-key-{self.deliveries}"] = body
        _answer(request, 201, {"stored": True})


def _answer(request: BaseHTTPRequestHandler, status: int, body: Any) -> None:
    data = json.dumps(body).encode()
    request.send_response(status)
    request.send_header("Content-Type", "application/json")
    request.send_header("Content-Length", str(len(data)))
    request.end_headers()
    request.wfile.write(data)


if __name__ == "__main__":
    with StorefrontAPI() as api:
        for shop in ("berlin", "lisbon"):
            for total in (12.5, 40.0, 7.25):
                api.add_order(shop, total=total)
        print(f"storefront API on {api.url}  (GET /shops/berlin/orders, POST /hooks/orders); Ctrl-C stops it")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
