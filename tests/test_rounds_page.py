"""The rounds in Chromium against the real service watching the demo home at 01:08 on the
home's clock (libfaketime; the browser on the real clock, times shown in the site's zone):
the duty screen's tab 巡查 / Rounds (zh-CN and English) with the 00:00 round in progress,
checkpoints done, late and due, and the next round; and the patrol phone page at a cheap
phone's size: PIN log-in, a QR tag's link opening the checkpoint's checklist, a problem
found checked in (a hazard) once though its answer was lost and it was sent again, the
round's list updated. Screenshots for docs/screen.md and
docs/fire-duty.md: rounds-zh.png, rounds-en.png, patrol-round-zh.png."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from alerting.store import create_schema
from ingest.sqlite import connect
from simulators import siteclock
from tests.conftest import DEMO_SITE, ROOT, wait_until
from tests.servers import CarewatchProcess

SH = ZoneInfo("Asia/Shanghai")
SHOTS = ROOT / "docs" / "screenshots"
TAGS = [f"nfc:04a2b3c4d5e60{i}" for i in range(1, 9)]
T = "carewatch/v1/sunrise/tr-1f-duty/event"

pytestmark = pytest.mark.integration


class Night:
    """The service at 01:08 on the home's clock: the 22:00 round walked, the 00:00 one
    five checkpoints on time, one late (01:05), two still due."""

    def __init__(self, tmp_path, broker_url: str, publisher) -> None:  # type: ignore[no-untyped-def]
        library = siteclock.faketime_library()
        if library is None:
            pytest.skip("libfaketime is not installed (Debian package faketime)")
        real = int(time.time() * 1000)
        shift = siteclock.offset_s(real, "01:08:00", "Asia/Shanghai", 0)
        self.night = datetime.fromtimestamp((real + shift * 1000) / 1000, SH).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        self.service = s = CarewatchProcess(
            tmp_path / "cw", broker_url, DEMO_SITE, settings={"read_access": "open"}
        )
        conn = connect(s.dir / "carewatch.db")
        create_schema(conn)
        conn.execute("INSERT INTO meta(key, value) VALUES ('rounds_since:sunrise', ?)",
                     (self.at(21, 0),))  # fmt: skip
        conn.commit()
        conn.close()
        s.env = siteclock.clock_env(shift, library)
        s.start()
        scans = [(22, 10 + i, tag, "nurse-wang") for i, tag in enumerate(TAGS)]
        scans += [(0, 12 + 5 * i, tag, "nurse-li") for i, tag in enumerate(TAGS[:5])]
        scans.append((1, 5, TAGS[5], "nurse-li"))

        def scan(h: int, m: int, tag: str, who: str) -> bytes:
            body = {"event": "scan", "id": f"s-{h}-{m}", "ts": self.at(h, m), "tag": tag}
            return json.dumps({**body, "staff": who}).encode()

        msgs = [(T, scan(*x)) for x in scans]
        publisher.publish_all(msgs, rate=200)
        assert publisher.wait_acked(len(msgs), 10)
        assert wait_until(lambda: len(self.checkins()) == len(msgs), 10), s.log()[-2000:]

    def at(self, hour: int, minute: int) -> int:
        day = self.night - timedelta(days=1) if hour >= 12 else self.night
        return int(day.replace(hour=hour, minute=minute).timestamp() * 1000)

    def checkins(self) -> list[dict]:  # type: ignore[type-arg]
        r = self.service.get("/api/rounds/checkins", site="sunrise", since=str(self.at(21, 0)))
        return r.json() if r.status_code == 200 else []


@pytest.fixture
def night(tmp_path, broker, publisher) -> Iterator[Night]:  # type: ignore[no-untyped-def]
    n = Night(tmp_path, broker.url, publisher)
    yield n
    n.service.stop()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_rounds_tab_shows_the_round_in_progress(night, open_page, lang) -> None:  # type: ignore[no-untyped-def]
    p = open_page(1600, 1000, "zh-CN" if lang == "zh" else "en-US", "Asia/Shanghai")
    page = p.page
    page.clock.set_fixed_time(night.at(1, 8) / 1000)  # the screen's clock: the home's
    page.goto(night.service.url + "/")
    if lang == "en":
        page.evaluate("localStorage.setItem('carewatch.lang', 'en')")
        page.reload()
    page.wait_for_selector("#alerts-loading", state="hidden", timeout=10_000)  # the page runs
    page.click('.tab[data-view="rounds"]')
    card = page.locator('.round-route[data-route="night"]')
    card.wait_for(timeout=5000)
    assert card.get_attribute("data-status") == "in_progress"
    statuses = page.eval_on_selector_all(".round-point", "els => els.map(e => e.dataset.status)")
    assert statuses == ["done"] * 5 + ["late", "due", "due"]
    text = card.inner_text()
    if lang == "zh":
        assert "夜间防火巡查" in text and "进行中" in text and "已完成 6/8" in text
        assert "迟到 1" in text and "应完成 01:00" in text and "3F 走廊" in text
        assert "李护士 01:05" in text  # the staff member by name, as the screen knows her
        assert "3楼 · 3F 设备间 (utility room)" in text  # the room by its name
    else:
        assert "Night fire patrol" in text and "In progress" in text and "done 6/8" in text
        assert "late 1" in text and "due by 01:00" in text and "3F corridor" in text
    assert "02:00" in page.inner_text(".round-next")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"rounds-{lang}.png"))
    assert p.errors == []


def test_the_patrol_page_checks_in_a_qr_tag_with_a_problem_found(night, open_page) -> None:  # type: ignore[no-untyped-def]
    p = open_page(360, 640, "zh-CN", "Asia/Shanghai")
    page = p.page
    page.clock.set_fixed_time(night.at(1, 8) / 1000)
    page.goto(night.service.url + f"/patrol?site=sunrise&tag={TAGS[6]}")
    page.wait_for_function("window.carewatchPatrol && window.carewatchPatrol.ready()")
    page.fill("#staff", "nurse-li")
    page.fill("#pin", "9999")
    page.click("#login-btn")
    page.wait_for_selector("#login-error:not([hidden])")
    assert "工号或PIN错误" in page.inner_text("#login-error")
    page.fill("#pin", "1234")
    page.click("#login-btn")
    page.wait_for_selector("#checkpoint:not([hidden])")
    assert page.inner_text("#cp-name") == "3F 走廊"
    items = page.eval_on_selector_all("#items .item", "els => els.map(e => e.dataset.item)")
    assert items == ["extinguisher_ok", "no_combustibles"]
    assert "灭火器在位、压力正常" in page.inner_text("#items")
    page.wait_for_selector('.route[data-route="night"] li[data-status="due"]')
    page.check('input[name="a-no_combustibles"][value="problem"]')
    page.fill("#note", "楼梯间堆放纸箱")
    box = page.locator("#submit").bounding_box()
    assert box is not None and box["height"] >= 48  # a thumb's
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "patrol-round-zh.png"), full_page=True)
    # the check-in reaches the service but its answer is lost: the form stays, and the
    # same check-in (its client_id) sent again is taken as saved, not counted twice
    lost: list[int] = []

    def lose_answer(route) -> None:  # type: ignore[no-untyped-def]
        lost.append(route.fetch().status)
        route.abort()

    page.route("**/api/rounds/checkins", lose_answer)
    page.click("#submit")
    page.wait_for_selector("#error:not([hidden])")
    assert lost == [201] and "网络错误" in page.inner_text("#error")
    assert page.input_value("#note") == "楼梯间堆放纸箱"
    page.unroute("**/api/rounds/checkins")
    page.click("#submit")
    page.wait_for_selector("#toast:not([hidden])")
    assert "已打卡：3F 走廊" in page.inner_text("#toast")
    page.wait_for_selector('li[data-checkpoint="cp-3f-corridor"][data-status="late"]')
    [c] = [
        c for c in night.checkins() if c["checkpoint"] == "cp-3f-corridor" and c["via"] == "phone"
    ]
    assert (c["by"], c["via"], c["result"]) == ("nurse-li", "phone", "problem")
    db = sqlite3.connect(night.service.dir / "carewatch.db")
    hazards = db.execute("SELECT category, checkpoint, source_ref FROM hazards").fetchall()
    db.close()
    assert hazards == [("combustibles", "cp-3f-corridor", str(c["id"]))]  # one, not two
    # the same tag again in this round: refused, said plainly
    page.fill("#tag", TAGS[6])
    page.click("#open")
    page.wait_for_selector("#checkpoint:not([hidden])")
    page.click("#submit")
    page.wait_for_selector("#error:not([hidden])")
    assert "本轮已打过卡" in page.inner_text("#error")
    page.fill("#tag", "nfc:nothing")
    page.click("#open")
    page.wait_for_function("document.getElementById('error').innerText.includes('nfc:nothing')")
    assert "未知标签" in page.inner_text("#error")
    expected = ("status of 401", "status of 404", "status of 409", "net::ERR_FAILED")
    assert [e for e in p.errors if not any(x in e for x in expected)] == []
