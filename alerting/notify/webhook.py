"""The one HTTP poster of CareWatch: every webhook (notifications, the daily watch report,
a site's export to the regulator) is a POST signed with HMAC-SHA256 over the body
(`X-CareWatch-Signature`) and carries an `Idempotency-Key`, so the receiver can check where
it came from and drop a retry."""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, tzinfo
from typing import Any, Literal

import httpx
import orjson

from alerting.notify.formats import CAP_CONTENT_TYPE, JSON_CONTENT_TYPE, CapTexts, to_cap, to_json
from alerting.notify.keepalive import KeepAlivePost, proxied
from alerting.notify.notice import notice
from alerting.notify.sender import DeliveryError
from alerting.notify.signing import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, sign, standard_headers
from alerting.outbox import EXPORT_KIND, OutboxRow

USER_AGENT = "CareWatch/1"


Signing = Literal["both", "standard", "legacy", "bearer"]


class WebhookPoster:
    """POSTs bodies to one URL with one key. Any 2xx is delivered; anything else, or no
    answer, raises DeliveryError (with the status when there was one).

    `signing`: "both" (default) sends the Standard Webhooks headers and the
    `X-CareWatch-Signature` of the device contract; "standard" only the former (a receiver
    that checks timestamps and ids cannot be fooled by a replay); "legacy" only the latter,
    for receivers built before; "bearer" no signature but the secret as `Authorization:
    Bearer` (an SMS/voice gateway that takes an API token, alerting/notify/gateway.py)."""

    def __init__(
        self,
        url: str,
        secret: bytes,
        timeout_s: float = 5.0,
        client: httpx.Client | None = None,
        signing: Signing = "both",
        now_s: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self._secret = secret
        self._timeout_s = timeout_s
        self._client = client
        self._signing = signing
        self._now_s = now_s
        # the standard library's kept-alive connection unless a client was given or the
        # environment names a proxy for the URL (alerting/notify/keepalive.py says why)
        self._direct = (
            KeepAlivePost(url, timeout_s) if client is None and not proxied(url) else None
        )

    def post(self, body: bytes, content_type: str, key: str) -> int:
        """The receiver's status (2xx)."""
        headers = {"Content-Type": content_type, IDEMPOTENCY_HEADER: key, "User-Agent": USER_AGENT}
        if self._signing == "bearer":
            headers["Authorization"] = "Bearer " + self._secret.decode()
        else:
            if self._signing != "standard":
                headers[SIGNATURE_HEADER] = sign(body, self._secret)
            if self._signing != "legacy":  # signed at each attempt: a fresh timestamp
                headers.update(standard_headers(key, int(self._now_s()), body, self._secret))
        status = (
            self._post_direct(body, headers) if self._direct else self._post_httpx(body, headers)
        )
        if not 200 <= status < 300:
            raise DeliveryError(f"HTTP {status}", status)
        return status

    def _post_direct(self, body: bytes, headers: dict[str, str]) -> int:
        assert self._direct is not None
        try:
            return self._direct.post(body, headers)
        except (OSError, http.client.HTTPException) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}"[:300]) from exc

    def _post_httpx(self, body: bytes, headers: dict[str, str]) -> int:
        if self._client is None:  # made on first use: a poster that never posts holds none
            self._client = httpx.Client(timeout=self._timeout_s)
        try:
            r = self._client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}"[:300]) from exc
        return r.status_code

    def close(self) -> None:
        """Close the HTTP client, a passed-in one too; the poster is done after."""
        if self._client is not None:
            self._client.close()
        if self._direct is not None:
            self._direct.close()


@dataclass(frozen=True, slots=True)
class Place:
    """Where an alert happened, as a notice tells it: the site's details (name, address,
    position), the zone its times are written in, and the CAP sender id."""

    site: Mapping[str, Any]
    tz: tzinfo = UTC
    sender_id: str = "carewatch"


class WebhookSender:
    """A notification target: versioned JSON or CAP 1.2 through a WebhookPoster. `place`
    gives each alert's site (a service watches several); a Place alone serves one site.
    An export row goes as its document, JSON whatever the target's format."""

    def __init__(
        self,
        poster: WebhookPoster,
        fmt: str,
        place: Place | Callable[[str], Place],
        texts: CapTexts | None = None,
    ) -> None:
        self._poster = poster
        self._fmt = fmt
        self._place = place
        self._texts = texts

    def send(self, row: OutboxRow) -> int:
        """POST the row as the target's format (JSON or CAP 1.2) with the row's key as
        Idempotency-Key; DeliveryError when the receiver did not take it."""
        if row.kind == EXPORT_KIND:  # the document as queued: a report, not a notice
            return self._poster.post(orjson.dumps(row.alert), JSON_CONTENT_TYPE, row.key)
        where = (
            self._place
            if isinstance(self._place, Place)
            else self._place(row.alert.get("site", ""))
        )
        n = notice(row, where.site)
        if self._fmt == "cap":
            body = to_cap(n, where.sender_id, tz=where.tz, texts=self._texts)
            ctype = CAP_CONTENT_TYPE + "; charset=utf-8"
        else:
            body, ctype = to_json(n), JSON_CONTENT_TYPE
        return self._poster.post(body, ctype, row.key)

    def close(self) -> None:
        """Close the poster's HTTP client at shutdown."""
        self._poster.close()
