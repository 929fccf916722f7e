"""Running specs against the artifact: the project is compiled and encoded exactly as `build`
writes it, loaded with ``cpcompile.runtime``, and each spec's request is answered from it. A
difference is one located diagnostic per destination that differs (CP170); a name the config
does not know is CP171-CP173 with the closest known name as a hint."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from . import runtime
from .artifact_format.encode import encode
from .compiler import DEFAULT_NAMESPACE, compile_body
from .diagnostics import Diagnostic
from .values import datastream_key, window_bounds
from .project import Doc, Project, datastream_index
from .spec import Membership, Spec, SpecFile

Answer = dict[str, dict[str, Any]]  # alias -> {"segments": [ids], "attributes": {target: value}}


@dataclass
class SpecResults:
    diagnostics: list[Diagnostic] = field(default_factory=list)
    passed: int = 0
    failed: int = 0
    revision: str = ""  # of the artifact the specs ran against, as `build` would write it


@dataclass
class _Names:
    """What a spec may name, from the project: datastreams, audiences (by id and catalog name)."""

    project: Project
    datastreams: dict[str, str] = field(default_factory=dict)  # file stem or id -> id
    stems: dict[str, str] = field(default_factory=dict)  # id -> file stem
    audience_ids: dict[str, str] = field(default_factory=dict)  # id or name -> id
    audience_names: dict[str, str] = field(default_factory=dict)  # id -> name
    namespaces: dict[str, str] = field(default_factory=dict)  # id -> namespace
    aliases: dict[str, list[str]] = field(default_factory=dict)  # datastream id -> its destinations' aliases

    def __post_init__(self) -> None:
        index = datastream_index(self.project)
        for key, entry in index.items():
            self.datastreams[key] = entry.model.id
            self.stems.setdefault(entry.model.id, entry.doc.source.stem)
        for destination in self.project.destinations:
            self.aliases.setdefault(index[destination.model.datastream].model.id, []).append(destination.model.alias)
        for catalog in self.project.catalogs:
            for audience in catalog.model.audiences:
                self.audience_ids.setdefault(audience.id, audience.id)
                self.audience_ids.setdefault(audience.name, audience.id)
                self.audience_names.setdefault(audience.id, audience.name)
                self.namespaces.setdefault(audience.id, audience.namespace)
        for destination in self.project.destinations:
            for mapping in destination.model.audiences:
                self.audience_ids.setdefault(mapping.id, mapping.id)

    def audience(self, reference: str) -> str | None:
        return self.audience_ids.get(reference) or self.audience_ids.get(reference.lower())

    def shown(self, audience_id: str) -> str:
        name = self.audience_names.get(audience_id)
        return f"{audience_id} ({name})" if name else audience_id


def run_specs(project: Project, files: Sequence[tuple[Doc, SpecFile]]) -> SpecResults:
    body = compile_body(project)
    _, json_bytes, _ = encode(body)
    artifact = runtime.loads(json_bytes)
    names = _Names(project)
    results = SpecResults(revision=artifact.revision)
    for doc, spec_file in files:
        for index, spec in enumerate(spec_file.specs):
            found = _run_one(artifact, names, doc, ("specs", index), spec)
            results.diagnostics.extend(found)
            if found:
                results.failed += 1
            else:
                results.passed += 1
    return results


def _run_one(artifact: runtime.Artifact, names: _Names, doc: Doc, at: tuple[str | int, ...], spec: Spec) -> list[Diagnostic]:
    problems: list[Diagnostic] = []
    datastream_id = names.datastreams.get(datastream_key(spec.datastream))
    if datastream_id is None:
        hint = _did_you_mean(spec.datastream, [*names.datastreams], "datastreams")
        return [doc.diagnostic("CP171", f"unknown datastream '{spec.datastream}'", (*at, "datastream"), hint=hint)]
    memberships = _memberships(names, doc, at, spec, problems)
    expected = _expected(names, doc, at, spec, datastream_id, problems)
    if problems:
        return problems
    now = None if spec.at is None else window_bounds(spec.at, None)[0]
    payload = artifact.lookup(
        datastream_id, memberships, now=now, attributes=spec.attributes, authenticated=spec.authenticated
    )
    return _compare(names, doc, at, spec, expected, _answer(payload))


def _memberships(names: _Names, doc: Doc, at: tuple[str | int, ...], spec: Spec, problems: list[Diagnostic]) -> dict[str, Any]:
    """The spec's memberships as an XDM segmentMembership map."""
    out: dict[str, dict[str, Any]] = {}
    for i, item in enumerate(spec.memberships):
        member = item if isinstance(item, Membership) else Membership(id=item, status="realized", namespace=None)
        audience_id = names.audience(member.id)
        if audience_id is None:
            where = (*at, "memberships", i) + (("id",) if isinstance(item, Membership) else ())
            problems.append(_unknown_audience(names, doc, member.id, where))
            continue
        namespace = member.namespace or names.namespaces.get(audience_id, DEFAULT_NAMESPACE)
        out.setdefault(namespace, {})[audience_id] = {"status": member.status}
    return out


def _expected(
    names: _Names, doc: Doc, at: tuple[str | int, ...], spec: Spec, datastream_id: str, problems: list[Diagnostic]
) -> Answer:
    aliases = names.aliases.get(datastream_id, [])
    expected: Answer = {}
    for alias, outcome in spec.expect.items():
        if alias not in aliases:
            hint = _elsewhere(names, alias) or _did_you_mean(alias, aliases, f"aliases on '{names.stems[datastream_id]}'")
            problems.append(doc.diagnostic("CP172", f"no destination with alias '{alias}' on datastream "
                                           f"'{spec.datastream}'", (*at, "expect", alias), key=True, hint=hint))
            continue
        segments = []
        for i, reference in enumerate(outcome.segments):
            audience_id = names.audience(reference)
            if audience_id is None:
                problems.append(_unknown_audience(names, doc, reference, (*at, "expect", alias, "segments", i)))
            else:
                segments.append(audience_id)
        expected[alias] = {"segments": sorted(set(segments)), "attributes": dict(outcome.attributes)}
    return expected


def _elsewhere(names: _Names, alias: str) -> str | None:
    """Where the alias is, when it is on other datastreams."""
    found = sorted(names.stems[ds_id] for ds_id, aliases in names.aliases.items() if alias in aliases)
    return f"'{alias}' is on datastream {', '.join(repr(f) for f in found)}" if found else None


def _answer(payload: list[dict[str, Any]]) -> Answer:
    return {
        item["alias"]: {
            "segments": sorted(s["id"] for s in item["segments"]),
            "attributes": {target: v["value"] for target, v in item.get("attributes", {}).items()},
        }
        for item in payload
    }


def _compare(
    names: _Names, doc: Doc, at: tuple[str | int, ...], spec: Spec, expected: Answer, actual: Answer
) -> list[Diagnostic]:
    if _same(expected, actual):
        return []
    got = f"the answer was: {_describe(names, actual)}"
    out = []
    for alias in sorted(expected.keys() | actual.keys()):
        want, have = expected.get(alias), actual.get(alias)
        if want is None:
            message = f"{alias}: not expected, but got {_describe_one(names, have)}"
            out.append(doc.diagnostic("CP170", _titled(spec, message), (*at, "expect"), hint=got))
        elif have is None:
            message = f"{alias}: expected {_describe_one(names, want)}, got nothing"
            out.append(doc.diagnostic("CP170", _titled(spec, message), (*at, "expect", alias), key=True, hint=got))
        else:
            for field_name, message in _differences(names, want, have):
                where = (*at, "expect", alias, field_name)
                out.append(doc.diagnostic("CP170", _titled(spec, f"{alias}: {message}"), where, hint=got))
    return out


def _differences(names: _Names, want: dict[str, Any], have: dict[str, Any]) -> Iterable[tuple[str, str]]:
    """What differs in one destination's answer, as (field, message): segments missing or not
    expected, and each attribute whose value differs."""
    missing = [names.shown(s) for s in want["segments"] if s not in have["segments"]]
    extra = [names.shown(s) for s in have["segments"] if s not in want["segments"]]
    if missing or extra:
        parts = ([f"missing segments [{', '.join(missing)}]"] if missing else []) + (
            [f"unexpected segments [{', '.join(extra)}]"] if extra else []
        )
        yield "segments", "; ".join(parts)
    for target in sorted(want["attributes"].keys() | have["attributes"].keys()):
        a, b = want["attributes"].get(target, _NONE), have["attributes"].get(target, _NONE)
        if _typed(a) != _typed(b):
            yield "attributes", f"attribute {target}: expected {_value(a)}, got {_value(b)}"


_NONE = object()


def _value(value: object) -> str:
    return "none" if value is _NONE else repr(value)


def _same(a: Answer, b: Answer) -> bool:
    # typed comparison: an expected `true` is not the number 1
    return bool(_typed(a) == _typed(b))


def _typed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return (type(value).__name__, value)


def _titled(spec: Spec, message: str) -> str:
    return f"spec '{spec.name}': {message}"


def _describe(names: _Names, answer: Answer) -> str:
    if not answer:
        return "nothing"
    return "; ".join(f"{alias} {_describe_one(names, answer[alias])}" for alias in sorted(answer))


def _describe_one(names: _Names, outcome: dict[str, Any] | None) -> str:
    assert outcome is not None
    segments = ", ".join(names.shown(s) for s in outcome["segments"])
    text = f"segments [{segments}]"
    if outcome["attributes"]:
        attributes = ", ".join(f"{k}={v!r}" for k, v in sorted(outcome["attributes"].items()))
        text += f" and attributes {{{attributes}}}"
    return text


def _unknown_audience(names: _Names, doc: Doc, reference: str, where: tuple[str | int, ...]) -> Diagnostic:
    hint = _did_you_mean(reference, [*names.audience_ids], "audience IDs and catalog names")
    return doc.diagnostic("CP173", f"unknown audience '{reference}'", where, hint=hint)


def _did_you_mean(value: str, known: Iterable[str], what: str) -> str:
    known = sorted(set(known))
    close = difflib.get_close_matches(value, known, n=1, cutoff=0.6) or difflib.get_close_matches(
        value.lower(), [k.lower() for k in known], n=1, cutoff=0.6
    )
    if close:
        return f"did you mean '{close[0]}'?"
    return f"known {what}: {', '.join(known)}" if known and len(known) <= 10 else f"no {what} is close"

