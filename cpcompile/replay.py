"""Replaying recorded profile requests through two versions of the config: each request is
answered by ``cpcompile.runtime`` from both sides, and the answers that differ are counted by
datastream and alias, with a few examples of each kind of change (docs/replay.md).

The request file is streamed: it is read in chunks, no line may be longer than
``MAX_LINE_BYTES`` (a longer one is skipped without being held in memory), and what is kept
grows with the datastreams and aliases of the config, never with the number of requests. A line
that is not a request is a bad line: counted, its first ``SHOWN_ERRORS`` reported with their
line numbers, and skipped; the run goes on.
"""

from __future__ import annotations

import difflib
import gzip
import math
import re
import time as time_module
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Callable, Iterator, Mapping, cast
from urllib.parse import parse_qs, urlsplit

import orjson

from .diff_sides import SharedParse, Side, read_side
from .gcpause import paused_gc
from .lookup_input import LookupInputError, parse_now
from .values import datastream_key

FORMAT = "cpcompile-replay"
VERSION = 1
MAX_LINE_BYTES = 1024 * 1024
SHOWN_ERRORS = 20
EXAMPLES_PER_KIND = 3
SHOWN_IDS = 10  # audience IDs listed in one example before "and N more"

KINDS = (
    "destination_added", "destination_removed", "destination_id_changed",
    "segments_added", "segments_removed", "namespace_changed", "attributes_changed",
)
RECORD_KEYS = frozenset(("datastream", "memberships", "time", "authenticated", "attributes"))
WEB_SDK_KEYS = frozenset(("configId", "url", "body", "memberships", "time"))
_READ_CHUNK = 256 * 1024
_MISSING = object()
_NONE: list[str] = []  # no memberships: never changed, so one list serves every request
_DICT_ONLY = frozenset((dict,))
_INSTANT_Z = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?Z", re.ASCII)


class ReplayInputError(ValueError):
    """The request file cannot be read at all (a usage error, exit 2)."""


class BadRequest(ValueError):
    """One line that is not a request; the message says why, the caller adds where."""


# A request: (datastream ID, memberships (a list of audience IDs or a segmentMembership map),
# time (Unix seconds, or None), authenticated, attributes (or None)). A plain tuple: a line is
# parsed in a few microseconds, and a dataclass would add one to that.
Request = tuple[str, Any, "int | float | None", bool, "dict[str, Any] | None"]


# --- reading the file -----------------------------------------------------------------------------


def open_requests(path: str) -> IO[bytes]:
    """The request file for reading in binary: ``-`` is standard input, a name ending in
    ``.gz`` is read through gzip; anything but a regular file (a device, a folder, a FIFO that
    may never end) is refused."""
    if path == "-":
        import sys

        return sys.stdin.buffer
    p = Path(path)
    try:
        if not p.is_file():
            raise ReplayInputError(f"{path}: not a regular file" if p.exists() else f"{path}: no such file")
        if path.endswith(".gz"):
            return cast(IO[bytes], gzip.open(p, "rb"))
        return p.open("rb")
    except OSError as err:
        raise ReplayInputError(f"{path}: cannot be read ({err.strerror or err})") from None


def lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes | None]]:
    """``(line number, bytes)`` of each line that is not blank; ``None`` instead of the bytes
    for a line longer than ``MAX_LINE_BYTES``, whose bytes are dropped as they arrive: at most
    one line and one chunk are held at a time."""
    read = stream.read
    number = 0
    rest = b""
    skipping = False  # inside a line that is too long
    first = True
    try:
        while True:
            chunk = read(_READ_CHUNK)
            if not chunk:
                break
            if first:
                first = False
                if chunk.startswith(b"\xef\xbb\xbf"):  # a byte order mark some editors write
                    chunk = chunk[3:]
            parts = chunk.split(b"\n")
            last = parts.pop()
            if skipping:
                if not parts:  # still no end to it
                    continue
                number += 1
                yield number, None
                skipping = False
                del parts[0]
            elif rest:
                if parts:
                    parts[0] = rest + parts[0]
                else:
                    last = rest + last
            for raw in parts:
                number += 1
                if len(raw) > MAX_LINE_BYTES:
                    yield number, None
                elif raw and not raw.isspace():
                    yield number, raw
            rest = last
            if len(rest) > MAX_LINE_BYTES:
                rest, skipping = b"", True
        if skipping:
            yield number + 1, None
        elif rest and not rest.isspace():
            yield number + 1, rest
    except (OSError, EOFError, ValueError, zlib.error) as err:  # a truncated or corrupt .gz, a read error
        raise ReplayInputError(f"cannot read on after line {number}: {err}") from None


# --- one line ----------------------------------------------------------------------------------


def _shown(value: object, limit: int = 60) -> str:
    """A value from the input, short enough for a message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def _memberships(value: Any, where: str) -> Any:
    if type(value) is list:
        try:
            "".join(value)  # a C-level check that every element is a string
        except TypeError:
            bad = next(m for m in value if type(m) is not str)
            raise BadRequest(f"{where} must hold audience IDs (strings), not {_json_type(bad)}") from None
        return value
    if type(value) is dict:
        for namespace, members in value.items():
            if namespace == "segmentMembership":
                raise BadRequest(f"{where} holds another segmentMembership: give the map itself")
            if type(members) is not dict:
                raise BadRequest(
                    f"{where}[{_shown(namespace)}] is {_json_type(members)}, not an object of audiences"
                )
            if not set(map(type, members.values())) <= _DICT_ONLY:
                audience_id, entry = next((k, v) for k, v in members.items() if type(v) is not dict)
                raise BadRequest(
                    f"{where}[{_shown(namespace)}][{_shown(audience_id)}] is {_json_type(entry)}, "
                    'not a membership object like {"status": "realized"}'
                )
        return value
    raise BadRequest(
        f"{where} is {_json_type(value)}: expected a list of audience IDs or a segmentMembership map "
        '({"ups": {"<audience id>": {"status": "realized"}}})'
    )


def _time(value: Any, where: str) -> int | float | None:
    kind = type(value)
    if kind is int or (kind is float and math.isfinite(value)):
        return value  # type: ignore[no-any-return]
    if kind is str:
        if _INSTANT_Z.fullmatch(value):  # what the Web SDK sends: 2026-11-28T09:37:18.878Z
            return datetime.fromisoformat(value).timestamp()
        try:
            parsed = parse_now(value)
        except LookupInputError:
            pass
        else:
            return parsed.timestamp() if isinstance(parsed, datetime) else parsed
    if value is None:
        return None
    raise BadRequest(
        f"{where} is {_shown(value)}: expected Unix seconds (1766599200), a date (2026-12-24) or an "
        "ISO 8601 instant (2026-12-24T18:00:00Z)"
    )


def _unknown_key(document: Mapping[str, Any], allowed: frozenset[str]) -> BadRequest:
    unknown = sorted(set(document) - allowed)[0]
    close = difflib.get_close_matches(unknown, sorted(allowed), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else f"; expected {', '.join(sorted(allowed))}"
    return BadRequest(f"unknown field {_shown(unknown)}{hint}")


class Datastreams:
    """The datastreams a request may name, by ID (any case) or by the file name the config
    gives them, known on either side."""

    def __init__(self, known: Mapping[str, str], ids: frozenset[str], named: bool) -> None:
        self._known = dict(known)  # reference -> ID
        for i in ids:
            self._known.setdefault(i, i)
        self._named = named  # False: no side is config, so no file names are known
        # a did-you-mean costs a search of every name; only the first bad lines are shown, so
        # a file of a million unknown datastreams gets a hint for these only
        self._hints = SHOWN_ERRORS

    def id_of(self, reference: Any, where: str) -> str:
        if type(reference) is not str or not reference:
            shown = "empty" if reference == "" else _json_type(reference)
            raise BadRequest(f"{where} is {shown}: expected a datastream ID or file name")
        found = self._known.get(reference) or self._known.get(datastream_key(reference))
        if found is not None:
            return found
        message = f"unknown datastream {_shown(reference)}: neither side knows it"
        self._hints -= 1
        close = difflib.get_close_matches(reference, sorted(self._known), n=1, cutoff=0.6) if self._hints >= 0 else None
        if close:
            message += f"; did you mean {close[0]!r}?"
        elif not self._named:
            message += " (both sides are artifacts, which know datastreams by ID only)"
        raise BadRequest(message)


def parse_request(raw: bytes, datastreams: Datastreams) -> Request:
    """The request on one line: a recorded request or a Web SDK request body (docs/replay.md)."""
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        raise BadRequest(f"not JSON (column {err.colno}): {err.msg}") from None
    if type(document) is not dict:
        raise BadRequest(f"a request is a JSON object, this line holds {_json_type(document)}")
    reference = document.get("datastream", _MISSING)
    if reference is _MISSING:
        if "body" in document or "configId" in document or "url" in document:
            return _web_sdk_request(document, datastreams)
        raise BadRequest(
            "a request needs 'datastream' (a recorded request) or 'configId'/'url' and 'body' "
            "(a Web SDK request body); see docs/replay.md"
        )
    if not document.keys() <= RECORD_KEYS:
        raise _unknown_key(document, RECORD_KEYS)
    datastream = datastreams.id_of(reference, "datastream")
    memberships = document.get("memberships", _NONE)
    if type(memberships) is not list or memberships:
        memberships = _memberships(memberships, "memberships")
    when = document.get("time")
    if when is not None:
        when = _time(when, "time")
    authenticated = document.get("authenticated", False)
    if type(authenticated) is not bool:
        raise BadRequest(f"authenticated is {_shown(authenticated)}: expected true or false")
    attributes = document.get("attributes")
    if attributes is not None and type(attributes) is not dict:
        raise BadRequest(f"attributes is {_json_type(attributes)}: expected an object of the profile's XDM attributes")
    return datastream, memberships, when, authenticated, attributes


def _web_sdk_request(document: dict[str, Any], datastreams: Datastreams) -> Request:
    if not document.keys() <= WEB_SDK_KEYS:
        if "authenticated" in document or "attributes" in document:
            raise BadRequest(
                "a Web SDK request is never authenticated and carries no attributes; write it as a "
                "recorded request ('datastream', 'memberships', 'authenticated', 'attributes')"
            )
        raise _unknown_key(document, WEB_SDK_KEYS)
    if ("configId" in document) == ("url" in document):
        raise BadRequest("a Web SDK request needs exactly one of 'configId' and 'url' (with ?configId=…)")
    if "url" in document:
        url = document["url"]
        if type(url) is not str:
            raise BadRequest(f"url is {_json_type(url)}: expected the request's URL or path with its query")
        config_ids = parse_qs(urlsplit(url).query).get("configId")
        if not config_ids:
            raise BadRequest(f"url {_shown(url)} has no configId query parameter")
        reference: Any = config_ids[0]
    else:
        reference = document["configId"]
    datastream = datastreams.id_of(reference, "configId")
    body = document.get("body")
    if type(body) is not dict:
        raise BadRequest(f"body is {_json_type(body)}: expected the Web SDK's request body, an object with 'events'")
    events = body.get("events")
    if type(events) is not list or not events or type(events[0]) is not dict:
        raise BadRequest("body.events must be a non-empty array of event objects")
    xdm = events[0].get("xdm", {})
    if type(xdm) is not dict:
        raise BadRequest(f"body.events[0].xdm is {_json_type(xdm)}, not an object")
    if "memberships" in document:
        memberships = _memberships(document["memberships"], "memberships")
    elif "segmentMembership" in xdm:
        memberships = _memberships(xdm["segmentMembership"], "body.events[0].xdm.segmentMembership")
    else:
        memberships = []
    if "time" in document:
        when = _time(document["time"], "time")
    else:
        when = _time(xdm.get("timestamp"), "body.events[0].xdm.timestamp")
    return datastream, memberships, when, False, None


# --- comparing answers -------------------------------------------------------------------------


@dataclass
class Example:
    kind: str
    line: int
    datastream: str
    alias: str
    before: Any = None
    after: Any = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "line": self.line, "datastream": self.datastream, "alias": self.alias,
            "before": self.before, "after": self.after,
        }


@dataclass
class AliasCount:
    changed: int = 0
    kinds: dict[str, int] = field(default_factory=dict)


@dataclass
class DatastreamCount:
    requests: int = 0
    changed: int = 0
    aliases: dict[str, AliasCount] = field(default_factory=dict)


@dataclass
class Report:
    base: str
    head: str
    source: str
    now: float  # the time of requests that carry none
    lines: int = 0  # lines read, blank ones included up to the last request
    replayed: int = 0
    changed: int = 0
    bad_lines: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # the first SHOWN_ERRORS
    datastreams: dict[str, DatastreamCount] = field(default_factory=dict)
    kinds: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[Example]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # datastream ID -> file name
    audience_names: dict[str, str] = field(default_factory=dict)

    def bad(self, line: int, message: str) -> None:
        self.bad_lines += 1
        if len(self.errors) < SHOWN_ERRORS:
            self.errors.append((line, message))


def _ids(segments: list[dict[str, str]]) -> list[str]:
    return [s["id"] for s in segments]


def _limited(ids: list[str]) -> list[str]:
    return sorted(ids)[:SHOWN_IDS] + ([f"… and {len(ids) - SHOWN_IDS} more"] if len(ids) > SHOWN_IDS else [])


def compare_answers(report: Report, line: int, datastream: str, old: list[dict[str, Any]], new: list[dict[str, Any]]) -> None:
    """Count one request whose answers differ: each alias whose item changed, by kind."""
    before = {item["alias"]: item for item in old}
    after = {item["alias"]: item for item in new}
    counts = report.datastreams[datastream]
    changed = False
    for alias in sorted(before.keys() | after.keys()):
        o, n = before.get(alias), after.get(alias)
        if o == n:
            continue
        found: list[Example] = []
        if o is None:
            found.append(Example("destination_added", line, datastream, alias, None, _ids(n["segments"]) if n else []))
        elif n is None:
            found.append(Example("destination_removed", line, datastream, alias, _ids(o["segments"]), None))
        else:
            if o["destinationId"] != n["destinationId"]:
                found.append(Example("destination_id_changed", line, datastream, alias, o["destinationId"], n["destinationId"]))
            old_ids, new_ids = set(_ids(o["segments"])), set(_ids(n["segments"]))
            if new_ids - old_ids:
                found.append(Example("segments_added", line, datastream, alias, None, _limited(list(new_ids - old_ids))))
            if old_ids - new_ids:
                found.append(Example("segments_removed", line, datastream, alias, _limited(list(old_ids - new_ids)), None))
            if old_ids == new_ids and o["segments"] != n["segments"]:
                was = {s["id"]: s["namespace"] for s in o["segments"]}
                moved = sorted(s["id"] for s in n["segments"] if was.get(s["id"]) != s["namespace"])
                found.append(Example("namespace_changed", line, datastream, alias, None, _limited(moved)))
            if o.get("attributes") != n.get("attributes"):
                found.append(Example("attributes_changed", line, datastream, alias, o.get("attributes"), n.get("attributes")))
        if not found:
            continue
        changed = True
        alias_count = counts.aliases.get(alias)
        if alias_count is None:
            alias_count = counts.aliases[alias] = AliasCount()
        alias_count.changed += 1
        for example in found:
            alias_count.kinds[example.kind] = alias_count.kinds.get(example.kind, 0) + 1
            report.kinds[example.kind] = report.kinds.get(example.kind, 0) + 1
            shown = report.examples.setdefault(example.kind, [])
            if len(shown) < EXAMPLES_PER_KIND:
                shown.append(example)
    if changed:
        report.changed += 1
        counts.changed += 1


# --- the run -----------------------------------------------------------------------------------


@dataclass
class Sides:
    base: Side
    head: Side
    old: Any = None  # runtime.Artifact, when both sides are usable
    new: Any = None
    datastreams: Datastreams | None = None
    names: dict[str, str] = field(default_factory=dict)
    audience_names: dict[str, str] = field(default_factory=dict)


def artifact_of(side: Side) -> Any:
    """The side's body as the runtime answers from it: encoded as ``build`` writes it and
    loaded with ``cpcompile.runtime``."""
    from . import runtime
    from .artifact_format.document import encode_document

    assert side.body is not None
    _, json_bytes = encode_document(side.body)
    return runtime.loads(json_bytes)


def load_sides(base: str, head: str, root: Path) -> Sides:
    """Both sides read as ``diff`` reads them (SideError for one that names nothing usable);
    when both are usable, each loaded into a runtime artifact, and the datastream file names
    and audience names of those that are config."""
    parse = SharedParse()
    with paused_gc():
        old, new = read_side(base, root, parse), read_side(head, root, parse)
    if old.body is None or new.body is None:
        return Sides(old, new)
    return sides_of(old, new)


def sides_of(base: Side, head: Side) -> Sides:
    """Two usable sides (as ``diff`` read them) loaded into the runtime, with their names."""
    sides = Sides(base, head)
    with paused_gc():
        sides.old, sides.new = artifact_of(base), artifact_of(head)
    return with_names(sides)


def with_names(sides: Sides) -> Sides:
    from .project import datastream_index

    references: dict[str, str] = {}
    for side in (sides.head, sides.base):  # head's names first
        if side.project is None:
            continue
        for key, entry in datastream_index(side.project).items():
            references.setdefault(key, entry.model.id)
            sides.names.setdefault(entry.model.id, entry.doc.source.stem)
        for catalog in side.project.catalogs:
            for audience in catalog.model.audiences:
                sides.audience_names.setdefault(audience.id, audience.name)
    ids = frozenset((*sides.old.datastream_ids, *sides.new.datastream_ids))
    named = sides.base.project is not None or sides.head.project is not None
    sides.datastreams = Datastreams(references, ids, named)
    return sides


def replay(sides: Sides, stream: IO[bytes], source: str, *, now: int | float | datetime | None = None) -> Report:
    """Answer every request of ``stream`` from both sides and count the answers that differ;
    a request without a time is answered at ``now`` (default: the clock when the run starts),
    so that both sides look at the same instant."""
    assert sides.datastreams is not None
    if now is None:
        now = time_module.time()
    elif isinstance(now, datetime):
        now = now.timestamp()
    report = Report(sides.base.label, sides.head.label, source, now)
    report.names, report.audience_names = sides.names, sides.audience_names
    old_lookup: Callable[..., list[dict[str, Any]]] = sides.old.lookup
    new_lookup: Callable[..., list[dict[str, Any]]] = sides.new.lookup
    datastreams = sides.datastreams
    counts = report.datastreams
    default_now = report.now
    last = 0
    # the answers are fresh, acyclic objects that die at once; the collector would only walk
    # the two artifacts again and again
    with paused_gc():
        for number, raw in lines(stream):
            last = number
            if raw is None:
                report.bad(number, f"longer than {MAX_LINE_BYTES // 1024} KiB; skipped")
                continue
            try:
                datastream, memberships, when, authenticated, attributes = parse_request(raw, datastreams)
                if when is None:
                    when = default_now
                old = old_lookup(datastream, memberships, now=when, attributes=attributes, authenticated=authenticated)
                new = new_lookup(datastream, memberships, now=when, attributes=attributes, authenticated=authenticated)
            except BadRequest as err:
                report.bad(number, str(err))
                continue
            except (TypeError, ValueError, OverflowError) as err:  # the runtime's word on a request it cannot answer
                report.bad(number, f"not a request the runtime answers: {err}")
                continue
            count = counts.get(datastream)
            if count is None:
                count = counts[datastream] = DatastreamCount()
            count.requests += 1
            if old != new:
                compare_answers(report, number, datastream, old, new)
    report.replayed = sum(c.requests for c in counts.values())
    report.lines = last
    return report


def as_dict(report: Report) -> dict[str, Any]:
    """The json form (docs/replay.md)."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "base": report.base,
        "head": report.head,
        "requests": report.source,
        "replayed": report.replayed,
        "changed": report.changed,
        "bad_lines": report.bad_lines,
        "kinds": {kind: report.kinds[kind] for kind in KINDS if kind in report.kinds},
        "datastreams": [
            {
                "datastream": ds,
                "name": report.names.get(ds),
                "requests": count.requests,
                "changed": count.changed,
                "aliases": [
                    {"alias": alias, "changed": a.changed, "kinds": {k: a.kinds[k] for k in KINDS if k in a.kinds}}
                    for alias, a in sorted(count.aliases.items())
                ],
            }
            for ds, count in sorted(report.datastreams.items())
        ],
        "examples": [e.as_dict() for kind in KINDS for e in report.examples.get(kind, [])],
        "errors": [{"line": line, "message": message} for line, message in report.errors],
    }
