"""What became of a home call, as data: the call-centre operator's outcome codes and the
results of a contact attempt.

The console records them, the audit log keeps them (who and when), the escalation stops on
them and the report counts them; all four read this one table so that a code added here
shows everywhere. Labels live in the catalog (`outcome.<code>`, `contact_result.<code>`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

# audit actions the console writes; the report reads exactly these
OUTCOME_ACTION: Final = "outcome"
CONTACT_ACTION: Final = "contact"


@dataclass(frozen=True, slots=True)
class Outcome:
    """One outcome code. `closes`: the matter is settled (the call is resolved); otherwise help
    is on the way and the alert stays acknowledged until someone resolves it. `help_sent`: a
    person or service was sent to the home (the report counts these apart)."""

    code: str
    closes: bool
    help_sent: bool


OUTCOMES: Final[Mapping[str, Outcome]] = MappingProxyType(
    {
        o.code: o
        for o in (
            Outcome("false_alarm", closes=True, help_sent=False),
            Outcome("solved_by_phone", closes=True, help_sent=False),
            Outcome("family_on_way", closes=False, help_sent=True),
            Outcome("community_sent", closes=False, help_sent=True),
            Outcome("ambulance_120", closes=False, help_sent=True),
            Outcome("fire_119", closes=False, help_sent=True),
        )
    }
)

# the result of one call to a contact; `reached` is a human contact (the report's "time to
# first human contact" counts the first one, or the operator's acknowledgement)
CONTACT_RESULTS: Final = ("reached", "no_answer")


def outcome_note(code: str, text: str | None = None) -> str:
    """The audit note of an outcome: the code, then the operator's free text if any."""
    if code not in OUTCOMES:
        raise ValueError(f"unknown outcome {code!r}; known: {', '.join(OUTCOMES)}")
    return code if not text else f"{code}: {text}"


def parse_outcome_note(note: str | None) -> str | None:
    """The outcome code of an audit note written by `outcome_note`, None if it holds none."""
    if not note:
        return None
    code = note.split(":", 1)[0].strip()
    return code if code in OUTCOMES else None


def contact_note(contact_id: str, result: str, text: str | None = None) -> str:
    """The audit note of a contact attempt: '<contact id> <reached|no_answer>', then the
    operator's free text if any ('daughter no_answer: line busy')."""
    if result not in CONTACT_RESULTS:
        raise ValueError(f"unknown contact result {result!r}; known: {', '.join(CONTACT_RESULTS)}")
    note = f"{contact_id} {result}"
    return note if not text else f"{note}: {text}"


def parse_contact_note(note: str | None) -> tuple[str, str] | None:
    """(contact id, result) of an audit note written by `contact_note`, None otherwise."""
    parts = (note or "").split(":", 1)[0].split()
    if len(parts) != 2 or parts[1] not in CONTACT_RESULTS:
        return None
    return parts[0], parts[1]
