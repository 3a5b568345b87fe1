"""The public listener's limits (issue 22 item 2): uvicorn's httptools protocol, bounded.

At single-box and split-db this listener faces the internet, with no ALB in front to cut
oversize or slow requests. Before, it took a 1 MB header and 10,000 headers (200), two
connections each sending 32 MB of header lines grew the process from 73 MB to 643 MB
(httptools keeps an unfinished header in memory), and 500 stalled header connections
were still open after 85 s. Now, per connection:

- the request line, one header (name and value) and the whole header section are bounded
  by the ALB's own figures, from "Quotas for your Application Load Balancers", HTTP
  headers: request line 16K, single header 16K, entire request header 64K
  (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-limits.html).
  The bytes of an unfinished header section are counted as they arrive, so memory stays
  within the limit plus one read (uvloop reads at most 256 KiB at a time);
- the number of headers: the ALB page gives none; 100 here, far above any real client's
  dozen or two, so a flood of tiny headers cannot cost per-header work without end;
- a header read timeout (`MOVIES_HTTP_HEADER_TIMEOUT_S`): from the connection's first byte
  (or its opening) to the end of the headers; uvicorn had none;
- concurrent connections per process (`MOVIES_HTTP_MAX_CONNECTIONS`).

Over a limit: one JSON line naming it, `Connection: close`, and the connection closed
(414 request line, 431 headers, 408 timeout, 503 + Retry-After for the connection cap).
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .settings import load_settings

# The ALB's figures (see the module docstring for the page).
REQUEST_LINE_MAX = 16 * 1024
HEADER_MAX = 16 * 1024
HEADERS_TOTAL_MAX = 64 * 1024
HEADER_COUNT_MAX = 100
_REASONS = {408: b"Request Timeout", 414: b"URI Too Long", 431: b"Request Header Fields Too Large",
            503: b"Service Unavailable"}  # fmt: skip


@functools.cache
def _limits() -> tuple[float, int]:
    # Validated once by `serve` before uvicorn starts (a bad value fails there in one line).
    settings = load_settings(need_db=False)
    return settings.http_header_timeout_seconds, settings.http_max_connections


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class BoundedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits above; everything else unchanged."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timeout, self._max_connections = _limits()
        self._in_head = True
        self._head_bytes = 0
        self._header_count = 0
        self._header_total = 0
        self._timer: asyncio.TimerHandle | None = None
        self._refusal: _Refused | None = None

    # -- connection ------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self._max_connections:
            self._refuse(
                _Refused(503, f"too many connections; at most {self._max_connections} per process"),
                retry_after=True,
            )
            return
        self._start_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        super().connection_lost(exc)

    def _start_timer(self) -> None:
        if self._timer is None:
            self._timer = self.loop.call_later(self._header_timeout, self._timed_out)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timed_out(self) -> None:
        self._timer = None
        seconds = self._header_timeout
        self._refuse(_Refused(408, f"request headers not received within {seconds:g}s"))

    # -- reading ---------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self._refusal is not None:
            return
        if self._in_head:
            # Raw bytes of the unfinished head (a request may follow in the same read, so
            # this is a bound, not the exact size): what httptools is holding for us.
            self._head_bytes += len(data)
        super().data_received(data)  # a callback's _Refused comes back as send_400_response
        if (
            self._refusal is None
            and self._in_head
            and self._head_bytes > (REQUEST_LINE_MAX + HEADERS_TOTAL_MAX)
        ):
            self._refuse(_Refused(431, f"request headers over {HEADERS_TOTAL_MAX} bytes"))

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head, self._header_count, self._header_total = True, 0, 0
        self._start_timer()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > REQUEST_LINE_MAX:
            self._refusal = _Refused(414, f"request target over {REQUEST_LINE_MAX} bytes")
            raise self._refusal

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > HEADER_COUNT_MAX:
            self._refusal = _Refused(431, f"more than {HEADER_COUNT_MAX} request headers")
            raise self._refusal
        if len(name) + len(value) > HEADER_MAX:
            self._refusal = _Refused(
                431, f"header {name[:40].decode('latin-1')!r} over {HEADER_MAX} bytes"
            )
            raise self._refusal
        self._header_total += len(name) + len(value)
        if self._header_total > HEADERS_TOTAL_MAX:
            self._refusal = _Refused(431, f"request headers over {HEADERS_TOTAL_MAX} bytes")
            raise self._refusal
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._stop_timer()
        self._in_head, self._head_bytes = False, 0
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        # httptools turns an exception raised in a callback into a parser error, which
        # uvicorn answers here: answer ours instead.
        if self._refusal is not None:
            refusal, self._refusal = self._refusal, None
            self._refuse(refusal)
            return
        super().send_400_response(msg)

    def _refuse(self, refusal: _Refused, *, retry_after: bool = False) -> None:
        self._refusal = refusal
        self._stop_timer()
        if self.transport.is_closing():
            return
        body = orjson.dumps({"error": refusal.message})
        head = [
            b"HTTP/1.1 %d %s" % (refusal.status, _REASONS[refusal.status]),
            b"content-type: application/json",
            b"content-length: %d" % len(body),
            b"cache-control: no-store",
            b"connection: close",
        ]
        if retry_after:
            head.append(b"retry-after: 1")
        self.transport.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        self.transport.close()
