"""The catalog for the browser (GET /api/i18n, /api/i18n/{lang}): the screen's texts in
every language the catalog has (devices/catalog)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException
from fastapi.responses import Response

from devices.catalog import Catalog


def _with_fallback(default: Mapping[str, Any], own: Mapping[str, Any]) -> dict[str, Any]:
    """`own` over `default`, table by table: a half-translated language shows the default
    language's text, never a bare key (as Catalog.text does on the server)."""
    out = dict(default)
    for key, value in own.items():
        base = out.get(key)
        if isinstance(value, Mapping) and isinstance(base, Mapping):
            value = _with_fallback(base, value)
        out[key] = value
    return out


def catalog_router(catalog: Catalog) -> APIRouter:
    """The catalog for the browser: GET /api/i18n lists the languages (the default first),
    GET /api/i18n/{lang} is one language's texts. Open without a token (texts only, no
    personal data) and cacheable: an ETag lets the browser revalidate with a 304."""
    router = APIRouter(prefix="/api/i18n", tags=["screen"])
    bodies: dict[str, tuple[bytes, str]] = {}
    default = catalog.table(catalog.default)
    for code in catalog.languages():
        merged = _with_fallback(default, catalog.table(code))
        body = json.dumps(merged, ensure_ascii=False, separators=(",", ":")).encode()
        bodies[code] = (body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
    index = {
        "default": catalog.default,
        "languages": [
            {
                "code": code,
                "name": catalog.get(code, "_meta.name") or code,
                "lang": catalog.get(code, "_meta.lang") or code,
            }
            for code in catalog.languages()
        ],
    }

    @router.get("")
    def languages() -> dict[str, Any]:
        return index

    @router.get("/{lang}")
    def texts(
        lang: str,
        if_none_match: Annotated[str | None, Header()] = None,
    ) -> Response:
        code = catalog.lang(lang)
        if code != lang.split("-")[0].split("_")[0].lower():
            raise HTTPException(404, f"no texts in {lang!r}; see /api/i18n")
        body, etag = bodies[code]
        headers = {"ETag": etag, "Cache-Control": "public, no-cache"}
        if if_none_match == etag:
            return Response(status_code=304, headers=headers)
        return Response(body, media_type="application/json", headers=headers)

    return router
