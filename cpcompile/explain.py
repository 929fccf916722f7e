"""Why a lookup answered what it did: per destination, what became of each membership.

Computed on the side from the decoded artifact body, with the rules of docs/runtime.md
("Answering a request") written out one case at a time, so that the runtime's hot path stays
as it is. Used by `cpcompile lookup --explain`; nothing here is on a service's path.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

MEMBER_STATUSES = ("realized", "existing")


@dataclass(frozen=True)
class Member:
    """One membership of the request: the ID as given, its namespace and status (None for a
    bare list of IDs, where neither is looked at)."""

    given: str
    namespace: str | None = None
    status: Any = None
    listed: bool = True  # a bare ID, which always counts


@dataclass
class Names:
    """Optional names from the config, to make the explanation readable."""

    datastreams: dict[str, str] = field(default_factory=dict)  # id -> file name
    audiences: dict[str, str] = field(default_factory=dict)  # id -> catalog name

    def audience(self, audience_id: str) -> str:
        name = self.audiences.get(audience_id)
        return f"{audience_id} ({name})" if name else audience_id


def members_of(memberships: Any) -> list[Member]:
    """The request's memberships, from a list of IDs or a segmentMembership map."""
    if isinstance(memberships, Mapping):
        return [
            Member(str(audience_id), str(namespace), _status(entry), listed=False)
            for namespace, members in memberships.items()
            if isinstance(members, Mapping)
            for audience_id, entry in members.items()
        ]
    return [Member(str(audience_id)) for audience_id in memberships]


def _status(entry: object) -> Any:
    return entry.get("status") if isinstance(entry, Mapping) else entry


def explain(
    body: dict[str, Any],
    datastream_id: str,
    memberships: Any,
    *,
    now: float,
    authenticated: bool,
    attributes: Mapping[str, Any] | None,
    names: Names | None = None,
) -> list[str]:
    """Lines that say, per destination of the datastream, what it got and why."""
    names = names or Names()
    datastreams = body["datastreams"]
    key = datastream_id if datastream_id in datastreams else datastream_id.lower()
    if key not in datastreams:
        return [f"datastream {datastream_id} is not in this artifact, so nothing is returned"
                + _suggest(datastream_id, [*datastreams, *names.datastreams.values()])]
    entry = datastreams[key]
    lines = [_header(key, entry, now, authenticated, names)]
    if entry.get("access") == "authenticated-only" and not authenticated:
        lines.append("  nothing is returned: the datastream is authenticated-only and the request is not "
                     "authenticated (--authenticated)")
        return lines
    members = members_of(memberships)
    for index, destination in enumerate(entry["destinations"]):
        lines.extend(_destination(entry, index, destination, members, now, authenticated, attributes, names))
    lines.extend(_unmapped(body, key, members, names))
    return lines


def _header(key: str, entry: dict[str, Any], now: float, authenticated: bool, names: Names) -> str:
    name = names.datastreams.get(key)
    shown = f"{key} ({name})" if name else key
    when = _iso(now)
    auth = "authenticated" if authenticated else "not authenticated"
    return f"datastream {shown}, {entry.get('access', 'mixed')} access; request at {when}, {auth}"


def _destination(
    entry: dict[str, Any], index: int, destination: dict[str, Any], members: list[Member], now: float,
    authenticated: bool, attributes: Mapping[str, Any] | None, names: Names,
) -> Iterable[str]:
    reasons = []
    sent = []
    for member in members:
        audience_id = member.given.lower()
        audience = entry["audiences"].get(member.given) or entry["audiences"].get(audience_id)
        if audience is None:
            continue
        mappings = [m for m in audience["mappings"] if m["destination"] == index]
        if not mappings:
            reasons.append(f"{names.audience(audience_id)}: not mapped on this destination")
            continue
        verdict = _verdict(member, audience["namespace"], mappings, now)
        if verdict is None:
            sent.append(audience_id)
            reasons.append(f"{names.audience(audience_id)}: sent")
        else:
            reasons.append(f"{names.audience(audience_id)}: {verdict}")
    reasons.extend(_attribute_reasons(destination, authenticated, attributes))
    got = f"segments [{', '.join(sorted(set(sent)))}]" if sent else "no segments"
    yield f"  {destination['alias']} ({destination['destinationId']}): {got}"
    if not reasons:
        yield "    none of the request's audiences is mapped on this destination"
    for reason in reasons:
        yield f"    {reason}"


def _verdict(member: Member, namespace: str, mappings: list[dict[str, Any]], now: float) -> str | None:
    """Why a mapped membership is not sent, or None when it is."""
    if not member.listed:
        if member.namespace != namespace:
            return f"not sent: the membership is under namespace '{member.namespace}', the audience is in '{namespace}'"
        if not isinstance(member.status, str) or member.status not in MEMBER_STATUSES:
            return f"not sent: status {member.status!r} does not count (only {' and '.join(MEMBER_STATUSES)} do)"
    windows = []
    for mapping in mappings:
        start, end = mapping.get("start"), mapping.get("end")
        if (start is None or start <= now) and (end is None or now < end):
            return None
        windows.append(f"window not yet open (opens {_iso(start)})" if start is not None and now < start
                       else f"window closed ({_iso(end)})")
    return "not sent: " + "; ".join(windows)


def _attribute_reasons(
    destination: dict[str, Any], authenticated: bool, attributes: Mapping[str, Any] | None
) -> list[str]:
    specs = destination.get("attributes") or []
    if not specs:
        return []
    targets = ", ".join(a["target"] for a in specs)
    if not authenticated:
        return [f"attributes {targets}: not sent, the request is not authenticated (--authenticated)"]
    if attributes is None:
        return [f"attributes {targets}: none given (--attributes-file)"]
    out = []
    for spec in specs:
        value: Any = attributes
        for part in spec["source"].split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        if value is None or isinstance(value, (Mapping, list)):
            problem = "not in the profile" if value is None else "not a single value"
            out.append(f"attribute {spec['target']} (from {spec['source']}): not sent, {problem}")
        else:
            out.append(f"attribute {spec['target']} (from {spec['source']}): sent")
    return out


def _unmapped(body: dict[str, Any], key: str, members: list[Member], names: Names) -> Iterable[str]:
    """The request's audiences that no destination of this datastream maps."""
    here = body["datastreams"][key]["audiences"]
    elsewhere: dict[str, list[str]] = {}
    for other_id, other in body["datastreams"].items():
        for audience_id in other["audiences"]:
            elsewhere.setdefault(audience_id, []).append(names.datastreams.get(other_id, other_id))
    lines = []
    for member in members:
        audience_id = member.given.lower()
        if member.given in here or audience_id in here:
            continue
        if audience_id in elsewhere:
            lines.append(f"    {names.audience(audience_id)}: mapped only on datastream {', '.join(elsewhere[audience_id])}")
        else:
            known = [*elsewhere, *names.audiences.values()]
            lines.append(f"    {member.given}: no destination maps this audience" + _suggest(member.given, known))
    return ["  not mapped on this datastream:", *lines] if lines else []


def _suggest(value: str, known: list[str]) -> str:
    by_lower = {k.lower(): k for k in sorted(known)}
    close = difflib.get_close_matches(value.lower(), list(by_lower), n=1, cutoff=0.6)
    return f"; did you mean {by_lower[close[0]]}?" if close else ""


def _iso(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    try:
        return datetime.fromtimestamp(seconds, timezone.utc).isoformat().replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):  # beyond the years datetime holds
        return f"{seconds} Unix seconds"


def explain_artifact(
    path: Path, revision: str, datastream_id: str, memberships: Any, *, now: Any, authenticated: bool,
    attributes: Mapping[str, Any] | None, names: Names | None = None,
) -> list[str]:
    """``explain`` on the artifact file at ``path``, which was loaded and verified as ``revision``."""
    from .artifact_format.document import read_document
    from .runtime._load import encoding_for

    document = read_document(path.read_bytes(), encoding=encoding_for(path))
    if document["revision"] != revision:
        return [f"{path} changed while it was read; run the lookup again to explain it"]
    seconds = now.timestamp() if isinstance(now, datetime) else float(now)
    return explain(document["body"], datastream_id, memberships, now=seconds, authenticated=authenticated,
                   attributes=attributes, names=names)
