"""A resident's contacts in the site file (issue 16, point 2 and 8): `carewatch check-config`
names a contact with an invalid phone number by file and line, without repeating the
number (it may be most of a real one); numbers are dialled as E.164."""

from __future__ import annotations

from carewatch.cli import main
from devices.siteconfig import e164
from tests.home_escalation import SITE_YAML, write_site


def test_check_config_names_a_contact_with_an_invalid_phone(tmp_path, capsys):
    bad = SITE_YAML.replace('"138 0000 1234"', '"138 0000 12"')
    path = write_site(tmp_path, bad)
    assert main(["check-config", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:9: residents.0.contacts.0.phone" in err
    assert "not a phone number" in err
    assert "138 0000 12" not in err  # located by its line, not repeated
    capsys.readouterr()
    assert main(["check-config", str(write_site(tmp_path))]) == 0


def test_check_config_refuses_a_contact_listed_twice(tmp_path, capsys):
    twice = SITE_YAML.replace("{id: son,", "{id: daughter,")
    assert main(["check-config", str(write_site(tmp_path, twice))]) == 1
    assert "contacts: an id used twice" in capsys.readouterr().err


def test_numbers_as_written_become_e164():
    assert e164("138 0000 1234") == "+8613800001234"
    assert e164("0571-8800 0000") == "+8657188000000"
    assert e164("+86 139 0000 5678") == "+8613900005678"
    assert e164("+44 20 7946 0958") == "+442079460958"
    assert [e164(x) for x in ("12345", "138000012345", "+86 12", "call me")] == [None] * 4
