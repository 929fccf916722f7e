"""A build that checks and compiles again only what its changed files affect.

At scale nearly all of a config is destination files (the xl benchmark tree: 2,000 of 2,220
files, 16 of 20 MB), and a pull request changes a few of them. Everything else (datastreams,
catalogs, policies, the settings file, discovery's own findings, the options that change the
report) is the *context*: the rules about a destination read it, and nothing about one
destination depends on another except through the rules across destinations. So a build:

1. loads the context; if any of it fails to load, it is not incremental (the whole validation
   runs, as ``cpcompile validate`` does, and the build fails);
2. for each destination file whose path and content it has checked before under the same
   context (the same ``context digest``), takes that file's own diagnostics and its
   ``DestinationFacts`` from the cache, and loads and checks only the others
   (``rules.check_destination``);
3. runs the rules across destinations over every destination's facts (``rules.check_across``);
4. if it passes, takes each datastream's encoded piece from the cache when its destinations are
   the ones (paths and contents) it was compiled from, compiles only the others, and joins the
   pieces (``encode.join_fragments``).

Each step is the one a full build runs: with nothing in the cache, this is the full build. The
cache decides only which results are computed again, and its entries are authenticated like all
of the cache's (cache.py). tests/test_incremental.py holds builds after random edits to builds
from scratch: the same bytes and the same diagnostics.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Callable, NamedTuple

from . import rules, settings, sources
from .cache import Cache, input_digest
from .compiler import Counts, audience_namespaces, compile_body, compile_datastream, count
from .diagnostics import Diagnostic, diagnostic_from_dict, sorted_diagnostics
from .load import Parse, load_entry, load_project
from .project import Doc, Entry, Project
from .quick import pays_off
from .rule_context import Context, DestinationFacts
from .validate import validate_files
from .values import forget_checked_ids

if TYPE_CHECKING:
    from .artifact_format.encode import Fragment
    from .model import Catalog, Destination


@dataclass
class Compiled:
    """The artifact files' content: the document's header, its JSON and msgpack encodings."""

    header: dict[str, Any]
    json: bytes
    msgpack: bytes
    counts: Counts


@dataclass
class _Destination:
    """One destination file as this build knows it: from the cache or loaded now."""

    source: sources.SourceFile
    diagnostics: list[Diagnostic]
    facts: DestinationFacts | None  # None: the file did not load
    model: Destination | None = None  # loaded by this build


@dataclass
class Checked:
    """A validated config, and how to compile it."""

    diagnostics: list[Diagnostic]  # what validate.validate_files reports of the same files
    files_checked: int
    compile: Callable[[], Compiled]  # the artifact, for a config that passed
    catalogs: list[Entry[Catalog]]  # the catalog files that loaded
    max_catalog_age_days: int  # the settings' limit for CP148
    skipped: int  # files with errors before the cross-file rules, so not part of them


def check(discovery: sources.Discovery, cache: Cache | None, parse: Parse) -> Checked:
    """The diagnostics of the config ``discovery`` found, as validate.validate_files gives them,
    checking again only the destinations the cache has no record of under this context. When a
    file of the context (or discovery itself) has an error, the whole validation runs. A config
    small enough for the quick check to pay (quick.pays_off) is loaded with it: its entries may
    be quick.py's records (load.check_data)."""
    quick = pays_off(sum(len(source.text) for source in discovery.inputs()))
    max_age = settings.catalog_max_age_days(discovery.settings)
    checked = _check_by_destination(discovery, cache, parse, max_age, quick)
    if checked is not None:
        return checked
    result = validate_files(discovery, parse, quick=quick)
    compile = partial(compile_whole, result.project)
    return Checked(result.diagnostics, result.files_checked, compile, result.project.catalogs, max_age, result.skipped)


def compile_whole(project: Project) -> Compiled:
    body = compile_body(project)
    from .artifact_format.encode import encode  # a build's, not a validation's: msgpack

    document, json_bytes, msgpack_bytes = encode(body)
    return Compiled({k: v for k, v in document.items() if k != "body"}, json_bytes, msgpack_bytes, count(body))


def _compile_by_datastream(
    discovery: sources.Discovery, project: Project, digest: str, destinations: list[_Destination],
    cache: Cache | None, parse: Parse,
) -> Compiled:
    """Each datastream's piece from the cache when its destinations did not change, else
    compiled now; joined. Should a destination the cache answered for not load after all (the
    cache is authenticated, so only a cpcompile that loads differently could), the whole config
    is validated and compiled."""
    try:
        return _join_pieces(project, digest, destinations, cache, parse)
    except _NoLongerLoads:
        result = validate_files(discovery, parse)
        if result.exit_code() != 0:
            raise
        return compile_whole(result.project)


def _join_pieces(
    project: Project, digest: str, destinations: list[_Destination], cache: Cache | None, parse: Parse
) -> Compiled:
    namespaces: dict[str, str] | None = None
    by_datastream: dict[str, list[_Destination]] = {}
    for destination in destinations:
        if destination.facts is not None and destination.facts.datastream is not None:
            by_datastream.setdefault(destination.facts.datastream, []).append(destination)
    pieces: list[_Piece] = []
    for entry in project.datastreams:
        name, access = entry.model.id, entry.model.access
        own = by_datastream.get(name, [])
        key = input_digest((d.source for d in own), [f"context={digest}", f"datastream={name}", f"access={access}"])
        piece = _Piece.from_bytes(cache.blob("piece", key)) if cache is not None else None
        if piece is None or piece.fragment.datastream != name:
            if namespaces is None:
                namespaces = audience_namespaces(project)
            piece = _Piece.of(name, compile_datastream(access, _models(own, parse), namespaces))
            if cache is not None:
                cache.store_blob("piece", key, piece.to_bytes())
        pieces.append(piece)
    from .artifact_format.encode import join_fragments

    header, json_bytes, msgpack_bytes = join_fragments(p.fragment for p in pieces)
    audiences: set[bytes] = set()
    for piece in pieces:
        audiences.update(piece.audiences)
    counts = Counts(
        datastreams=len(pieces),
        destinations=sum(p.destinations for p in pieces),
        audiences=len(audiences),
        mappings=sum(p.mappings for p in pieces),
    )
    return Compiled(header, json_bytes, msgpack_bytes, counts)


class _NoLongerLoads(Exception):
    """A destination file the cache says loaded, with this content, does not load now."""


def _models(destinations: list[_Destination], parse: Parse) -> list[Destination]:
    """The models of ``destinations``, loading those the cache answered for."""
    models = []
    try:
        for destination in destinations:
            if destination.model is None:
                entry = load_entry(destination.source, [], parse)
                if not isinstance(entry, Entry):
                    raise _NoLongerLoads(destination.source.relpath)
                destination.model = entry.model
            models.append(destination.model)
    finally:
        forget_checked_ids()
    return models


def _check_by_destination(
    discovery: sources.Discovery, cache: Cache | None, parse: Parse, max_catalog_age_days: int, quick: bool
) -> Checked | None:
    if any(d.is_error for d in discovery.diagnostics):
        return None
    context = [f for f in discovery.inputs() if f.kind is not sources.Kind.DESTINATION]
    digest = input_digest(context, discovery.findings())
    context_files = [f for f in context if f.kind is not sources.Kind.SETTINGS]
    project, diagnostics = load_project(context_files, parse, quick=quick)
    if any(d.is_error for d in diagnostics):
        return None
    ctx = Context(project, None, max_catalog_age_days)
    state = _State.from_value(cache.value("state", digest)) if cache is not None else None
    context_diagnostics = state.context if state is not None else rules.check_context(ctx, clock=False)
    known = state.destinations if state is not None else {}
    destinations: list[_Destination] = []
    learnt = state is None
    try:
        for source in discovery.files:
            if source.kind is not sources.Kind.DESTINATION:
                continue
            seen = known.get(source.relpath)
            if seen is not None and seen.sha256 == source.sha256:
                destinations.append(_Destination(source, seen.diagnostics, seen.facts))
            else:
                destinations.append(_check_destination(ctx, source, parse, quick))
                learnt = True
    finally:
        forget_checked_ids()
    placed = [(d.facts, Doc(d.source)) for d in destinations if d.facts is not None]
    diagnostics = [
        *discovery.diagnostics, *diagnostics, *context_diagnostics, *rules.check_clock(ctx),
        *(diagnostic for d in destinations for diagnostic in d.diagnostics),
        *rules.check_across(ctx, placed),
    ]
    adjust, settings_problems = settings.load_settings(discovery.settings)
    diagnostics = [*settings.apply_settings(diagnostics, adjust), *settings_problems]
    if cache is not None and (learnt or len(known) != len(destinations)):
        records = {d.source.relpath: _Record(d.source.sha256, d.diagnostics, d.facts) for d in destinations}
        cache.store_value("state", digest, _State(context_diagnostics, records).to_value())
    checked = len(discovery.files) + discovery.unreadable + (discovery.settings is not None)
    compile = partial(_compile_by_datastream, discovery, project, digest, destinations, cache, parse)
    # the context loaded without an error: only destination files that did not load are left out
    skipped = sum(1 for d in destinations if d.facts is None and any(x.is_error for x in d.diagnostics))
    return Checked(sorted_diagnostics(diagnostics), checked, compile, project.catalogs, max_catalog_age_days, skipped)


def _check_destination(ctx: Context, source: sources.SourceFile, parse: Parse, quick: bool) -> _Destination:
    own: list[Diagnostic] = []
    entry = load_entry(source, own, parse, quick=quick)
    if not isinstance(entry, Entry):
        return _Destination(source, own, None)
    found, facts = rules.check_destination(ctx, entry)
    return _Destination(source, [*own, *found], facts, entry.model)


class _Record(NamedTuple):
    """A destination file checked under a context: its content's sha256, own diagnostics, facts."""

    sha256: str
    diagnostics: list[Diagnostic]
    facts: DestinationFacts | None


@dataclass
class _State:
    """What a build under one context learnt: the context's diagnostics that depend on its files
    alone, and each destination file's record, by path."""

    context: list[Diagnostic]
    destinations: dict[str, _Record]

    def to_value(self) -> dict[str, Any]:
        return {
            "context": [d.as_dict() for d in self.context],
            "destinations": {
                path: [r.sha256, [d.as_dict() for d in r.diagnostics], r.facts.as_dict() if r.facts else None]
                for path, r in self.destinations.items()
            },
        }

    @classmethod
    def from_value(cls, value: Any) -> _State | None:
        """The state ``to_value`` wrote, or None for anything else."""
        if value is None:
            return None
        try:
            destinations = {
                str(path): _Record(
                    str(sha256), [diagnostic_from_dict(d) for d in found],
                    None if facts is None else DestinationFacts.from_dict(facts),
                )
                for path, (sha256, found, facts) in value["destinations"].items()
            }
            return cls([diagnostic_from_dict(d) for d in value["context"]], destinations)
        except (KeyError, TypeError, ValueError, AttributeError):
            return None


@dataclass(frozen=True)
class _Piece:
    """One datastream's encoded piece of the artifact, with what the manifest counts of it."""

    fragment: Fragment
    destinations: int
    mappings: int
    audiences: list[bytes]  # the ids, UTF-8: only counted, across pieces

    @classmethod
    def of(cls, name: str, entry: dict[str, Any]) -> _Piece:
        mappings = sum(len(audience["mappings"]) for audience in entry["audiences"].values())
        audiences = [audience.encode() for audience in entry["audiences"]]
        from .artifact_format.encode import encode_fragment

        return cls(encode_fragment(name, entry), len(entry["destinations"]), mappings, audiences)

    # stored as: a line of JSON with the lengths and counts, then the JSON piece, the msgpack
    # piece and the audience ids, one a line (an audience id is a UUID: it holds no newline)
    def to_bytes(self) -> bytes:
        audiences = b"\n".join(self.audiences)
        head = {
            "datastream": self.fragment.datastream, "json": len(self.fragment.json), "msgpack": len(self.fragment.msgpack),
            "destinations": self.destinations, "mappings": self.mappings, "audiences": len(self.audiences),
        }
        return b"".join((json.dumps(head).encode(), b"\n", self.fragment.json, self.fragment.msgpack, audiences))

    @classmethod
    def from_bytes(cls, data: bytes | None) -> _Piece | None:
        if data is None:
            return None
        try:
            line, _, rest = data.partition(b"\n")
            head = json.loads(line)
            json_end = head["json"]
            msgpack_end = json_end + head["msgpack"]
            audiences = rest[msgpack_end:].split(b"\n") if head["audiences"] else []
            if len(audiences) != head["audiences"]:
                return None
            from .artifact_format.encode import Fragment

            fragment = Fragment(str(head["datastream"]), rest[:json_end], rest[json_end:msgpack_end])
            return cls(fragment, int(head["destinations"]), int(head["mappings"]), audiences)
        except (KeyError, TypeError, ValueError):
            return None

