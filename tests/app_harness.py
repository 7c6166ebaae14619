"""The app in-process over an engine harness (tests/engine_harness.py): the runtime the
routers need, built from the harness's store, rules and clock (a command runs in the
harness's engine), and one request to the app without a server."""

from __future__ import annotations

import asyncio
import sqlite3
import warnings
from concurrent.futures import Future
from types import SimpleNamespace
from typing import Any

import httpx
from prometheus_client import CollectorRegistry

from alerting.items import CommandResult
from alerting.rulebook import Rulebook
from alerting.store import AlertReader
from dashboards.auth import StaffAuth, TokenBook
from dashboards.stream import ChangeHub
from tests.engine_harness import Harness


def harness_runtime(
    h: Harness, staff: StaffAuth, tokens: TokenBook, read_open: bool, **more: Any
) -> SimpleNamespace:
    """What `create_app` needs of the service, over the harness; `more` adds to it."""

    def submit(cmd: Any) -> Future[CommandResult]:
        r = h.engine.process([cmd])
        h.changes += r.changes
        fut: Future[CommandResult] = Future()
        fut.set_result(r.results[0])
        return fut

    return SimpleNamespace(
        registry=h.registry,
        rules=Rulebook.of_one(h.rules),
        metrics=CollectorRegistry(),
        hub=ChangeHub(),
        alerts=AlertReader(lambda: sqlite3.connect(h.path)),
        staff=staff,
        read_open=read_open,
        tokens=tokens,
        clock=h.clock,
        submit=submit,
        **more,
    )


def request(app: Any, method: str, path: str, **kw: Any) -> httpx.Response:
    """One request to the app in-process (httpx over ASGI)."""

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://cw") as c:
            return await c.request(method, path, **kw)

    with warnings.catch_warnings():  # starlette's notice about its httpx backend
        warnings.simplefilter("ignore")
        return asyncio.run(go())
