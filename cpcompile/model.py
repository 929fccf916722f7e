"""The shape of each config file, as pydantic models (frozen, unknown keys refused).

Only what one file can check on its own lives here; rules that need other files are in
``rules.py``. Custom error types (``uuid``, ``alias``, ``xdm_path``, ``when``) let the schema
stage give them their own diagnostic codes.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import date, datetime, timedelta, timezone
from typing import Annotated, Any, Callable, Literal, Union

from pydantic import (
    AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictInt, StringConstraints,
    WithJsonSchema, model_validator,
)
from pydantic.dataclasses import dataclass
from pydantic_core import PydanticCustomError

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# a dotted path of XDM field names: no array indexes or wildcards (Adobe maps single values only)
_XDM_PATH = re.compile(r"_?[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
MAX_ALIAS_LENGTH = 256
# Data usage labels [LBL]: the core ones by name (case-sensitive in Adobe's evaluation), and an
# organisation's own as custom/<name>
CORE_LABELS = (
    *(f"C{n}" for n in range(1, 13)), "I1", "I2", "S1", "S2", "PSPD", "RHD",
)
_LABEL = re.compile(r"C(?:[1-9]|1[0-2])|I[12]|S[12]|PSPD|RHD|custom/[A-Za-z0-9][A-Za-z0-9_.-]*")
ACTION_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


class _CheckedIds(dict[str, str]):
    """Each ID checked so far, to its value: in lower case and interned, as an audience's ID is
    written once in its catalog and again in every destination that maps it, and at scale the
    copies were much of a run's memory. Most IDs of a large config are repeats (at xl, 20,000
    distinct among 242,000), and looking one up is a dict lookup with no Python call: only a new
    one is checked. Bounded, and emptied by ``forget_checked_ids``."""

    def __missing__(self, value: str) -> str:
        if not _UUID.fullmatch(value):
            raise PydanticCustomError(
                "uuid", "'{value}' is not a UUID (expected 8-4-4-4-12 hex digits)", {"value": value}
            )
        if len(self) >= 1 << 16:
            self.clear()
        found = self[value] = sys.intern(value if value.islower() else value.lower())
        return found


_CHECKED_IDS = _CheckedIds()
_uuid = _CHECKED_IDS.__getitem__


def forget_checked_ids() -> None:
    """Lets go of the IDs checked so far (the models keep theirs)."""
    _CHECKED_IDS.clear()


def datastream_key(reference: str) -> str:
    """How a datastream is looked up by a destination's ``datastream``: an id in lower case, like
    every id; a file name as it is written."""
    return reference.lower() if _UUID.fullmatch(reference) else reference


def _alias(value: str) -> str:
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
        raise PydanticCustomError("alias", problem + " (it is sent to the page as a JSON object name)")
    return value


def _xdm_path(value: str) -> str:
    if not _XDM_PATH.fullmatch(value):
        raise PydanticCustomError(
            "xdm_path",
            "'{value}' is not a single-valued XDM path such as 'person.name.firstName' "
            "(dot-separated field names; array items and wildcards cannot be mapped)",
            {"value": value},
        )
    return value


def _label(value: str) -> str:
    if _LABEL.fullmatch(value):
        return value
    bare = value.removeprefix("core/")
    close = next((label for label in CORE_LABELS if label.lower() == bare.lower()), None)
    if close is None and bare.lower().startswith("custom"):
        close = "custom/" + re.sub(r"[^A-Za-z0-9_.-]", "", bare[6:].lstrip("/:_ -")) if bare[6:].strip("/:_ -") else None
    hint = (
        f"did you mean '{close}'?" if close
        else "core labels are C1 to C12, I1, I2, S1, S2, PSPD and RHD (case-sensitive); "
        "an organisation's own labels are written custom/<name>"
    )
    raise PydanticCustomError("label", "'{value}' is not a data usage label", {"value": value, "hint": hint})


def _action_name(value: str) -> str:
    if not ACTION_NAME.fullmatch(value):
        raise PydanticCustomError(
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


def _when(value: object) -> date | datetime:
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
            raise PydanticCustomError("when", "'{value}' " + problem, {"value": text, "hint": hint})
    shown = value if isinstance(value, str) else json.dumps(value, default=str)[:80]
    raise PydanticCustomError("when", "'{value}' is not " + _WHEN_FORMS, {"value": shown})


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
        raise PydanticCustomError(
            "when", "'{value}' is not a valid date or time: {problem}", {"value": text, "problem": str(err)}
        ) from None


# What editors see (docs/schemas/): the same definitions as the validators above, written as
# JSON Schema patterns (ECMA-262 and Python read them alike), so an editor refuses what the CLI
# refuses. tests/test_schema_parity.py holds the two together.
_CONTROL = r"\u0000-\u001f\u007f-\u009f"
# what str.strip() removes besides control characters
_SPACE = r" \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_ALIAS_SCHEMA = {
    "type": "string", "minLength": 1, "maxLength": MAX_ALIAS_LENGTH,
    "pattern": f"^[^{_CONTROL}{_SPACE}](?:[^{_CONTROL}]*[^{_CONTROL}{_SPACE}])?$",
}
_DAY_PATTERN = "[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
_WHEN_SCHEMA = {
    "type": ["string", "null"],
    "pattern": f"^{_DAY_PATTERN}(?:T(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9])?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?)?$",
    # a bare date is also checked against the calendar (2026-02-30 does not exist)
    "if": {"type": "string", "pattern": f"^{_DAY_PATTERN}$"},
    "then": {"format": "date"},
}


def _when_schema(schema: dict[str, Any]) -> None:
    """Replaces pydantic's anyOf(date, date-time, null), which accepts other ISO forms and
    answers a bad value with "is not of type 'null'"."""
    del schema["anyOf"]
    schema.update(_WHEN_SCHEMA)


Text = Annotated[str, StringConstraints(strict=True, min_length=1, strip_whitespace=False)]
Uuid = Annotated[
    str, StringConstraints(strict=True), AfterValidator(_uuid),
    WithJsonSchema({"type": "string", "pattern": f"^{_UUID.pattern}$"}),
]
Alias = Annotated[str, StringConstraints(strict=True), AfterValidator(_alias), WithJsonSchema(_ALIAS_SCHEMA)]
XdmPath = Annotated[
    str, StringConstraints(strict=True), AfterValidator(_xdm_path),
    WithJsonSchema({"type": "string", "pattern": f"^{_XDM_PATH.pattern}$"}),
]
When = Annotated[Union[date, datetime], BeforeValidator(_when)]
Label = Annotated[
    str, StringConstraints(strict=True), AfterValidator(_label),
    WithJsonSchema({"type": "string", "pattern": f"^(?:{_LABEL.pattern})$"}),
]
Labels = Annotated[list[Label], Field(description="Data usage labels: C1-C12, I1, I2, S1, S2, PSPD, RHD, custom/<name>.")]
ActionName = Annotated[
    str, StringConstraints(strict=True), AfterValidator(_action_name),
    WithJsonSchema({"type": "string", "pattern": f"^{ACTION_NAME.pattern}$"}),
]
DatastreamRef = Annotated[str, StringConstraints(strict=True, min_length=1), AfterValidator(datastream_key)]
TargetName = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=MAX_ALIAS_LENGTH)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=False)


class Datastream(_Model):
    """A Data Collection datastream (``datastreams/*.yaml``)."""

    id: Uuid = Field(description="The datastream ID that pages send (Web SDK `datastreamId`).")
    name: Text
    description: Text | None = None
    sandbox: Text = Field(description="The sandbox the datastream belongs to; guardrails count per sandbox.")
    access: Literal["mixed", "authenticated-only"] = Field(
        "mixed", description="Access type: mixed authentication, or authenticated calls only."
    )
    edge_segmentation: StrictBool = Field(False, description="Adobe Experience Platform service: Edge Segmentation.")
    personalization_destinations: StrictBool = Field(
        False, description="Adobe Experience Platform service: Personalization Destinations."
    )
    ajo: StrictBool = Field(False, description="Adobe Journey Optimizer service; needs edge_segmentation.")
    labels: Labels = Field(
        default_factory=list,
        description="Data usage labels of the datastream's schema; a sensitive one (RHD, PSPD, S1, S2) bars "
        "every edge destination from it.",
    )


class AttributeMapping(_Model):
    source: XdmPath = Field(description="Profile attribute, a single-valued XDM path.")
    target: TargetName = Field(description="Name of the attribute in the response.")


# The most numerous entry of a config (one per audience and destination), so a slotted
# dataclass rather than a model: pydantic validates it alike, in half the time, and each one
# takes about a seventh of a model's memory (no ``__dict__``, no set of the fields given). No
# docstring: it would become the published schema's description.
@dataclass(frozen=True, slots=True, config=ConfigDict(extra="forbid", str_strip_whitespace=False))
class AudienceMapping:
    id: Uuid = Field(description="Audience (segment definition) ID.")
    start: When | None = Field(
        None, description="First day (UTC) or instant the audience is returned.", json_schema_extra=_when_schema
    )
    end: When | None = Field(
        None, description="Last day (UTC, inclusive) or instant (exclusive).", json_schema_extra=_when_schema
    )


class Destination(_Model):
    """A Custom Personalization destination connection and its activated audiences."""

    id: Uuid = Field(description="The destination connection ID (`destinationId` in responses).")
    name: Text
    description: Text | None = None
    alias: Alias = Field(description="Integration alias: the name pages filter `results.destinations` on.")
    datastream: DatastreamRef = Field(description="A datastream file's name (without .yaml) or its ID.")
    marketing_actions: list[Text] = Field(
        default_factory=list,
        description="Marketing actions chosen when connecting: core ones (onsitePersonalization, ...) or custom "
        "ones declared in policies/.",
    )
    attributes: list[AttributeMapping] = Field(
        default_factory=list, description="Profile attributes returned to authenticated calls."
    )
    audiences: list[AudienceMapping] = Field(default_factory=list)


class MergePolicy(_Model):
    id: Uuid
    name: Text
    active_on_edge: StrictBool = False
    attribute_merge: Literal["timestamp_ordered", "dataset_precedence"] = Field(
        "timestamp_ordered", description="How profile fragments are merged: newest first, or by dataset order."
    )
    dataset_order: list[Text] = Field(
        default_factory=list, description="Datasets by precedence, 1 to 50 (dataset_precedence only)."
    )
    identity_graph: Literal["none", "pdg"] = Field(
        "none", description="Identity graph: none, or pdg (private graph; its audiences get label C10)."
    )


class CatalogAudience(_Model):
    id: Uuid
    name: Text
    namespace: Literal["ups", "CustomerAudienceUpload"] = "ups"
    merge_policy: Uuid | None = Field(None, description="ID of a merge policy in this sandbox's catalog.")
    evaluation: Literal["edge", "streaming", "batch"] | None = None
    ttl_days: Annotated[StrictInt, Field(ge=1, le=90)] | None = Field(
        None, description="Days an uploaded audience's memberships live, 1 to 90 (CustomerAudienceUpload only)."
    )
    labels: Labels = Field(default_factory=list)
    datasets: list[Text] = Field(
        default_factory=list, description="Datasets (of this catalog's datasets) whose labels the audience inherits."
    )


class Dataset(_Model):
    name: Text
    labels: Labels = Field(default_factory=list)


class FieldLabels(_Model):
    path: XdmPath = Field(description="A profile field, as attributes map it (person.name.firstName).")
    labels: Labels = Field(default_factory=list)
    datasets: list[Text] = Field(
        default_factory=list, description="Datasets (of this catalog's datasets) whose labels the field inherits."
    )


class Catalog(_Model):
    """Audiences, merge policies, datasets and labelled fields of one sandbox (``audiences/*.yaml``)."""

    sandbox: Text
    exported_at: When | None = Field(
        None, description="When the catalog was exported from Adobe (cpcompile import catalog): a date or instant; "
        "validate warns when it is older than the catalog age limit (CP148).", json_schema_extra=_when_schema,
    )
    merge_policies: list[MergePolicy] = Field(default_factory=list)
    audiences: list[CatalogAudience] = Field(default_factory=list)
    datasets: list[Dataset] = Field(default_factory=list)
    fields: list[FieldLabels] = Field(default_factory=list)


def _expression_schema(schema: dict[str, Any]) -> None:
    """Either form, never both, no nulls, at least one operand: what ``Expression._one_form`` checks."""
    props = schema["properties"]
    props["label"] = props["label"]["anyOf"][0]
    props["operator"] = props["operator"]["anyOf"][0]
    props["operands"] = {**props["operands"]["anyOf"][0], "minItems": 1}
    for key in ("label", "operator", "operands"):
        props[key].pop("default", None)
    schema["oneOf"] = [
        {"required": ["label"], "not": {"anyOf": [{"required": ["operator"]}, {"required": ["operands"]}]}},
        {"required": ["operator", "operands"], "not": {"required": ["label"]}},
    ]


class Expression(_Model):
    """A policy's ``deny``: a label, or an AND / OR of expressions [POLAPI]."""

    model_config = ConfigDict(json_schema_extra=lambda schema: _expression_schema(schema))

    label: Label | None = None
    operator: Literal["AND", "OR"] | None = None
    operands: list[Expression] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Expression:
        if self.label is not None and (self.operator is not None or self.operands is not None):
            raise PydanticCustomError("deny", "an expression is either a label or an operator with operands, not both")
        if self.label is None and (self.operator is None or not self.operands):
            missing = "operator" if self.operator is None else "operands"
            raise PydanticCustomError(
                "deny", "an expression needs 'label', or 'operator' (AND, OR) and 1 or more 'operands' "
                "(this one has no {missing})", {"missing": missing},
            )
        return self


class Policy(_Model):
    name: Text
    description: Text | None = None
    status: Literal["enabled", "draft"] = Field(description="Only enabled policies are enforced; drafts are reported.")
    marketing_actions: list[Text] = Field(
        min_length=1, description="The marketing actions it restricts; '*' for every activation."
    )
    deny: Expression


class MarketingAction(_Model):
    name: ActionName
    description: Text | None = None


class CustomLabel(_Model):
    name: Label
    description: Text | None = None


DefaultStatus = Literal["enabled", "draft", "off"]


class DefaultPolicies(_Model):
    status: DefaultStatus = Field("enabled", description="Of every default policy: enabled, draft or off.")
    policies: dict[str, DefaultStatus] = Field(
        default_factory=dict, description="Status of single default policies, by name."
    )


class Governance(_Model):
    """Custom marketing actions and labels, policies, and the default policy set (``policies/*.yaml``)."""

    marketing_actions: list[MarketingAction] = Field(default_factory=list)
    labels: list[CustomLabel] = Field(default_factory=list)
    default_policies: DefaultPolicies | None = None
    policies: list[Policy] = Field(default_factory=list)


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


def _unix_seconds(when: date | datetime, days_after: int, *, round_up: bool) -> int:
    if not isinstance(when, datetime):
        return (when.toordinal() - _EPOCH_DAY + days_after) * _DAY
    offset = when.utcoffset() or timedelta(0)
    seconds = (when.toordinal() - _EPOCH_DAY) * _DAY + when.hour * 3600 + when.minute * 60 + when.second
    seconds -= offset.days * _DAY + offset.seconds
    return seconds + (1 if round_up and when.microsecond else 0)
