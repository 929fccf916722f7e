"""What a config value must be, checked in plain Python: IDs, aliases, XDM paths, data usage
labels, marketing action names and activation window bounds, and a window's bounds in seconds.

The models (model.py) check these through pydantic, and the quick check of a small config
(quick.py) calls the same functions without importing pydantic: one definition each. A value
that fails raises ``Refused``, which the models turn into pydantic's own custom error.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Literal, Protocol, Sequence, TypeVar


class _HasForm(Protocol):
    @property
    def label(self) -> str | None: ...
    @property
    def operator(self) -> str | None: ...
    @property
    def operands(self) -> Sequence[Any] | None: ...


_Expression = TypeVar("_Expression", bound=_HasForm)


class Refused(ValueError):
    """A value that is not what it must be: ``kind`` becomes the diagnostic's code (load.py),
    ``template`` with ``context`` its message, ``context["hint"]`` its hint."""

    def __init__(self, kind: str, template: str, context: dict[str, Any] | None = None) -> None:
        super().__init__(kind, template, context)
        self.kind = kind
        self.template = template
        self.context = context or {}

UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# a dotted path of XDM field names: no array indexes or wildcards (Adobe maps single values only)
XDM_PATH = re.compile(r"_?[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
MAX_ALIAS_LENGTH = 256
# what the settings file may make of a warning (cpcompile.yaml's diagnostics)
Level = Literal["off", "warning", "error"]
# CP148: a catalog exported longer ago than this many days is a warning
DEFAULT_CATALOG_MAX_AGE_DAYS = 30
# Data usage labels [LBL]: the core ones by name (case-sensitive in Adobe's evaluation), and an
# organisation's own as custom/<name>
CORE_LABELS = (
    *(f"C{n}" for n in range(1, 13)), "I1", "I2", "S1", "S2", "PSPD", "RHD",
)
LABEL = re.compile(r"C(?:[1-9]|1[0-2])|I[12]|S[12]|PSPD|RHD|custom/[A-Za-z0-9][A-Za-z0-9_.-]*")
ACTION_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


class CheckedIds(dict[str, str]):
    """Each ID checked so far, to its value: in lower case and interned, as an audience's ID is
    written once in its catalog and again in every destination that maps it, and at scale the
    copies were much of a run's memory. Most IDs of a large config are repeats (at xl, 20,000
    distinct among 242,000), and looking one up is a dict lookup with no Python call: only a new
    one is checked. Bounded, and emptied by ``forget_checked_ids``. A value that is not an ID
    raises ``refusal(kind, template, context)``: the models have pydantic's own error raised,
    straight from here, as a new ID's check is among the most frequent of a large config."""

    def __init__(self, refusal: Callable[[str, str, dict[str, Any]], Exception] = Refused) -> None:
        super().__init__()
        self.refusal = refusal

    def __missing__(self, value: str) -> str:
        if not UUID.fullmatch(value):
            raise self.refusal(
                "uuid", "'{value}' is not a UUID (expected 8-4-4-4-12 hex digits)", {"value": value}
            )
        if len(self) >= 1 << 16:
            self.clear()
        found = self[value] = sys.intern(value if value.islower() else value.lower())
        return found


_EVERY_CHECKED_IDS: list[CheckedIds] = []


def register_checked_ids(ids: CheckedIds) -> None:
    """Has ``forget_checked_ids`` empty ``ids`` too (the models keep a record of their own)."""
    _EVERY_CHECKED_IDS.append(ids)


_CHECKED_IDS = CheckedIds()
register_checked_ids(_CHECKED_IDS)
# an ID in lower case (interned); a dict lookup for an ID seen before
lower_uuid = _CHECKED_IDS.__getitem__


def forget_checked_ids() -> None:
    """Lets go of the IDs checked so far (the models keep theirs)."""
    for ids in _EVERY_CHECKED_IDS:
        ids.clear()


def datastream_key(reference: str) -> str:
    """How a datastream is looked up by a destination's ``datastream``: an id in lower case, like
    every id; a file name as it is written."""
    return reference.lower() if UUID.fullmatch(reference) else reference


def alias(value: str) -> str:
    problem = None
    if not value.strip():
        problem = "the integration alias is empty"
    elif value != value.strip():
        problem = "the integration alias has leading or trailing spaces"
    elif any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in value):
        problem = "the integration alias contains control characters"
    elif len(value) > MAX_ALIAS_LENGTH:
        problem = f"the integration alias is longer than {MAX_ALIAS_LENGTH} characters"
    if problem:
        raise Refused("alias", problem + " (it is sent to the page as a JSON object name)")
    return value


def xdm_path(value: str) -> str:
    if not XDM_PATH.fullmatch(value):
        raise Refused(
            "xdm_path",
            "'{value}' is not a single-valued XDM path such as 'person.name.firstName' "
            "(dot-separated field names; array items and wildcards cannot be mapped)",
            {"value": value},
        )
    return value


def label(value: str) -> str:
    if LABEL.fullmatch(value):
        return value
    bare = value.removeprefix("core/")
    close = next((core for core in CORE_LABELS if core.lower() == bare.lower()), None)
    if close is None and bare.lower().startswith("custom"):
        close = "custom/" + re.sub(r"[^A-Za-z0-9_.-]", "", bare[6:].lstrip("/:_ -")) if bare[6:].strip("/:_ -") else None
    hint = (
        f"did you mean '{close}'?" if close
        else "core labels are C1 to C12, I1, I2, S1, S2, PSPD and RHD (case-sensitive); "
        "an organisation's own labels are written custom/<name>"
    )
    raise Refused("label", "'{value}' is not a data usage label", {"value": value, "hint": hint})


def action_name(value: str) -> str:
    if not ACTION_NAME.fullmatch(value):
        raise Refused(
            "wrong_value", "'{value}' is not a marketing action name (a letter, then letters, digits, _ or -)",
            {"value": value},
        )
    return value


# The two forms a window bound may take: a calendar date, or a date and a time of day in whole
# seconds, with an optional UTC offset. Everything else ISO 8601 allows is refused by name below.
_INSTANT = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})"
    r"(?:T(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2})(?::(?P<second>[0-9]{2}))?"
    r"(?P<offset>Z|(?P<sign>[+-])(?P<off_h>[0-9]{2}):(?P<off_m>[0-9]{2}))?)?"
)
_WHEN_FORMS = "a date (2026-12-01) or a date and time (2026-12-01T08:00:00Z, 2026-12-01T09:00+01:00)"
_D = "[0-9]"
# Other ISO 8601 forms, each refused with the value written the accepted way (when it can be)
_REFUSED_WHEN: tuple[tuple[re.Pattern[str], str, Callable[[re.Match[str]], str]], ...] = (
    (re.compile(rf"(?P<keep>{_D}{{4}}-{_D}{{2}}-{_D}{{2}}T{_D}{{2}}:{_D}{{2}}:{_D}{{2}})[.,]{_D}+(?P<rest>.*)"),
     "has fractional seconds", lambda m: f"write whole seconds: {m['keep']}{m['rest']}"),
    (re.compile(rf"(?P<date>{_D}{{4}}-{_D}{{2}}-{_D}{{2}})[ \t]+(?P<time>{_D}{{2}}:{_D}{{2}}.*)"),
     "separates the date and the time with a space", lambda m: f"write 'T' between them: {m['date']}T{m['time']}"),
    (re.compile(rf"(?P<y>{_D}{{4}})-?W(?P<w>{_D}{{2}})(?:-?(?P<d>{_D}))?(?P<rest>T.*)?"), "is an ISO week date",
     lambda m: "write the calendar date: "
     + date.fromisocalendar(int(m["y"]), int(m["w"]), int(m["d"] or 1)).isoformat() + (m["rest"] or "")),
    (re.compile(rf"(?P<y>{_D}{{4}})-?(?P<n>{_D}{{3}})(?P<rest>T.*)?"), "is an ISO ordinal date (year and day of the year)",
     lambda m: "write the calendar date: " + _ordinal_day(m["y"], m["n"]) + (m["rest"] or "")),
    (re.compile(rf"(?P<y>{_D}{{4}})(?P<mo>{_D}{{2}})(?P<d>{_D}{{2}})"
                rf"(?:T(?P<h>{_D}{{2}})(?P<mi>{_D}{{2}})(?P<s>{_D}{{2}})?(?P<z>Z|[+-]{_D}{{2}}(?:{_D}{{2}})?)?)?"),
     "is in ISO 8601 basic format (without separators)", lambda m: "write it with '-' and ':': " + _extended(m)),
)


def _ordinal_day(year: str, day: str) -> str:
    found = date(int(year), 1, 1) + timedelta(days=int(day) - 1)
    if found.year != int(year):
        raise ValueError(f"{year} has no day {day}")
    return found.isoformat()


def _extended(m: re.Match[str]) -> str:
    out = f"{m['y']}-{m['mo']}-{m['d']}"
    if m["h"]:
        out += f"T{m['h']}:{m['mi']}" + (f":{m['s']}" if m["s"] else "")
        zone = m["z"] or ""
        out += zone if len(zone) < 4 else f"{zone[:3]}:{zone[3:]}"
    return out


def when(value: object) -> date | datetime:
    """A whole UTC day (``2026-12-01``) or an instant (``2026-12-01T08:00:00Z``; no offset = UTC).

    Only these two forms are accepted: fractional seconds, week and ordinal dates, the basic
    format and a space between date and time are refused with a message that says what to write.
    """
    if isinstance(value, str) and (match := _INSTANT.fullmatch(value)):
        return _parse_when(value, match)
    text = value if isinstance(value, str) else None
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**16:
        text = str(value)  # an unquoted 20261201 is an integer: name its form too
    for pattern, problem, fix in _REFUSED_WHEN:
        if text is not None and (refused := pattern.fullmatch(text)):
            try:
                hint = fix(refused)
            except (ValueError, OverflowError):  # no such week or day: the form is still the problem
                hint = "write a date as 2026-12-01, a date and time as 2026-12-01T08:00:00Z"
            raise Refused("when", "'{value}' " + problem, {"value": text, "hint": hint})
    shown = value if isinstance(value, str) else json.dumps(value, default=str)[:80]
    raise Refused("when", "'{value}' is not " + _WHEN_FORMS, {"value": shown})


def _parse_when(text: str, match: re.Match[str]) -> date | datetime:
    try:
        day = date.fromisoformat(match["date"])
        if match["hour"] is None:
            return day
        offset = timedelta(0)
        if match["sign"]:
            hours, minutes = int(match["off_h"]), int(match["off_m"])
            if hours > 23 or minutes > 59:
                raise ValueError("UTC offset out of range (at most ±23:59)")
            offset = (1 if match["sign"] == "+" else -1) * timedelta(hours=hours, minutes=minutes)
        return datetime(
            day.year, day.month, day.day, int(match["hour"]), int(match["minute"]), int(match["second"] or 0),
            tzinfo=timezone(offset),
        )
    except ValueError as err:
        raise Refused(
            "when", "'{value}' is not a valid date or time: {problem}", {"value": text, "problem": str(err)}
        ) from None



def expression_form(expression: _Expression) -> _Expression:
    """A policy's ``deny`` expression as it must be: a label, or an operator with operands."""
    label, operator, operands = expression.label, expression.operator, expression.operands
    if label is not None and (operator is not None or operands is not None):
        raise Refused("deny", "an expression is either a label or an operator with operands, not both")
    if label is None and (operator is None or not operands):
        missing = "operator" if operator is None else "operands"
        raise Refused(
            "deny", "an expression needs 'label', or 'operator' (AND, OR) and 1 or more 'operands' "
            "(this one has no {missing})", {"missing": missing},
        )
    return expression


_EPOCH_DAY = date(1970, 1, 1).toordinal()
_DAY = 86_400


def window_bounds(start: date | datetime | None, end: date | datetime | None) -> tuple[int | None, int | None]:
    """An activation window in Unix seconds: a start day begins at 00:00 UTC, an end day is
    inclusive (the window closes at the next midnight), an instant is taken as it is.

    Computed on day numbers, not datetimes, so that every accepted value has bounds: the end of
    ``9999-12-31`` is past what ``datetime`` can hold. Sub-second parts (which the config refuses)
    would widen the window to whole seconds, never narrow it.
    """
    return (
        None if start is None else _unix_seconds(start, 0, round_up=False),
        None if end is None else _unix_seconds(end, 1, round_up=True),
    )


def _unix_seconds(moment: date | datetime, days_after: int, *, round_up: bool) -> int:
    if not isinstance(moment, datetime):
        return (moment.toordinal() - _EPOCH_DAY + days_after) * _DAY
    offset = moment.utcoffset() or timedelta(0)
    seconds = (moment.toordinal() - _EPOCH_DAY) * _DAY + moment.hour * 3600 + moment.minute * 60 + moment.second
    seconds -= offset.days * _DAY + offset.seconds
    return seconds + (1 if round_up and moment.microsecond else 0)
