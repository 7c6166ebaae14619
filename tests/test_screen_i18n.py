"""The duty screen's texts come from the one catalog: every key its modules use exists in
every language with the placeholders the code fills, no text table is left in the browser
code, and the service serves the catalog (and the modules, as JavaScript) to the browser.

The keys are found by scanning the module sources: `t('key', {...})` and `tOr('key', ...)`
calls, any other string literal that names a catalog key (tables of keys), `data-i18n` in
the pages (the duty screen's index.html, the district overview's district.html), and keys
built from data (`t(\\`priority.${p}\\`)`), whose prefix must be a table.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from dashboards.i18n import catalog_router
from dashboards.screen import STATIC, ScreenFiles
from devices.catalog import Catalog, load_catalog, read_catalog
from tests.conftest import DEMO_SITE

JS = STATIC / "js"
NAMESPACES = "screen|handover|district|equipment|rounds|hazards|severity|priority|state|device_type|field|rule|target|_meta"
CALL = re.compile(r"\b(tOr|t)\(\s*(['\"`])")
KEY_LITERAL = re.compile(rf"""['"]((?:{NAMESPACES})\.[A-Za-z0-9_.]+)['"]""")
DYNAMIC = re.compile(rf"`((?:{NAMESPACES})\.[A-Za-z0-9_.]*)\$\{{")
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
MAX_MODULE_LINES = 400
PAGES = ("index.html", "district.html")  # the duty screen, the district overview


def modules() -> list[Path]:
    return sorted(JS.glob("*.js"))


def _split_args(src: str, start: int) -> list[str]:
    """The top-level arguments of a call whose '(' is just before `start`."""
    args, depth, i, begin = [], 0, start, start
    stack: list[str] = []  # open quotes and `${` of template literals
    while i < len(src):
        c = src[i]
        if stack and stack[-1] in "'\"`":
            if c == "\\":
                i += 2
                continue
            if c == stack[-1]:
                stack.pop()
            elif stack[-1] == "`" and src.startswith("${", i):
                stack.append("${")
                i += 1
        elif c in "'\"`":
            stack.append(c)
        elif stack and stack[-1] == "${" and c == "}":
            stack.pop()
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            if depth == 0:
                args.append(src[begin:i].strip())
                return [a for a in args if a]
            depth -= 1
        elif c == "," and depth == 0 and not stack:
            args.append(src[begin:i].strip())
            begin = i + 1
        i += 1
    raise AssertionError(f"unclosed call at {start}")


def _object_keys(obj: str) -> set[str] | None:
    """Keys of an object literal `{ a, b: x }`; None if `obj` is not a literal."""
    obj = obj.strip()
    if not (obj.startswith("{") and obj.endswith("}")):
        return None
    parts = _split_args(obj[1:] + ")", 0)
    names = [re.match(r"([A-Za-z_$][\w$]*)", p) for p in parts]
    assert all(names), obj  # plain keys only: a spread or computed key needs a real parser
    return {m.group(1) for m in names if m}


def calls() -> Iterator[tuple[str, str, set[str] | None]]:
    """(module, key, placeholder names given or None) of every t()/tOr() with a literal key."""
    for path in modules():
        src = path.read_text(encoding="utf-8")
        for m in CALL.finditer(src):
            args = _split_args(src, m.end() - 1)
            key = args[0]
            if key[0] == "`" and "${" in key:
                continue  # built from data: checked by prefix
            values_at = 2 if m.group(1) == "tOr" else 1
            values = _object_keys(args[values_at]) if len(args) > values_at else set()
            yield path.name, key[1:-1], values


def lookup(table: Any, key: str) -> Any:
    for part in key.split("."):
        if not isinstance(table, dict) or part not in table:
            return None
        table = table[part]
    return table


def absent(catalog: Catalog, used: set[tuple[str, str]], kind: type) -> list[str]:
    """Each (module, key) that is not a `kind` (str: a text, dict: a table) in a language."""
    return [
        f"{lang}: {key} ({mod})"
        for lang in catalog.languages()
        for mod, key in sorted(used)
        if not isinstance(lookup(catalog.table(lang), key), kind)
    ]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def test_every_key_the_screen_uses_is_a_text_in_every_language(catalog: Catalog) -> None:
    used = {(mod, key) for mod, key, _ in calls()}
    for path in modules():
        used |= {(path.name, k) for k in KEY_LITERAL.findall(path.read_text(encoding="utf-8"))}
    for page in PAGES:
        html = (STATIC / page).read_text(encoding="utf-8")
        used |= {(page, k) for k in re.findall(r'data-i18n="([^"]+)"', html)}
    assert len(used) > 100  # the scan found the calls
    assert absent(catalog, used, str) == []


def test_keys_built_from_data_name_a_table_in_every_language(catalog: Catalog) -> None:
    prefixes = {
        (path.name, p.rstrip("."))
        for path in modules()
        for p in DYNAMIC.findall(path.read_text(encoding="utf-8"))
    }
    assert {p for _, p in prefixes} >= {"priority", "severity", "state", "screen.groups"}
    assert absent(catalog, prefixes, dict) == []


def test_the_code_fills_exactly_the_placeholders_of_each_text(catalog: Catalog) -> None:
    wrong = []
    for mod, key, given in calls():
        text = catalog.get(catalog.default, key)
        if text is None or given is None:
            continue  # reported by the test above / values not a literal object
        wanted = set(PLACEHOLDER.findall(text))
        if wanted != given:
            wrong.append(f"{mod}: {key} takes {sorted(wanted)}, code gives {sorted(given)}")
    assert wrong == []


def test_no_text_table_is_left_in_the_browser_code() -> None:
    """Texts live in the catalog only: no Chinese outside comments, no `zh:` tables."""
    offenders = []
    for path in [*modules(), *STATIC.glob("*.js")]:
        src = path.read_text(encoding="utf-8")
        code = re.sub(r"/\*.*?\*/", "", src, flags=re.S)
        code = re.sub(r"(?m)^\s*//.*$|\s//\s.*$", "", code)
        if CJK.search(code) or re.search(r"\bzh\s*:", code):
            offenders.append(path.name)
    assert offenders == []


def test_modules_are_small_and_every_import_resolves() -> None:
    assert (JS / "main.js").exists() and not (STATIC / "app.js").exists()
    for path in modules():
        src = path.read_text(encoding="utf-8")
        assert src.count("\n") <= MAX_MODULE_LINES, path.name
        for target in re.findall(r"^import .* from '(\./[\w.-]+)';$", src, flags=re.M):
            assert (JS / target).exists(), f"{path.name} imports {target}"
    for page in PAGES:
        html = (STATIC / page).read_text(encoding="utf-8")
        scripts = re.findall(r"<script([^>]*)></script>", html)
        assert scripts and all('type="module"' in s for s in scripts)
        for src in re.findall(r'(?:src|href)="/static/([^"]+)"', html):
            assert (STATIC / src).exists(), src


def asgi_client(app: FastAPI) -> Any:
    with warnings.catch_warnings():  # starlette's notice about its httpx backend
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    return TestClient(app)


@pytest.fixture
def client() -> Any:
    app = FastAPI()
    app.include_router(catalog_router(load_catalog()))
    app.mount("/static", ScreenFiles(directory=STATIC), name="static")
    return asgi_client(app)


def test_the_catalog_is_served_in_every_language(client: Any, catalog: Catalog) -> None:
    index = client.get("/api/i18n").json()
    assert index["default"] == "zh"
    assert [(x["code"], x["lang"]) for x in index["languages"]][:2] == [
        ("zh", "zh-CN"),
        ("en", "en"),
    ]
    assert [x["name"] for x in index["languages"]][:2] == ["中文", "English"]
    for lang in catalog.languages():
        r = client.get(f"/api/i18n/{lang}")
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
        assert r.json() == catalog.table(lang)  # complete files: served as they are
    assert client.get("/api/i18n/zh").json()["screen"]["tab"]["alerts"] == "告警"
    assert client.get("/api/i18n/en-GB").json()["screen"]["tab"]["alerts"] == "Alerts"
    assert client.get("/api/i18n/fr").status_code == 404


def test_the_catalog_is_cacheable(client: Any) -> None:
    r = client.get("/api/i18n/en")
    etag = r.headers["etag"]
    assert "no-cache" in r.headers["cache-control"]  # kept, but revalidated after upgrades
    again = client.get("/api/i18n/en", headers={"If-None-Match": etag})
    assert again.status_code == 304 and not again.content
    assert client.get("/api/i18n/zh").headers["etag"] != etag


def test_a_half_translated_language_is_served_with_the_default_texts(tmp_path: Path) -> None:
    (tmp_path / "zh.json").write_text(
        json.dumps({"screen": {"a": "甲", "b": "乙"}}, ensure_ascii=False), encoding="utf-8"
    )
    (tmp_path / "en.json").write_text(json.dumps({"screen": {"a": "A"}}), encoding="utf-8")
    app = FastAPI()
    app.include_router(catalog_router(read_catalog(tmp_path)))
    assert asgi_client(app).get("/api/i18n/en").json() == {"screen": {"a": "A", "b": "乙"}}


def test_modules_are_served_as_javascript(client: Any) -> None:
    for path in [*modules(), *(STATIC / p for p in PAGES), STATIC / "style.css"]:
        r = client.get(f"/static/{path.relative_to(STATIC).as_posix()}")
        assert r.status_code == 200, path
        assert r.headers["cache-control"] == "no-cache"
        if path.suffix == ".js":
            assert r.headers["content-type"].startswith("text/javascript"), path.name
    r = client.get("/static/js/main.js")
    again = client.get("/static/js/main.js", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304


@pytest.mark.integration
def test_the_service_serves_the_catalog_without_a_token_where_reads_need_one(
    tmp_path: Path, broker
) -> None:
    from tests.servers import CarewatchProcess

    s = CarewatchProcess(tmp_path / "cw", broker.url, DEMO_SITE, settings={"read_access": "token"})
    s.start()
    try:
        assert s.get_anonymous("/api/meta").status_code == 401
        r = s.get_anonymous("/api/i18n/en")
        assert r.status_code == 200 and r.json()["screen"]["app_name"] == "CareWatch duty screen"
        js = s.get_anonymous("/static/js/main.js")
        assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    finally:
        s.stop()
