"""The shape of each config file, as pydantic models (frozen, unknown keys refused).

Only what one file can check on its own lives here; rules that need other files are in
``rules.py``. Custom error types (``uuid``, ``alias``, ``xdm_path``, ``when``) let the schema
stage give them their own diagnostic codes.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, time, timedelta, timezone
from typing import Annotated, Literal, Union

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StringConstraints
from pydantic_core import PydanticCustomError

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# a dotted path of XDM field names: no array indexes or wildcards (Adobe maps single values only)
_XDM_PATH = re.compile(r"_?[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
MAX_ALIAS_LENGTH = 256


def _uuid(value: str) -> str:
    if not _UUID.fullmatch(value):
        raise PydanticCustomError(
            "uuid", "'{value}' is not a UUID (expected 8-4-4-4-12 hex digits)", {"value": value}
        )
    return value.lower()


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


def _when(value: object) -> date | datetime:
    """A whole UTC day (``2026-12-01``) or an instant (``2026-12-01T08:00:00Z``; naive = UTC)."""
    if isinstance(value, str):
        try:
            if _DATE.fullmatch(value):
                return date.fromisoformat(value)
            instant = datetime.fromisoformat(value)
            return instant if instant.tzinfo else instant.replace(tzinfo=timezone.utc)
        except ValueError:
            pass
    raise PydanticCustomError(
        "when", "'{value}' is not a date (2026-12-01) or a date and time (2026-12-01T08:00:00Z)",
        {"value": value},
    )


Text = Annotated[str, StringConstraints(strict=True, min_length=1, strip_whitespace=False)]
Uuid = Annotated[str, StringConstraints(strict=True), AfterValidator(_uuid)]
Alias = Annotated[str, StringConstraints(strict=True), AfterValidator(_alias)]
XdmPath = Annotated[str, StringConstraints(strict=True), AfterValidator(_xdm_path)]
When = Annotated[Union[date, datetime], BeforeValidator(_when)]
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


class AttributeMapping(_Model):
    source: XdmPath = Field(description="Profile attribute, a single-valued XDM path.")
    target: TargetName = Field(description="Name of the attribute in the response.")


class AudienceMapping(_Model):
    id: Uuid = Field(description="Audience (segment definition) ID.")
    start: When | None = Field(None, description="First day (UTC) or instant the audience is returned.")
    end: When | None = Field(None, description="Last day (UTC, inclusive) or instant (exclusive).")


class Destination(_Model):
    """A Custom Personalization destination connection and its activated audiences."""

    id: Uuid = Field(description="The destination connection ID (`destinationId` in responses).")
    name: Text
    description: Text | None = None
    alias: Alias = Field(description="Integration alias: the name pages filter `results.destinations` on.")
    datastream: Text = Field(description="A datastream file's name (without .yaml) or its ID.")
    marketing_actions: list[Text] = Field(default_factory=list)
    attributes: list[AttributeMapping] = Field(
        default_factory=list, description="Profile attributes returned to authenticated calls."
    )
    audiences: list[AudienceMapping] = Field(default_factory=list)


class MergePolicy(_Model):
    id: Uuid
    name: Text
    active_on_edge: StrictBool = False


class CatalogAudience(_Model):
    id: Uuid
    name: Text
    namespace: Literal["ups", "CustomerAudienceUpload"] = "ups"
    merge_policy: Uuid | None = Field(None, description="ID of a merge policy in this sandbox's catalog.")
    evaluation: Literal["edge", "streaming", "batch"] | None = None


class Catalog(_Model):
    """Audiences and merge policies of one sandbox (``audiences/*.yaml``)."""

    sandbox: Text
    merge_policies: list[MergePolicy] = Field(default_factory=list)
    audiences: list[CatalogAudience] = Field(default_factory=list)


def window_instants(
    start: date | datetime | None, end: date | datetime | None
) -> tuple[datetime | None, datetime | None]:
    """An activation window as instants: a start day begins at 00:00 UTC, an end day is
    inclusive (the window closes at the next midnight), an instant is taken as it is."""
    return _instant(start, 0), _instant(end, 1)


def window_bounds(start: date | datetime | None, end: date | datetime | None) -> tuple[int | None, int | None]:
    """The window in whole Unix seconds, widened (never narrowed) to second boundaries."""
    first, last = window_instants(start, end)
    return (
        None if first is None else math.floor(first.timestamp()),
        None if last is None else math.ceil(last.timestamp()),
    )


def _instant(when: date | datetime | None, days_after: int) -> datetime | None:
    if when is None or isinstance(when, datetime):
        return when
    return datetime.combine(when + timedelta(days=days_after), time(0), tzinfo=timezone.utc)
