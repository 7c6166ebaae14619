"""A home call's escalation end to end, killed mid-climb: the real service as a process, a
real mosquitto, the reference receiver on loopback as the SMS/voice gateway and as a
webhook; nothing mocked.

A press at a home bed nobody answers climbs: the operator's console at once, the daughter
(voice and SMS), the son (voice), no third family member (skipped), the community centre
(voice and SMS), a supervisor's webhook. The gateway refuses (503) while the son's call is
due; then the service is killed with SIGKILL, stays down past the centre's step, and
starts again. Afterwards every step to a person arrives exactly once per Idempotency-Key
`<site>:<install>:<alert>:<target>/<resident>/<contact>:<seq>` (a delivery whose answer
the kill cut off comes again and is recognised by its key), none is lost, and the climb
stops when the call is acknowledged.

Privacy (tests/test_privacy.py, the gateway path): the contacts' names and numbers and the
resident's name are in no log line, no metric, no webhook body, no MQTT alert topic payload,
no row of the database; the gateway's own request carries the number (which also shows the
scan looks for the right thing).
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from alerting.notify.receiver import Receiver
from ingest.broker import free_port
from tests.conftest import wait_until
from tests.home_escalation import NAMES, PHONES, SITE, write_site
from tests.servers import CarewatchProcess
from tests.test_e2e_notify import Subscriber
from tests.test_privacy import found

pytestmark = pytest.mark.integration
SECRET = "e2e-home-gateway-secret-0123"
PEOPLE = [*NAMES, *PHONES, "138 0000 1234", "13800001234", "13900005678", "8800 0000"]


def rules_yaml(port: int) -> str:
    """The SMS and voice gateways and a supervisor's webhook on one receiver; the home
    emergency policy at test speed: family_1 at 1 s, family_2 at 4 s, family_3 at 6 s,
    the centre at 8 s, the supervisor at 9 s."""
    base = f"http://127.0.0.1:{port}"
    return f"""\
notify:
  contacts: {{sms: sms_gw, voice: voice_gw}}
  targets:
    sms_gw: {{kind: gateway, url: "{base}/sms", secret_env: CW_GW_SECRET, horizon_s: 600}}
    voice_gw: {{kind: gateway, url: "{base}/voice", secret_env: CW_GW_SECRET, horizon_s: 600}}
    supervisor: {{url: "{base}/hook", format: json, secret_env: CW_GW_SECRET}}
escalation:
  policies:
    home_emergency:
      steps:
        - {{after_s: 0, notify: operator}}
        - {{after_s: 1, notify: family_1}}
        - {{after_s: 4, notify: family_2}}
        - {{after_s: 6, notify: family_3}}
        - {{after_s: 8, notify: community}}
        - {{after_s: 9, notify: supervisor}}
      repeat_s: 600
      cycle_from: 1
"""


def outbox(service: CarewatchProcess) -> list[dict[str, Any]]:
    """The delivery log without the MQTT alert topic, oldest first."""
    rows = service.get("/api/notifications", limit=1000).json()
    return sorted((r for r in rows if r["target"] != "mqtt"), key=lambda r: r["id"])


def test_kill_9_mid_escalation_every_step_arrives_once(tmp_path, monkeypatch, broker, publisher):
    monkeypatch.setenv("CW_GW_SECRET", SECRET)
    site = write_site(tmp_path)
    port = free_port()
    receiver = Receiver("127.0.0.1", port, SECRET.encode()).start()
    service = CarewatchProcess(tmp_path / "cw", broker.url, site, rules=rules_yaml(port))
    service.start()
    topic = Subscriber(broker.port, f"carewatch/v1/{SITE}/alerts/#")
    try:
        publisher.publish_all(
            [(f"carewatch/v1/{SITE}/hbt-call/event", b'{"event":"press","id":"e2e-1"}')], rate=50
        )
        # the daughter's voice call and SMS arrive at 1 s
        assert wait_until(lambda: len(receiver.received) >= 2, 8), outbox(service)
        [alert] = service.get("/api/alerts").json()
        key = f"{SITE}:{receiver.received[0]['key'].split(':')[1]}:{alert['id']}"
        assert sorted(receiver.keys()) == [
            f"{key}:sms_gw/r-1/daughter:1",
            f"{key}:voice_gw/r-1/daughter:1",
        ]
        # the gateway refuses while the son's call comes due (4 s): it stays pending
        receiver.fail_with = 503

        def son_refused() -> bool:
            return any(
                r["recipient"] == "r-1/son" and r["last_status"] == 503 for r in outbox(service)
            )

        assert wait_until(son_refused, 8), outbox(service)
        service.kill9()  # mid-climb: the son pending, the centre and the supervisor not due
        receiver.fail_with = None
        time.sleep(6)  # down past the centre's step (8 s) and the supervisor's (9 s)
        service.start()

        def all_steps() -> bool:
            rows = outbox(service)
            return len(rows) >= 6 and all(r["state"] == "delivered" for r in rows)

        assert wait_until(all_steps, 20), outbox(service)
        assert service.post(f"/api/alerts/{alert['id']}/ack", {"by": "op-1"}).status_code == 200
        assert wait_until(lambda: all(r["state"] == "delivered" for r in outbox(service)), 10)
        time.sleep(2)  # nothing more comes: the climb stopped, nothing twice
        rows = outbox(service)
        people = [r for r in rows if r["recipient"]]
        assert sorted((r["target"], r["recipient"], r["seq"]) for r in people) == [
            ("sms_gw", "r-1/centre", 1),
            ("sms_gw", "r-1/daughter", 1),
            ("voice_gw", "r-1/centre", 1),
            ("voice_gw", "r-1/daughter", 1),
            ("voice_gw", "r-1/son", 1),
        ]
        for r in people:
            assert r["key"] == f"{key}:{r['target']}/{r['recipient']}:{r['seq']}"
        hooks = [(r["action"], r["seq"]) for r in rows if r["target"] == "supervisor"]
        assert hooks == [("escalate", 1), ("ack", 2)]  # the webhook keeps working
        # exactly once per key at the receiver; a retry after the kill only as a duplicate
        keys = receiver.keys()
        assert len(keys) == len(set(keys)) and set(keys) == {r["key"] for r in rows}
        by_key = {d["key"]: d for d in receiver.received}
        son = by_key[f"{key}:voice_gw/r-1/son:1"]["parsed"]
        assert son["to"] == "+8613900005678" and son["channel"] == "voice"
        # the audit keeps the climb, the skipped step too
        audit = service.get(f"/api/alerts/{alert['id']}").json()["history"]
        notes = [a.get("note") for a in audit if a["action"] == "escalate"]
        assert notes[:5] == [
            "operator",
            "family_1",
            "family_2",
            "family_3: skipped: no_contact",
            "community",
        ], notes
        # the alert topic still carries the alert, acknowledged
        assert wait_until(lambda: topic.on(f"carewatch/v1/{SITE}/alerts/{alert['id']}"), 5)
        payloads = [p for _, p, _ in topic.messages]
        assert orjson.loads(payloads[-1])["state"] == "active_ack"

        # privacy: names and numbers only in the gateway's own requests
        gateway = [d["body"] for d in receiver.received if "_gw/" in d["key"]]
        assert found(PHONES[:1], b"".join(gateway)) == [PHONES[0]]
        webhooks = [d["body"] for d in receiver.received if ":supervisor:" in d["key"]]
        outputs: dict[str, str | bytes] = {
            "log": service.log(),
            "metrics": service.get("/metrics").text,
            "delivery log": orjson.dumps(rows),
            "webhook bodies": b"".join(webhooks),
            "alert topic": b"".join(payloads),
        }
        for f in sorted((tmp_path / "cw").glob("carewatch.db*")):
            outputs[f.name] = f.read_bytes()
        leaks = {name: found(PEOPLE, text) for name, text in outputs.items()}
        assert leaks == {name: [] for name in outputs}
        print(f"{len(keys)} keys delivered once each; duplicates recognised: {receiver.duplicates}")
    finally:
        topic.close()
        service.stop()
        receiver.stop()
