"""Staff PIN login and session tokens (pure, fake clock)."""

from __future__ import annotations

import pytest

from dashboards.auth import LoginError, StaffAuth, hash_pin, load_secret, pin_matches
from devices.ports import FakeClock
from devices.siteconfig import StaffConfig

STAFF = [
    StaffConfig(id="nurse-li", name="李护士", pin_hash=hash_pin("1234", iterations=1000)),
    StaffConfig(id="nurse-wang", name="王护士", pin_hash=hash_pin("2345", iterations=1000)),
]


def make(clock: FakeClock | None = None) -> tuple[StaffAuth, FakeClock]:
    clock = clock or FakeClock()
    return StaffAuth(STAFF, b"k" * 32, clock), clock


def test_the_right_pin_gives_a_token_that_names_the_staff_member():
    auth, _ = make()
    s = auth.login("nurse-li", "1234")
    assert s.name == "李护士" and auth.verify(s.token) == "nurse-li"
    assert auth.staff() == [
        {"id": "nurse-li", "name": "李护士"},
        {"id": "nurse-wang", "name": "王护士"},
    ]


def test_wrong_pin_or_unknown_staff_is_refused():
    auth, _ = make()
    for staff_id, pin in (("nurse-li", "4321"), ("nobody", "1234"), ("nurse-wang", "1234")):
        with pytest.raises(LoginError) as e:
            auth.login(staff_id, pin)
        assert e.value.status == 401


def test_five_wrong_pins_lock_that_staff_id_for_five_minutes():
    auth, clock = make()
    for _ in range(5):
        with pytest.raises(LoginError):
            auth.login("nurse-li", "0000")
    with pytest.raises(LoginError) as e:
        auth.login("nurse-li", "1234")  # even the right PIN
    assert e.value.status == 429
    assert auth.login("nurse-wang", "2345").staff_id == "nurse-wang"  # others unaffected
    clock.advance(301)
    assert auth.login("nurse-li", "1234").staff_id == "nurse-li"


def test_a_token_expires_after_the_shift_and_cannot_be_forged():
    auth, clock = make()
    token = auth.login("nurse-li", "1234").token
    s, body, sig = token.split(".")
    forged = ".".join((s, body.replace("A", "B") if "A" in body else body + "x", sig))
    assert auth.verify(forged) is None
    assert auth.verify("s.x.y") is None and auth.verify("not-a-token") is None
    other_key = StaffAuth(STAFF, b"z" * 32, clock)
    assert other_key.verify(token) is None
    clock.advance(12 * 3600 - 1)
    assert auth.verify(token) == "nurse-li"
    clock.advance(2)
    assert auth.verify(token) is None


def test_pin_hashes_are_salted_and_the_key_survives_a_restart(tmp_path):
    a, b = hash_pin("1234"), hash_pin("1234")
    assert a != b and pin_matches("1234", a) and pin_matches("1234", b)
    assert not pin_matches("1235", a)
    key = load_secret(tmp_path / "session.key")
    assert load_secret(tmp_path / "session.key") == key and len(key) == 32
    assert (tmp_path / "session.key").stat().st_mode & 0o077 == 0
