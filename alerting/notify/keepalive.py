"""One kept-alive HTTP/1.1 connection to one webhook URL, on the standard library's
http.client.

Why not httpx here: an alarm's POST is on the way from the commit to the fire brigade, and
httpx spends about 0.5 ms of CPU per request on this machine (its transport layers, header
models, the event hooks) against about 0.1 ms for http.client on the same kept-alive
socket (docs/performance.md "Where the time goes"). A webhook needs none of what httpx
adds: one URL, one connection, a body and a status. httpx stays for everything else, and
for a target behind a proxy (http.client does not read HTTP(S)_PROXY): `proxied` says when.
"""

from __future__ import annotations

import http.client
import ssl
import urllib.request
from collections.abc import Mapping
from urllib.parse import urlsplit


def proxied(url: str) -> bool:
    """The environment sends this URL through a proxy (HTTP_PROXY, HTTPS_PROXY, not NO_PROXY)."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    if parts.scheme not in proxies:
        return False
    return not urllib.request.proxy_bypass(parts.hostname or "")


class KeepAlivePost:
    """POSTs to one URL over one connection, opened on first use and again after any
    fault. A request on a reused connection that the peer had closed meanwhile is sent
    once more on a fresh one (the webhook's Idempotency-Key makes that safe). Not thread
    safe: a delivery worker owns its poster."""

    def __init__(self, url: str, timeout_s: float) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"webhook URL must be http(s)://host/..., got {url!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._timeout_s = timeout_s
        self._conn: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._https:
            return http.client.HTTPSConnection(
                self._host,
                self._port,
                timeout=self._timeout_s,
                context=ssl.create_default_context(),
            )
        return http.client.HTTPConnection(self._host, self._port, timeout=self._timeout_s)

    def post(self, body: bytes, headers: Mapping[str, str]) -> int:
        """The response's status. Raises OSError or http.client.HTTPException when there
        was no answer."""
        reused = self._conn is not None
        try:
            return self._once(body, headers)  # closes the connection on any fault
        except (ConnectionError, http.client.BadStatusLine):
            if not reused:
                raise
            return self._once(body, headers)  # the kept-alive socket was stale

    def _once(self, body: bytes, headers: Mapping[str, str]) -> int:
        if self._conn is None:
            self._conn = self._connect()
        conn = self._conn
        try:
            conn.request("POST", self._path, body=body, headers=dict(headers))
            resp = conn.getresponse()
            resp.read()
        except BaseException:
            self.close()
            raise
        if resp.will_close:
            self.close()
        return resp.status

    def close(self) -> None:
        """Close the connection; the next post opens another."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
