"""Every time on the duty screen is the site's, whatever zone the browser's machine is set
to: a screen in New York showing a home in Shanghai shows Shanghai's clock, the alert's
Shanghai time, and the handover panel agrees with both."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import orjson
import pytest

from tests.conftest import DEMO_SITE, wait_until
from tests.servers import CarewatchProcess

pytestmark = pytest.mark.integration
T = "carewatch/v1/sunrise"
SITE_TZ = ZoneInfo("Asia/Shanghai")  # the demo rules' zone
BROWSER_TZ = "America/New_York"  # 12 or 13 hours away: no time can match by chance


def test_the_screen_shows_the_sites_time_in_a_browser_of_another_zone(
    tmp_path, broker, publisher, open_page
):
    # the page opens without a token: reads open, explicitly
    service = CarewatchProcess(
        tmp_path / "cw", broker.url, DEMO_SITE, settings={"read_access": "open"}
    )
    service.start()
    try:
        assert service.get("/api/meta").json()["site"]["timezone"] == "Asia/Shanghai"
        bp = open_page(timezone_id=BROWSER_TZ)
        page = bp.page
        page.goto(service.url)
        page.wait_for_selector("#conn-banner", state="hidden", timeout=10_000)
        assert page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone") == BROWSER_TZ
        publisher.publish_all(
            [(f"{T}/w-101-1/event", orjson.dumps({"event": "fall", "id": "tz-1"}))], rate=10
        )
        card = page.locator(".alert-card").first
        card.wait_for(timeout=5000)
        raised = datetime.fromisoformat(service.get("/api/alerts").json()[0]["raised_at"])
        site_hm = raised.astimezone(SITE_TZ).strftime("%H:%M")
        ny_hm = raised.astimezone(ZoneInfo(BROWSER_TZ)).strftime("%H:%M")
        assert site_hm != ny_hm
        text = card.inner_text()
        assert site_hm in text and ny_hm not in text, text

        def header_clock_is_the_sites() -> bool:
            shown = page.inner_text("#clock")
            hm = re.findall(r"\d{2}:\d{2}", shown)
            now = datetime.now(SITE_TZ)
            near = {(now.replace(second=0)).strftime("%H:%M")}
            return bool(hm) and hm[0] in near | {
                datetime.fromtimestamp(now.timestamp() - 60, SITE_TZ).strftime("%H:%M")
            }

        assert wait_until(header_clock_is_the_sites, 3), page.inner_text("#clock")
        # the recent-activity list and the handover panel: no time in the browser's zone
        body = page.inner_text("body")
        assert ny_hm not in body, f"a New York time {ny_hm} on the screen"
        assert bp.errors == []
    finally:
        service.stop()
