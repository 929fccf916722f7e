"""`cpcompile import`: the platform's catalog and dataflows as config files (docs/import.md).

``read_catalog`` and ``read_destinations`` turn the API listings (``importer_json``) into our
config format as plain data; ``catalog_text`` and ``destination_text`` write it as YAML, either
new (in the layout ``cpcompile fmt`` writes) or over an existing file, whose own comments and
keys the import does not own are kept (ruamel's round trip).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence

from pydantic import TypeAdapter, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.compat import ordereddict
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.emitter import Emitter
from ruamel.yaml.error import CommentMark, YAMLError
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.representer import RoundTripRepresenter
from ruamel.yaml.tokens import CommentToken

from . import yamlsrc
from .importer_json import ExportError, Item, listing
from .model import Label, When

UPLOAD_NAMESPACE = "CustomerAudienceUpload"
PROFILE_SCHEMA = "_xdm.context.profile"
ALIAS_PLACEHOLDER = ""
DATASTREAM_PLACEHOLDER = ""
_LABEL: TypeAdapter[Any] = TypeAdapter(Label)
_WHEN: TypeAdapter[Any] = TypeAdapter(When)
_XDM_PATH = re.compile(r"_?[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_MERGE = {None: "timestamp_ordered", "timestampOrdered": "timestamp_ordered", "dataSetPrecedence": "dataset_precedence"}
_GRAPH = {None: "none", "none": "none", "pdg": "pdg"}
# keys each imported object owns: set from the export on re-import; other keys are left alone
AUDIENCE_KEYS = ("name", "namespace", "merge_policy", "evaluation", "ttl_days")
POLICY_KEYS = ("name", "active_on_edge", "attribute_merge", "dataset_order", "identity_graph")
MAPPING_KEYS = ("start", "end")


# --- the catalog ---------------------------------------------------------------------------


@dataclass
class CatalogExport:
    sandbox: str
    merge_policies: list[dict[str, Any]] = field(default_factory=list)  # our format, by id
    audiences: list[dict[str, Any]] = field(default_factory=list)
    newest_update: int | None = None  # Unix seconds of the newest updateEpoch / updateTime

    def policy_names(self) -> dict[str, str]:
        return {p["id"]: p["name"] for p in self.merge_policies}


def read_catalog(sandbox: str, segment_files: Sequence[Path], policy_files: Sequence[Path]) -> CatalogExport:
    out = CatalogExport(sandbox)
    audiences: dict[str, tuple[int, dict[str, Any]]] = {}
    for path in segment_files:
        for item in listing(path, "segments"):
            audience, updated = _audience(item, sandbox)
            _keep_newest(audiences, audience, updated)
            out.newest_update = _newest(out.newest_update, updated)
    policies: dict[str, tuple[int, dict[str, Any]]] = {}
    for path in policy_files:
        for item in listing(path, "children"):
            schema = item.get("schema", "name")
            if isinstance(schema, str) and schema != PROFILE_SCHEMA:
                continue  # an ExperienceEvent merge policy: audiences do not use it
            policy, updated = _merge_policy(item, sandbox)
            _keep_newest(policies, policy, updated)
            out.newest_update = _newest(out.newest_update, updated)
    out.audiences = [a for _, (_, a) in sorted(audiences.items())]
    out.merge_policies = [p for _, (_, p) in sorted(policies.items())]
    return out


def _keep_newest(found: dict[str, tuple[int, dict[str, Any]]], value: dict[str, Any], updated: int | None) -> None:
    """Pages that overlap list an object twice: the most recently updated copy wins (the later
    one on a tie)."""
    stamp = updated if updated is not None else -1
    before = found.get(value["id"])
    if before is None or stamp >= before[0]:
        found[value["id"]] = (stamp, value)


def _newest(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


def _updated(item: Item) -> int | None:
    epoch, millis = item.value.get("updateEpoch"), item.value.get("updateTime")
    for key, value, scale in (("updateEpoch", epoch, 1), ("updateTime", millis, 1000)):
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 10**16:
            raise item.fail(key, "expected a Unix time as a whole number")
        return value // scale
    return None


def _check_sandbox(item: Item, sandbox: str) -> None:
    found = item.get("sandbox", "sandboxName")
    if isinstance(found, str) and found != sandbox:
        raise item.fail("sandbox.sandboxName", f"this object belongs to sandbox '{found}', not '{sandbox}' (--sandbox)")


def _audience(item: Item, sandbox: str) -> tuple[dict[str, Any], int | None]:
    _check_sandbox(item, sandbox)
    audience: dict[str, Any] = {"id": item.uuid("id"), "name": item.text("name")}
    namespace = item.value.get("namespace")
    if namespace is None:
        namespace = UPLOAD_NAMESPACE if item.value.get("originName") == "CUSTOM_UPLOAD" else item.value.get("profileInstanceId", "ups")
    if namespace not in ("ups", UPLOAD_NAMESPACE):
        raise item.fail("namespace", f"unknown namespace {str(namespace)[:80]!r}: the catalog knows 'ups' and '{UPLOAD_NAMESPACE}'")
    audience["namespace"] = namespace
    policy = item.uuid("mergePolicyId", required=False)
    if policy is not None:
        audience["merge_policy"] = policy
    if item.flag("evaluationInfo", "synchronous", "enabled"):
        audience["evaluation"] = "edge"
    elif item.flag("evaluationInfo", "continuous", "enabled"):
        audience["evaluation"] = "streaming"
    else:
        audience["evaluation"] = "batch"
    ttl = item.value.get("ttlInDays")
    if ttl is not None and namespace == UPLOAD_NAMESPACE:
        if not isinstance(ttl, int) or isinstance(ttl, bool) or not 1 <= ttl <= 90:
            raise item.fail("ttlInDays", "expected a whole number of days from 1 to 90")
        audience["ttl_days"] = ttl
    labels = _labels(item)
    if labels is not None:
        audience["labels"] = labels
    return audience, _updated(item)


def _labels(item: Item) -> list[str] | None:
    """Labels as the export writes them (``core/C1``, ``custom/x``, or ``C1``), or None when the
    object carries none: then the catalog's own labels are kept."""
    for key, value in (("labels", item.value.get("labels")), ("dataGovernancePolicy.labels", item.get("dataGovernancePolicy", "labels"))):
        if value is None:
            continue
        if not isinstance(value, list):
            raise item.fail(key, "expected an array of labels")
        out = []
        for i, label in enumerate(value):
            text = label.removeprefix("core/") if isinstance(label, str) else label
            try:
                out.append(_LABEL.validate_python(text))
            except ValidationError:
                raise item.fail(f"{key}[{i}]", f"{str(label)[:80]!r} is not a data usage label (C1-C12, I1, I2, S1, S2, "
                                "PSPD, RHD, custom/<name>)") from None
        return sorted(set(out))
    return None


def _merge_policy(item: Item, sandbox: str) -> tuple[dict[str, Any], int | None]:
    _check_sandbox(item, sandbox)
    policy: dict[str, Any] = {"id": item.uuid("id"), "name": item.text("name"), "active_on_edge": item.flag("isActiveOnEdge")}
    merge = item.get("attributeMerge", "type")
    if merge not in _MERGE:
        raise item.fail("attributeMerge.type", f"unknown attribute merge {str(merge)[:80]!r} (timestampOrdered, dataSetPrecedence)")
    if _MERGE[merge] == "dataset_precedence":
        order = item.get("attributeMerge", "order")
        if not isinstance(order, list) or not all(isinstance(d, str) and d for d in order):
            raise item.fail("attributeMerge.order", "expected an array of dataset ids")
        policy["attribute_merge"] = "dataset_precedence"
        policy["dataset_order"] = list(order)
    graph = item.get("identityGraph", "type")
    if graph not in _GRAPH:
        raise item.fail("identityGraph.type", f"unknown identity graph {str(graph)[:80]!r} (none, pdg)")
    if _GRAPH[graph] == "pdg":
        policy["identity_graph"] = "pdg"
    return policy, _updated(item)


def instant(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def when_value(text: str) -> date | datetime:
    """A window bound as the config reads it (``importer`` writes only valid ones)."""
    value: date | datetime = _WHEN.validate_python(text)
    return value


def parse_instant(text: str) -> str:
    """``--exported-at``: a date or instant in the catalog's forms, written back in UTC."""
    try:
        value = _WHEN.validate_python(text)
    except ValidationError as err:
        raise ValueError(err.errors()[0]["msg"]) from None
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value.isoformat())


# --- destinations ----------------------------------------------------------------------------


@dataclass
class DestinationExport:
    destination: dict[str, Any]  # our format; alias / datastream absent when the export lacks them
    audience_names: dict[str, str]
    flow: str  # where it is in the export, for messages
    state: str | None = None  # the dataflow's state: enabled, disabled


def read_destinations(flow_files: Sequence[Path]) -> list[DestinationExport]:
    found: dict[str, DestinationExport] = {}
    for path in flow_files:
        for item in listing(path, "items"):
            exported = _destination(item)
            found[exported.destination["id"]] = exported  # a flow listed twice: the later copy
    return [found[key] for key in sorted(found)]


def _destination(item: Item) -> DestinationExport:
    destination: dict[str, Any] = {"id": item.uuid("id"), "name": item.text("name")}
    description = item.value.get("description")
    if isinstance(description, str) and description.strip():
        destination["description"] = item.text("description")
    params = _connection_params(item)
    alias = params.get("integrationAlias")
    if isinstance(alias, str) and alias.strip():
        destination["alias"] = alias
    datastream = params.get("datastreamId")
    if isinstance(datastream, str) and datastream.strip():
        destination["datastream"] = datastream.lower()
    transformations = item.value.get("transformations", [])
    if not isinstance(transformations, list):
        raise item.fail("transformations", "expected an array")
    audiences: dict[str, dict[str, Any]] = {}
    attributes: dict[str, dict[str, str]] = {}
    names: dict[str, str] = {}
    for t, transformation in enumerate(transformations):
        where = Item(transformation if isinstance(transformation, dict) else {}, item.file, f"{item.path}.transformations[{t}]")
        if not isinstance(transformation, dict):
            raise item.fail(f"transformations[{t}]", "expected an object")
        for selector in _selectors(where, "segmentSelectors"):
            if selector.value.get("type", "PLATFORM_SEGMENT") != "PLATFORM_SEGMENT":
                continue
            value = Item(_object(selector, "value"), selector.file, selector.at("value"))
            ident = value.uuid("id") or ""
            mapping: dict[str, Any] = {"id": ident}
            name = value.value.get("name")
            if isinstance(name, str) and name.strip():
                names[ident] = value.text("name") or ""
            schedule = Item(_object(value, "schedule", required=False), value.file, value.at("schedule"))
            for ours, theirs in (("start", "startDate"), ("end", "endDate")):
                when = _schedule_date(schedule, theirs)
                if when is not None:
                    mapping[ours] = _Plain(when)
            audiences[ident] = mapping
        for selector in _selectors(where, "profileSelectors"):
            if selector.value.get("type", "JSON_PATH") != "JSON_PATH":
                continue
            value = Item(_object(selector, "value"), selector.file, selector.at("value"))
            source = value.text("path") or ""
            if not _XDM_PATH.fullmatch(source):
                raise value.fail("path", f"{source[:80]!r} is not a single-valued XDM path")
            target = value.get("mapping", "destination") or value.value.get("destination") or source.rsplit(".", 1)[-1]
            if not isinstance(target, str) or not 1 <= len(target) <= 256:
                raise value.fail("mapping.destination", "expected the attribute's name in the response, 1 to 256 characters")
            attributes.setdefault(target, {"source": source, "target": target})
    if attributes:
        destination["attributes"] = [attributes[k] for k in sorted(attributes)]
    destination["audiences"] = [audiences[k] for k in sorted(audiences)]
    state = item.value.get("state")
    return DestinationExport(destination, names, f"{item.file}: {item.path}", state if isinstance(state, str) else None)


def _connection_params(item: Item) -> dict[str, Any]:
    """The destination connection's parameters, when the export inlines the target connection
    (``inheritedAttributes.targetConnections[0].params``): an assumption, see docs/import.md."""
    connections = item.get("inheritedAttributes", "targetConnections")
    if isinstance(connections, list) and connections and isinstance(connections[0], dict):
        params = connections[0].get("params")
        if isinstance(params, dict):
            return params
    return {}


def _object(item: Item, key: str, *, required: bool = True) -> dict[str, Any]:
    value = item.value.get(key)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise item.fail(key, "expected an object")
    return value


def _selectors(transformation: Item, key: str) -> Iterable[Item]:
    group = transformation.get("params", key)
    if group is None:
        return []
    selectors = group.get("selectors") if isinstance(group, dict) else None
    if not isinstance(selectors, list):
        raise transformation.fail(f"params.{key}.selectors", "expected an array")
    out = []
    for i, selector in enumerate(selectors):
        where = f"{transformation.path}.params.{key}.selectors[{i}]"
        if not isinstance(selector, dict):
            raise ExportError(f"{transformation.file}: at {where}: expected an object")
        out.append(Item(selector, transformation.file, where))
    return out


def _schedule_date(schedule: Item, key: str) -> str | None:
    """A schedule's date as a window bound: a date or instant in the config's forms, or Unix
    milliseconds (an instant)."""
    value = schedule.value.get(key)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**16:
        return instant(value // 1000)
    if isinstance(value, str):
        try:
            return parse_instant(value)
        except ValueError as err:
            raise schedule.fail(key, str(err)) from None
    raise schedule.fail(key, "expected a date (2026-12-01), an instant or Unix milliseconds")


# --- writing YAML, keeping what people wrote --------------------------------------------------


class _Plain(str):
    """An instant written unquoted (YAML would read it back as the same text)."""


class _Representer(RoundTripRepresenter):
    pass


class _Constructor(RoundTripConstructor):
    pass


# dates and instants are read as their text, so that a value the import sets again compares equal
_Constructor.add_constructor("tag:yaml.org,2002:timestamp", lambda self, node: _Plain(self.construct_scalar(node)))


_Representer.add_representer(
    _Plain, lambda self, data: self.represent_scalar(self.dumper.resolver.resolve(ScalarNode, str(data), (True, False)), str(data))
)


# Characters that must never reach a config file raw: controls, line separators and bidi
# controls (a name could make a line read differently than it is). Values holding one are
# written double-quoted with every non-ASCII character escaped.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")


def _represent_str(self: RoundTripRepresenter, data: str) -> Any:
    if _UNSAFE.search(data):
        return self.represent_scalar("tag:yaml.org,2002:str", data, style='"')
    return RoundTripRepresenter.represent_str(self, data)


_Representer.add_representer(str, _represent_str)


class _Emitter(Emitter):
    def write_double_quoted(self, text: Any, split: Any = True) -> None:
        if not _UNSAFE.search(text):
            return super().write_double_quoted(text, split)
        allow, self.allow_unicode = self.allow_unicode, False
        try:
            return super().write_double_quoted(text, split)
        finally:
            self.allow_unicode = allow


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.Representer = _Representer
    y.Constructor = _Constructor
    y.Emitter = _Emitter
    y.preserve_quotes = True
    y.width = 4096
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def _load(text: str) -> CommentedMap:
    """An existing file, read as ``validate`` reads it first (hostile input refused with its
    code), then with comments."""
    yamlsrc.parse(text)
    try:
        data = _yaml().load(text)
    except YAMLError as err:
        raise yamlsrc.YamlProblem("CP101", f"cannot be read to update it: {err}", 0, 0) from None
    if not isinstance(data, CommentedMap):
        raise yamlsrc.YamlProblem("CP104", "the file is not a mapping", 0, 0)
    return data


def _dump(data: CommentedMap) -> str:
    """The file's text. Keys are put where docs/config.md lists them and lists sorted by id as
    they are built, so a new file is what ``cpcompile fmt`` writes; an existing file keeps its
    own layout (the round trip through ``fmt`` costs seconds on a large catalog)."""
    out = io.StringIO()
    _yaml().dump(data, out)
    return out.getvalue()


# Where a key goes when it is added: the keys of every config model in one order that agrees
# with each model's (docs/config.md); unknown keys stay last.
_KEY_ORDER = (
    "sandbox", "exported_at", "id", "source", "target", "name", "description", "namespace", "alias", "datastream",
    "marketing_actions", "merge_policy", "evaluation", "ttl_days", "labels", "active_on_edge", "attribute_merge",
    "dataset_order", "identity_graph", "start", "end", "merge_policies", "attributes", "audiences", "datasets", "fields",
)
_RANK = {key: rank for rank, key in enumerate(_KEY_ORDER)}


def _put(mapping: CommentedMap, key: str, value: Any) -> None:
    """Set ``key``; a new key goes where the config's key order puts it."""
    if key in mapping:
        ordereddict.__setitem__(mapping, key, value)  # not mapping[key] = ...: that keeps the old value's quotes
        return
    rank = _RANK.get(key, len(_RANK))
    position = next((i for i, k in enumerate(mapping) if _RANK.get(k, len(_RANK)) > rank), len(mapping))
    mapping.insert(position, key, value)


def _flow(values: list[Any]) -> CommentedSeq:
    seq = CommentedSeq(values)
    seq.fa.set_flow_style()
    return seq


def _value(key: str, value: Any) -> Any:
    return _flow(value) if key in ("labels", "dataset_order", "marketing_actions") and isinstance(value, list) else value


def _set(mapping: CommentedMap, key: str, value: Any) -> None:
    if key not in mapping or mapping[key] != value:
        _put(mapping, key, _value(key, value))


def _delete(mapping: CommentedMap, key: str) -> None:
    """Remove ``key``; comment lines that stood below it move to the key before it."""
    if key not in mapping:
        return
    keys = list(mapping)
    below = _lines_below(mapping, key)
    del mapping[key]
    mapping.ca.items.pop(key, None)
    if below and keys.index(key) > 0:
        _append_lines(mapping, keys[keys.index(key) - 1], below)


def _lines_below(mapping: CommentedMap, key: str) -> str:
    slot = mapping.ca.items.get(key)
    token = slot[2] if slot and len(slot) > 2 else None
    if token is None or "\n" not in token.value:
        return ""
    return str(token.value.split("\n", 1)[1])


def _append_lines(mapping: CommentedMap, key: str, text: str) -> None:
    slot = mapping.ca.items.setdefault(key, [None, None, None, None])
    if slot[2] is None:
        slot[2] = CommentToken("\n", CommentMark(0), None)
    value = slot[2].value
    slot[2].value = (value if value.endswith("\n") else value + "\n") + text


def _set_eol(mapping: CommentedMap, key: str, comment: str) -> None:
    """The comment at the end of ``key``'s line is ``comment`` (the lines below it are kept)."""
    slot = mapping.ca.items.get(key)
    token = slot[2] if slot and len(slot) > 2 else None
    if token is None:
        _eol(mapping, key, comment)
        return
    first, _, rest = token.value.partition("\n")
    if not first.strip():  # no comment on the line itself, only lines below
        token.value = "  " + comment + "\n" + rest
    else:
        token.value = comment + "\n" + rest


def _eol(mapping: CommentedMap, key: str, comment: str) -> None:
    """A comment at the end of ``key``'s line, two spaces after the value (the emitter puts one
    space before the token's own)."""
    slot = mapping.ca.items.setdefault(key, [None, None, None, None])
    slot[2] = CommentToken(f" {comment}\n", CommentMark(0), None)


def _new_map(values: dict[str, Any]) -> CommentedMap:
    out = CommentedMap()
    for key, value in values.items():
        out[key] = _value(key, value)
    return out


def _merge_list(
    parent: CommentedMap, key: str, items: list[dict[str, Any]], owned: Sequence[str], *, keep: Iterable[str] = ()
) -> tuple[int, int, int]:
    """``parent[key]`` holds ``items`` (by id) afterwards: new ones are inserted where their id
    sorts, gone ones removed, the ``owned`` keys of the others set. Keys in ``keep`` are set
    only when the new item has them. Returns (added, removed, changed)."""
    seq = parent.get(key)
    if not isinstance(seq, CommentedSeq):
        seq = CommentedSeq()
        _put(parent, key, seq)
    wanted = {item["id"]: item for item in items}
    added = removed = changed = 0
    for i in reversed(range(len(seq))):
        entry = seq[i]
        if isinstance(entry, CommentedMap) and str(entry.get("id", "")).lower() not in wanted:
            _remove_item(seq, i)
            removed += 1
    present = {str(e.get("id", "")).lower(): e for e in seq if isinstance(e, CommentedMap)}
    for ident, item in wanted.items():
        entry = present.get(ident)
        if entry is None:
            continue
        before = dict(entry)
        for field_name in owned:
            if field_name in item:
                _set(entry, field_name, item[field_name])
            elif field_name not in keep:
                _delete(entry, field_name)
        changed += dict(entry) != before
    for ident in sorted(set(wanted) - set(present)):
        position = next((i for i, e in enumerate(seq) if isinstance(e, CommentedMap) and str(e.get("id", "")).lower() > ident), len(seq))
        _insert_item(seq, position, _new_map(wanted[ident]))
        added += 1
    return added, removed, changed


def _last_key(entry: CommentedMap) -> str | None:
    keys = [k for k in entry if not isinstance(entry[k], (CommentedMap, CommentedSeq)) or entry[k].fa.flow_style()]
    return keys[-1] if keys and keys[-1] == list(entry)[-1] else None


def _remove_item(seq: CommentedSeq, index: int) -> None:
    """Remove an item; the comment lines below it (above the next item) stay where they are."""
    entry = seq[index]
    last = _last_key(entry) if isinstance(entry, CommentedMap) else None
    below = _lines_below(entry, last) if last else ""
    del seq[index]
    if not below:
        return
    if index > 0 and isinstance(seq[index - 1], CommentedMap) and (prev := _last_key(seq[index - 1])):
        _append_lines(seq[index - 1], prev, below)
    elif index < len(seq):
        _comment_before(seq, below)


def _insert_item(seq: CommentedSeq, index: int, entry: CommentedMap) -> None:
    """Insert an item; the comment lines above the item that was at ``index`` stay above it."""
    if index > 0 and isinstance(seq[index - 1], CommentedMap) and (prev := _last_key(seq[index - 1])):
        below = _lines_below(seq[index - 1], prev)
        if below:
            token = seq[index - 1].ca.items[prev][2]
            token.value = token.value.split("\n", 1)[0] + "\n"
            _append_lines(entry, list(entry)[-1], below)
    seq.insert(index, entry)


def _comment_before(seq: CommentedSeq, text: str) -> None:
    if seq.ca.comment is None:
        seq.ca.comment = [None, []]
    while len(seq.ca.comment) < 2:
        seq.ca.comment.append(None)
    if seq.ca.comment[1] is None:
        seq.ca.comment[1] = []
    for line in text.splitlines():
        content = line.lstrip()
        seq.ca.comment[1].append(CommentToken(content + "\n", CommentMark(len(line) - len(content)), None))


@dataclass(frozen=True)
class Written:
    text: str
    summary: str


def catalog_text(export: CatalogExport, exported_at: str, existing: str | None) -> Written:
    """The catalog file: new, or ``existing`` updated (its comments, datasets, fields and the
    labels the export does not carry are kept)."""
    if existing is None:
        data = CommentedMap()
        data["sandbox"] = export.sandbox
        data.yaml_set_start_comment(
            f"Audiences and merge policies of sandbox '{export.sandbox}', imported from Adobe Experience Platform\n"
            "with cpcompile import catalog (docs/import.md). Re-importing keeps comments like this one."
        )
    else:
        data = _load(existing)
    _put(data, "sandbox", export.sandbox)
    _put(data, "exported_at", _Plain(exported_at))
    policies = _merge_list(data, "merge_policies", export.merge_policies, POLICY_KEYS)
    audiences = _merge_list(data, "audiences", export.audiences, (*AUDIENCE_KEYS, "labels"), keep=("labels",))
    names = export.policy_names()
    for entry in data["audiences"]:
        if isinstance(entry, CommentedMap) and entry.get("merge_policy") in names:
            _set_eol(entry, "merge_policy", f"# {_one_line(names[entry['merge_policy']])}")
    if not data["merge_policies"]:
        _delete(data, "merge_policies")
    summary = (
        f"{_count(len(export.audiences), 'audience')} (+{audiences[0]} -{audiences[1]} ~{audiences[2]}), "
        f"{_count(len(export.merge_policies), 'merge policy', 'merge policies')} (+{policies[0]} -{policies[1]} ~{policies[2]})"
    )
    return Written(_dump(data), summary)


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def _one_line(text: str) -> str:
    from .escape import neutralise

    return neutralise(text)


def destination_text(export: DestinationExport, existing: str | None, datastreams: dict[str, str] | None = None) -> Written:
    """A destination file: new, with placeholders for what the export does not carry, or
    ``existing`` updated (alias, datastream and marketing actions are kept unless the export
    has them)."""
    d = dict(export.destination)
    names = datastreams or {}  # datastream id -> its file name, as destinations name them
    if "datastream" in d:
        d["datastream"] = names.get(d["datastream"], d["datastream"])
    placeholders = []
    if existing is None:
        data = CommentedMap()
        data.yaml_set_start_comment(
            "Imported from Adobe Experience Platform with cpcompile import destinations (docs/import.md).\n"
            "Re-importing keeps comments like this one, the alias, the datastream and the marketing actions."
        )
        data["id"] = d["id"]
        data["name"] = d["name"]
        if "description" in d:
            data["description"] = d["description"]
        data["alias"] = d.get("alias", ALIAS_PLACEHOLDER)
        if "alias" not in d:
            _eol(data, "alias", "# TODO: the integration alias, not in the export (validate reports it)")
            placeholders.append("alias")
        data["datastream"] = d.get("datastream", DATASTREAM_PLACEHOLDER)
        if "datastream" not in d:
            _eol(data, "datastream", "# TODO: the datastream's file name or id, not in the export")
            placeholders.append("datastream")
        data["marketing_actions"] = _flow([])
        _eol(data, "marketing_actions", "# not in the export: copy them from the destination's connection")
    else:
        data = _load(existing)
        same = {ident: name for ident, name in names.items() if data.get("datastream") in (ident, name)}
        if same and d.get("datastream") in (*same, *same.values()):
            d.pop("datastream")  # the file names the same datastream, by id or by file name: keep its way
        for key in ("name", "alias", "datastream"):
            if key in d:
                _set(data, key, d[key])
                _drop_todo(data, key)
        if "description" in d:
            _set(data, "description", d["description"])
        else:
            _delete(data, "description")
    if d.get("attributes") and isinstance(data.get("attributes"), CommentedSeq):
        _merge_attributes(data, d["attributes"])
    elif d.get("attributes"):
        _put(data, "attributes", CommentedSeq([_new_map(a) for a in d["attributes"]]))
    elif "attributes" in data:
        _delete(data, "attributes")
    mapped = _merge_list(data, "audiences", d["audiences"], MAPPING_KEYS)
    for entry in data["audiences"]:
        name = export.audience_names.get(str(entry.get("id", "")).lower()) if isinstance(entry, CommentedMap) else None
        if name:
            _set_eol(entry, "id", f"# {_one_line(name)}")
    summary = f"{_count(len(d['audiences']), 'audience')} (+{mapped[0]} -{mapped[1]} ~{mapped[2]})"
    if placeholders:
        summary += "; to fill in: " + ", ".join(placeholders)
    return Written(_dump(data), summary)


def _drop_todo(mapping: CommentedMap, key: str) -> None:
    """The import's TODO comment beside a placeholder goes once the key has a value."""
    slot = mapping.ca.items.get(key)
    token = slot[2] if slot and len(slot) > 2 else None
    if token is not None and mapping.get(key) and token.value.lstrip().startswith("# TODO:"):
        rest = token.value.split("\n", 1)[1] if "\n" in token.value else ""
        token.value = "\n" + rest


def _merge_attributes(data: CommentedMap, attributes: list[dict[str, str]]) -> None:
    seq = data["attributes"]
    by_target = {str(a.get("target")): a for a in seq if isinstance(a, CommentedMap)}
    wanted = {a["target"]: a for a in attributes}
    for i in reversed(range(len(seq))):
        if isinstance(seq[i], CommentedMap) and str(seq[i].get("target")) not in wanted:
            _remove_item(seq, i)
    for target, attribute in wanted.items():
        if target in by_target:
            _set(by_target[target], "source", attribute["source"])
        else:
            _insert_item(seq, len(seq), _new_map(attribute))


def slug(name: str) -> str:
    words = re.findall(r"[a-z0-9]+", name.lower())
    return "-".join(words)[:60].strip("-")
