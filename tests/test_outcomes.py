"""The outcome and contact notes the console writes are the ones the report reads back."""

from __future__ import annotations

import pytest

from alerting.outcomes import (
    OUTCOMES,
    contact_note,
    outcome_note,
    parse_contact_note,
    parse_outcome_note,
)


def test_every_outcome_reads_back_with_or_without_text() -> None:
    for code in OUTCOMES:
        assert parse_outcome_note(outcome_note(code)) == code
        assert parse_outcome_note(outcome_note(code, "子女 20 分钟到")) == code


def test_closing_outcomes_are_the_settled_ones() -> None:
    assert {c for c, o in OUTCOMES.items() if o.closes} == {"false_alarm", "solved_by_phone"}


def test_unknown_codes_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown outcome 'lunch'"):
        outcome_note("lunch")
    with pytest.raises(ValueError, match="unknown contact result"):
        contact_note("daughter", "busy")
    assert parse_outcome_note("lunch: later") is None


def test_contact_notes_read_back() -> None:
    assert parse_contact_note(contact_note("daughter", "no_answer")) == ("daughter", "no_answer")
    assert parse_contact_note("daughter") is None
    with_text = contact_note("son", "reached", "会在 20 分钟到")
    assert parse_contact_note(with_text) == ("son", "reached")
