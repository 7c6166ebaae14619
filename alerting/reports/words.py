"""The report's words for one reader: texts from the catalog (`report.*` for the report's
own wording, the shared `rule.*`, `priority.*` and `device_type.*` where the screen says
the same) and values written the way that reader reads them (times in the site's zone,
durations, places, people).

The templates get one `Words` as their vocabulary; its methods return plain text, which
the template escapes. Residents are never named: places are floor, room and bed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from alerting.ruleset import RuleSet
from devices.catalog import Catalog
from devices.profiles import DEVICE_TYPES
from devices.registry import Registry

DASH = "—"  # no value, in every language
NATIVE = "zh"  # the language the site file writes names of shifts and staff in


class Words:
    """Texts and formatted values for one report in one language."""

    def __init__(
        self,
        catalog: Catalog,
        lang: str,
        registry: Registry,
        rules: RuleSet,
        tz: ZoneInfo,
        shift_en: Mapping[str, str | None],
    ) -> None:
        self.catalog = catalog
        self.lang = catalog.lang(lang)
        # the site file names shifts and staff in Chinese: other readers get the English
        # shift name and the staff id beside a name they may not read
        self.native = self.lang == NATIVE
        self.rules = rules
        self.tz = tz
        site = registry.site
        self.floors = {f.id: f.name or f.id for f in site.floors}
        self.rooms = {r.id: r.name for f in site.floors for r in f.rooms}
        self.staff = {s.id: s.name for s in site.staff}
        self.shift_en = shift_en

    # --- texts ---------------------------------------------------------------------------

    def t(self, key: str, /, **values: object) -> str:
        """The report's own text `report.<key>`, placeholders filled."""
        return self.catalog.text(self.lang, f"report.{key}", **values)

    def join(self, items: list[str]) -> str:
        """A list in running text (、 in Chinese, a comma in English)."""
        return self.t("list_sep").join(items)

    def tally(self, counts: Mapping[str, int], label: Callable[[str], str]) -> str:
        """Counts as running text, each key as `label` names it: "room 204 ×2, room 305 ×1"."""
        return self.join([f"{label(k)} ×{n}" for k, n in counts.items()])

    def rule(self, name: str) -> str:
        """A rule's title in the reader's language (RuleSet.title)."""
        return self.rules.title(name, self.lang)

    def prio(self, p: str) -> str:
        """A priority (or "all", the total row) as the screen names it."""
        if p == "all":
            return self.t("all")
        got = self.catalog.get(self.lang, f"priority.{p}")
        return p if got is None else got

    def dtype(self, name: str | None) -> str:
        """A device type's name, capitalised as a table cell starts."""
        dt = DEVICE_TYPES.get(name or "")
        if dt is None:
            return name or DASH
        label = dt.label(self.lang)
        return label[:1].upper() + label[1:]

    def pick(self, table: str, key: str | None) -> str:
        """`report.<table>.<key>` (answers, states, targets, fields); the key itself when the
        catalog has no such entry, so an unknown value still shows."""
        if key is None:
            return DASH
        got = self.catalog.get(self.lang, f"report.{table}.{key}")
        return key if got is None else got

    def outcomes(self, codes: list[str]) -> str:
        """A home call's outcome codes (alerting/outcomes.py) in running text; a dash for none."""
        return self.join([self.pick("outcome", c) for c in codes]) or DASH

    def shift(self, name: str | None) -> str:
        """A shift in a cell: its English name for other readers when the site gives one."""
        if name is None:
            return DASH
        en = self.shift_en.get(name)
        return name if self.native or not en else en

    def shift_name(self, name: str, name_en: str | None) -> str:
        """A shift as a row heading: both names for other readers ("Night (夜班)")."""
        return name if self.native or not name_en else f"{name_en} ({name})"

    # --- values --------------------------------------------------------------------------

    def time(self, ms: int | None, seconds: bool = False) -> str:
        """Epoch ms as the site's month-day and time, to the second if asked; a dash for None."""
        if ms is None:
            return DASH
        return self.local(ms, "%m-%d %H:%M:%S" if seconds else "%m-%d %H:%M")

    def full_time(self, ms: int) -> str:
        """Epoch ms as the site's full date and time (headings, periods)."""
        return self.local(ms, "%Y-%m-%d %H:%M")

    def local(self, ms: int, fmt: str) -> str:
        """Epoch ms as the site's wall-clock time."""
        return datetime.fromtimestamp(ms / 1000, self.tz).strftime(fmt)

    def dur(self, s: float | None) -> str:
        """Seconds as a reader says them: 45 s, 3 min 20 s, 2 h 5 min."""
        if s is None:
            return DASH
        if s < 120:
            return self.t("unit.s", n=f"{round(s, 1):g}")
        if s < 3600:
            m, sec = divmod(round(s), 60)
            return self.t("unit.min", n=m) + (" " + self.t("unit.s", n=sec) if sec else "")
        h, m = divmod(round(s / 60), 60)
        return self.t("unit.h", n=h) + (" " + self.t("unit.min", n=m) if m else "")

    def pct(self, v: float | None, digits: int = 1) -> str:
        """A share 0..1 as a percentage with `digits` decimals; a dash for None."""
        return DASH if v is None else f"{v * 100:.{digits}f}%"

    def num(self, v: float | None, unit: str = "") -> str:
        """A number rounded to 3 decimals, with its unit; a dash for None."""
        if v is None:
            return DASH
        return f"{round(v, 3):g} {unit}".strip()

    def fixed(self, v: float, digits: int = 2) -> str:
        """A number with exactly `digits` decimals."""
        return f"{v:.{digits}f}"

    def room(self, room: str | None) -> str:
        """A room by its name in the site file, else the catalog's `place.room` with its id; a dash
        for None."""
        if room is None:
            return DASH
        return self.rooms.get(room) or self.t("place.room", room=room)

    def place(self, floor: str | None, room: str | None, bed: str | None = None) -> str:
        """Floor · room · bed, the floor left out when the room's name starts with it."""
        parts = []
        room_text = self.room(room) if room is not None else None
        if floor is not None:
            floor_text = self.floors.get(floor, floor)
            if room_text is None or not room_text.startswith(floor_text):
                parts.append(floor_text)
        if room_text is not None:
            parts.append(room_text)
        if bed:
            parts.append(self.t("place.bed", bed=bed))
        return " · ".join(parts) or self.t("system")

    def who(self, by: str | None) -> str:
        """Who acted: a staff name (with the id for other readers), the device itself (a
        reset at the bedside), or the watch."""
        if by is None:
            return DASH
        if by.startswith("device:"):
            return self.t("who.device")
        if by == "system:maintenance_expired":
            return self.t("who.expired")
        if by.startswith("system:"):
            return self.t("system")
        name = self.staff.get(by)
        if name is None:
            return by
        return name if self.native else f"{name} ({by})"

    def how(self, answer: str, by: str | None) -> str:
        """How a wait was answered, and by whom unless the answer says it (a reset)."""
        if answer == "reset" or by is None or by.startswith("device:"):
            return self.pick("answer", answer)
        return f"{self.pick('answer', answer)} · {self.who(by)}"

    def why(self, note: str) -> str:
        """The fire policy's reason for a forward (alerting/firepolicy.py), in the reader's
        words; an unknown reason as written."""
        fixed = {
            "not acknowledged in time": "not_acked",
            "not resolved in time": "not_resolved",
            "confirmed by staff": "by_staff",
        }
        if note in fixed:
            return self.t(f"fire.why.{fixed[note]}")
        for prefix, key in (("confirmed: ", "confirmed"), ("confirmed by ", "confirmed_by")):
            if note.startswith(prefix):
                return self.t(f"fire.why.{key}", rule=self.rule(note[len(prefix) :]))
        return note

    @staticmethod
    def battery(value: str | None) -> str:
        """The alert's value `battery_pct=12` as `12%`; an event (low_battery) as it is."""
        if value and value.startswith("battery_pct="):
            return value.split("=", 1)[1] + "%"
        return value or DASH
