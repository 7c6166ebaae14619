"""The API's request bodies, apart from the domain models (alerting/items.py): what a
client may send, with limits and descriptions that show in /api/docs."""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

OVERRIDE_REASON_MIN = 4  # characters: a reason a reader of the audit log can follow


class OperatorAction(BaseModel):
    by: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="staff member id; required with the API token, taken from a session",
    )
    note: str | None = Field(None, max_length=500)


class ResolveAction(OperatorAction):
    override: bool = Field(
        False,
        description="a supervisor's remote reset of a call that is reset at the bedside"
        " (its rule says `reset: bedside`); `note` is then the reason, required",
    )

    @model_validator(mode="after")
    def _reason(self) -> ResolveAction:
        if self.override and len((self.note or "").strip()) < OVERRIDE_REASON_MIN:
            raise ValueError(
                f"an override needs its reason in `note` (at least {OVERRIDE_REASON_MIN}"
                " characters)"
            )
        return self


class OutcomeAction(OperatorAction):
    code: str = Field(
        min_length=1,
        max_length=32,
        description="false_alarm, solved_by_phone (both resolve the call), family_on_way,"
        " community_sent, ambulance_120, fire_119 (alerting/outcomes.py)",
    )


class ContactAction(OperatorAction):
    contact: str = Field(
        min_length=1, max_length=32, description="the contact's id (the call's card lists them)"
    )
    result: str = Field(min_length=1, max_length=16, description="reached or no_answer")


class Dismissal(OperatorAction):
    note: str = Field(min_length=2, max_length=500, description="why it was a false alarm")


class Login(BaseModel):
    staff_id: str = Field(min_length=1, max_length=32)
    pin: str = Field(min_length=4, max_length=12, pattern=r"^[0-9]+$")


class TimedAction(OperatorAction):
    minutes: float = Field(60, ge=1, description="how long")


class ShelveAction(TimedAction):
    minutes: float = Field(60, ge=1, le=24 * 60, description="shelved for (at most 24 h)")


class MaintenanceAction(TimedAction):
    minutes: float = Field(60, ge=1, le=30 * 24 * 60, description="out of service for")
