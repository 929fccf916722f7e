"""The shape of each config file, as pydantic models (frozen, unknown keys refused).

Only what one file can check on its own lives here; rules that need other files are in
``rules.py``. What a single value must be is checked in values.py, in plain Python; here each
check refuses through pydantic, with a custom error type (``uuid``, ``alias``, ``xdm_path``,
``when``, ``label``) that gives the schema stage its own diagnostic code.
"""

from __future__ import annotations

import functools
from datetime import date, datetime
from typing import Annotated, Any, Callable, Literal, TypeVar, Union

from pydantic import (
    AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictInt, StringConstraints,
    WithJsonSchema, model_validator,
)
from pydantic.dataclasses import dataclass
from pydantic_core import PydanticCustomError

from . import values
from .values import (
    ACTION_NAME, DEFAULT_CATALOG_MAX_AGE_DAYS, LABEL, MAX_ALIAS_LENGTH, UUID, XDM_PATH, Level, Refused, datastream_key,
)

_Checked = TypeVar("_Checked")


def _refusing(check: Callable[[Any], _Checked]) -> Callable[[Any], _Checked]:
    """``check`` with its ``Refused`` raised as pydantic's custom error of the same kind."""

    @functools.wraps(check)
    def checked(value: Any) -> _Checked:
        try:
            return check(value)
        except Refused as refused:
            raise PydanticCustomError(refused.kind, refused.template, refused.context) from None

    return checked


_CHECKED_IDS = values.CheckedIds(PydanticCustomError)
values.register_checked_ids(_CHECKED_IDS)
_uuid = _CHECKED_IDS.__getitem__
_alias = _refusing(values.alias)
_xdm_path = _refusing(values.xdm_path)
_label = _refusing(values.label)
_action_name = _refusing(values.action_name)
_when = _refusing(values.when)
_expression_form = _refusing(values.expression_form)

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
    WithJsonSchema({"type": "string", "pattern": f"^{UUID.pattern}$"}),
]
Alias = Annotated[str, StringConstraints(strict=True), AfterValidator(_alias), WithJsonSchema(_ALIAS_SCHEMA)]
XdmPath = Annotated[
    str, StringConstraints(strict=True), AfterValidator(_xdm_path),
    WithJsonSchema({"type": "string", "pattern": f"^{XDM_PATH.pattern}$"}),
]
When = Annotated[Union[date, datetime], BeforeValidator(_when)]
Label = Annotated[
    str, StringConstraints(strict=True), AfterValidator(_label),
    WithJsonSchema({"type": "string", "pattern": f"^(?:{LABEL.pattern})$"}),
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
        checked: Expression = _expression_form(self)
        return checked


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


class Settings(BaseModel):
    """Project settings (cpcompile.yaml at the config root)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    diagnostics: dict[str, Level] = Field(
        default_factory=dict, description="Diagnostic code -> off | warning | error (warnings only)."
    )
    catalog_max_age_days: StrictInt = Field(
        DEFAULT_CATALOG_MAX_AGE_DAYS, ge=1, le=36_500,
        description="A catalog whose exported_at is older than this many days is a warning (CP148).",
    )


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
