"""A loaded artifact and the hot path: ``Artifact.lookup`` and ``Artifact.lookup_shared``.

``lookup`` does, per request: one dict lookup for the datastream; one C-level set intersection
of the profile's audience IDs with the datastream's audiences (``dict.keys() & ids`` iterates
the smaller side in C, so a 50-membership profile costs about as much as 50 bare dict probes);
then work only for the few audiences that hit: for the common request (a collection of IDs,
the current time, no attributes) from the datastream's plan (``_plan``), for any other by
walking them in ID order (``_segments``). The clock is read only if the datastream (for the
plan) or a hit has a time window. Everything ``lookup`` returns is built
fresh per call, so callers may mutate it; ``lookup_shared`` answers from the plan with
read-only segments shared between answers. A datastream's audiences may still be undecoded
bytes, proven at load (``_lazy``): the first lookup that names the datastream decodes them.
"""

from __future__ import annotations

import _thread
from bisect import bisect_right, insort

# collections.abc re-exports Mapping from here; importing collections.abc itself would load
# the whole collections package (~1.5 ms) on every replica for an isinstance fallback
from _collections_abc import Mapping
from itertools import accumulate, chain, compress, repeat
from math import isfinite
from operator import itemgetter
from time import time as _time

from cpcompile.runtime._gc import made_in_bulk
from cpcompile.runtime._index import _hex_ids, build_index

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Iterable, List, Union

    from typing import Optional, Tuple

    from cpcompile.runtime._index import AttributeSpecs, DatastreamIndex, Destination
    from cpcompile.runtime._lazy import Spans

    # (audience ID -> key, index -> segment (None before its first hit), the first key past
    # every index, such a key -> the indexes it stands for, index -> destination, destination
    # -> the first index of the next one, each destination's item without segments,
    # destination -> its first index, index -> audience ID, (since, until) the plan holds or
    # None for always)
    Plan = Tuple[
        Dict[str, int], List[Optional["_Segment"]], int, Dict[int, Tuple[int, ...]], List[int],
        List[int], Tuple[Dict[str, Any], ...], List[int], List[str],
        Optional[Tuple[float, float]],
    ]

    Memberships = Union[Iterable[str], Mapping[str, Mapping[str, Any]]]
    Payload = List[Dict[str, Any]]

# containers of audience IDs that the hot path intersects directly; anything else goes through
# _found, which tells a segmentMembership map, a bare string and other iterables apart
_ID_COLLECTIONS = frozenset((list, tuple, set, frozenset, type({}.keys())))
_NEG_INF = float("-inf")
_INF = float("inf")
_MISSING = object()
# XDM segmentMembership statuses that mean "member"; anything else (exited, other spellings,
# unknown values, no status) does not count: fail closed
_MEMBER_STATUSES = frozenset(("realized", "existing"))
# JSON numbers a JavaScript client reads exactly: integers up to 2**53 - 1 in magnitude
_MAX_SAFE_INTEGER = 2**53 - 1


class Stats:
    """Counters of one artifact's lookups, all answered without raising.

    ``unknown_datastreams``: requests for a datastream the artifact does not know (answered
    with ``[]``). ``ignored_statuses``: ``segmentMembership`` entries of mapped audiences that
    did not count because their status is not ``realized`` or ``existing`` (``exited``,
    another spelling, none, not a string, or an entry that is not an object).
    ``refused_unauthenticated``: unauthenticated requests for an ``authenticated-only``
    datastream (answered with ``[]``).
    """

    __slots__ = ("unknown_datastreams", "ignored_statuses", "refused_unauthenticated", "_lock")

    def __init__(self) -> None:
        self.unknown_datastreams = 0
        self.ignored_statuses = 0
        self.refused_unauthenticated = 0
        # `+=` on an attribute is not atomic across threads
        self._lock = _thread.allocate_lock()

    def count_unknown_datastream(self) -> None:
        with self._lock:
            self.unknown_datastreams += 1

    def count_ignored_statuses(self, n: int) -> None:
        with self._lock:
            self.ignored_statuses += n

    def count_refused_unauthenticated(self) -> None:
        with self._lock:
            self.refused_unauthenticated += 1

    def __repr__(self) -> str:
        return (
            f"Stats(unknown_datastreams={self.unknown_datastreams}, "
            f"ignored_statuses={self.ignored_statuses}, "
            f"refused_unauthenticated={self.refused_unauthenticated})"
        )


class Artifact:
    """A verified, indexed artifact. Immutable; safe to share between threads.

    Make one with ``cpcompile.runtime.load`` / ``loads``; the constructor takes a document
    that ``artifact_format.document.read_document`` has verified and checks the shape of its body.
    """

    __slots__ = ("_revision", "_datastream_ids", "_index", "_pending", "stats")

    def __init__(self, document: dict[str, Any], audiences_at: Spans | None = None) -> None:
        """``audiences_at``: where the (proven) audiences objects of datastreams whose
        ``audiences`` in ``document`` are left empty are in the file (``_lazy``); each is
        decoded on the first lookup that needs it."""
        self._revision: str = document["revision"]
        self._index = build_index(document["body"], document["schema_version"])
        self._datastream_ids = tuple(sorted(self._index))
        self._pending: dict[str, tuple[DatastreamIndex, bytes, int, int]] = {}
        if audiences_at:
            for datastream_id, (data, start, end) in audiences_at.items():
                self._pending[datastream_id] = (self._index.pop(datastream_id), data, start, end)
        self.stats = Stats()

    def prepare(self) -> Artifact:
        """Decode every datastream's audiences and make its plan now, rather than on the first
        lookup that needs them; return the artifact. For a server that loads in the
        background (``ArtifactHolder`` does this before an artifact becomes current), so that
        no request pays for it. Answers are the same either way."""
        for datastream_id in list(self._pending):
            self._decoded(datastream_id)
        for entry in list(self._index.values()):
            if entry[5][2] is None:
                _plan(entry)
        return self

    def _decoded(self, datastream_id: Any) -> DatastreamIndex | None:
        """The entry of a datastream whose audiences were not decoded yet (then decoded and
        kept), or None for a datastream the artifact does not know. Two threads may both decode
        one; either result is kept, and they are equal."""
        pending = self._pending.get(datastream_id)
        if pending is None:  # unknown, or another thread has just decoded it (index first)
            return self._index.get(datastream_id)
        import json

        skeleton, data, start, end = pending
        with made_in_bulk():
            audiences = json.loads(data[start:end])  # proven canonical and shaped: cannot fail
        entry: DatastreamIndex = (
            audiences, skeleton[1], skeleton[2], skeleton[3], _hex_ids(audiences), [None, {}, None]
        )
        self._index[datastream_id] = entry
        self._pending.pop(datastream_id, None)  # the last one lets go of the file's bytes
        return entry

    @property
    def revision(self) -> str:
        """``sha256:…``, the identity of the artifact's content."""
        return self._revision

    @property
    def datastream_ids(self) -> tuple[str, ...]:
        """Every datastream the artifact knows, also those without destinations, sorted."""
        return self._datastream_ids

    def __repr__(self) -> str:
        return f"<Artifact {self._revision[:19]}… {len(self._datastream_ids)} datastreams>"

    def lookup(
        self,
        datastream_id: str,
        memberships: Memberships,
        *,
        now: Any = None,
        attributes: Mapping[str, Any] | None = None,
        authenticated: bool = False,
    ) -> Payload:
        """The ``activation:pull`` payload (the Web SDK's ``results.destinations``).

        ``memberships``: audience IDs (any iterable of str), or an XDM ``segmentMembership``
        map ``{namespace: {audience_id: {"status": ...}}}``. ``now``: aware datetime (naive is
        UTC), Unix seconds, or None for the current time. ``attributes``: the profile's
        attributes as nested dicts, used only when ``authenticated``. See docs/runtime.md.
        """
        answer = self._from_plan(datastream_id, memberships, now, attributes, True)
        if answer is not None:
            return answer
        resolved = self._resolve(datastream_id, memberships, now, attributes, authenticated)
        if resolved is None:
            return []
        entry, found, now, attributes = resolved
        if attributes is not None:
            slots = _segments(entry, found, now) if found else None
            return _items_with_attributes(slots, entry[1], attributes)
        return _items(entry, found, now)

    def lookup_shared(
        self,
        datastream_id: str,
        memberships: Memberships,
        *,
        now: Any = None,
        attributes: Mapping[str, Any] | None = None,
        authenticated: bool = False,
    ) -> Payload:
        """``lookup``'s answer, built faster from segments shared between calls.

        Takes the same arguments, raises the same errors, counts the same statistics and
        returns an equal answer; the list, its items and their ``segments`` lists are new,
        but each segment (``{"id", "namespace"}``) is a read-only dict that this artifact
        gives to every answer with that audience: changing it raises ``TypeError``. Copy a
        segment (``dict(segment)``) to change it. See docs/runtime.md, "Shared answers".
        """
        answer = self._from_plan(datastream_id, memberships, now, attributes, False)
        if answer is None:
            return self.lookup(
                datastream_id, memberships, now=now, attributes=attributes,
                authenticated=authenticated,
            )
        return answer

    def _from_plan(
        self, datastream_id: Any, memberships: Any, now: Any, attributes: Any, fresh: bool
    ) -> Payload | None:
        """The answer to the common request from the datastream's plan (``_plan``), or None for
        any other request. The common request: a datastream the artifact knows by this exact
        ID and that answers anyone, a collection of IDs (``_ID_COLLECTIONS``), the current
        time, no attributes. ``fresh``: each segment is a new dict, else the plan's read-only
        one.

        The hot path of both lookups, in one function (each call it would make costs about
        0.1 µs of a dense answer's 8); audiences hit for the first time go through
        ``_first_hits``.
        """
        entry = self._index.get(datastream_id) if type(datastream_id) is str else None
        if entry is None and self._pending:
            entry = self._decoded(datastream_id)
        if (
            entry is None
            or type(memberships) not in _ID_COLLECTIONS
            or now is not None
            or attributes is not None
            or entry[3]  # authenticated-only
        ):
            return None
        plan = entry[5][2]
        if plan is None or (plan[9] and not plan[9][0] <= _time() < plan[9][1]):
            plan = _plan(entry)
        keys = plan[0]  # every audience of the datastream has a key
        # intersecting with the plan's keys (rather than the audiences) finds their entries in
        # the CPU caches when they are read next
        found = _found_ids(keys, memberships, entry[4])
        if len(found) > 1:  # one C-level call reads every key (a map of keys.__getitem__
            ordered = sorted(itemgetter(*found)(keys))  # costs a third more)
        elif found:
            ordered = [keys[next(iter(found))]]
        else:
            return []
        if ordered[0] < 0:
            if ordered[0] < -1:  # audiences hit for the first time
                ordered = _first_hits(plan, entry[0], found)
            del ordered[: bisect_right(ordered, -1)]  # audiences without an active mapping
            if not ordered:
                return []
        segments = plan[1]
        past = plan[2]
        while ordered[-1] >= past:  # an audience on several destinations: the indexes it
            for index in plan[3][ordered.pop()]:  # stands for (at least two, all below `past`)
                if segments[index] is None:  # its first hit
                    _made(plan, entry[0], index)
                insort(ordered, index)
        # the indexes are ordered by destination, so each new destination starts a new item (a
        # loop beats bisecting for each destination's bounds and cutting one list of segments,
        # or itertools.groupby, even for 50 hits; and one loop for both kinds of segments, with
        # a test of `fresh` for each, costs 4 ns a segment)
        destination_of = plan[4]
        ends = plan[5]
        heads = plan[6]
        items = []
        limit = 0  # the first index of the next destination: an index past it starts an item
        for index in ordered:
            segment = {**segments[index]} if fresh else segments[index]
            if index >= limit:
                destination = destination_of[index]
                limit = ends[destination]
                item = heads[destination].copy()
                item["segments"] = part = [segment]
                items.append(item)
            else:
                part.append(segment)
        return items

    def lookup_bytes(
        self,
        datastream_id: str,
        memberships: Memberships,
        *,
        now: Any = None,
        attributes: Mapping[str, Any] | None = None,
        authenticated: bool = False,
    ) -> bytes:
        """The same payload as ``lookup``, already encoded: UTF-8 JSON, compact, ready to send.

        Takes the same arguments, raises the same errors and counts the same statistics as
        ``lookup``; ``json.loads`` of the result equals ``lookup``'s answer. Built from
        fragments encoded once per audience and destination, so no payload objects are made.
        """
        resolved = self._resolve(datastream_id, memberships, now, attributes, authenticated)
        if resolved is None:
            return b"[]"
        entry, found, now, attributes = resolved
        if attributes is not None:
            slots = _segments(entry, found, now) if found else None
            return _dumps(_items_with_attributes(slots, entry[1], attributes))
        return _encoded(entry, found, now)

    def _resolve(
        self,
        datastream_id: Any,
        memberships: Any,
        now: Any,
        attributes: Any,
        authenticated: bool,
    ) -> tuple[DatastreamIndex, set[str], float | None, Mapping[str, Any] | None] | None:
        """Check the arguments and find the hits: ``(entry, audience IDs that hit, now in
        seconds or None, attributes to project or None)``, or None for an empty answer."""
        try:
            entry = self._index.get(datastream_id)
        except TypeError:  # unhashable
            raise _not_a_datastream_id(datastream_id) from None
        if entry is None and self._pending:
            entry = self._decoded(datastream_id)
        if entry is None:
            entry = self._index.get(_lower(datastream_id))
            if entry is None and self._pending:
                entry = self._decoded(_lower(datastream_id))
            if entry is None:
                self._unknown(datastream_id, memberships)
                return None
        audiences = entry[0]
        if entry[3] and not authenticated:  # authenticated-only
            self._refused(memberships, now, attributes)
            return None
        if type(memberships) in _ID_COLLECTIONS:
            found = _found_ids(audiences, memberships, entry[4])
        else:
            found = self._found(audiences, memberships, entry[4])
        if now is not None:
            now = epoch_seconds(now)
        if attributes is not None:
            _check_attributes(attributes)
            if authenticated and entry[2]:
                return entry, found, now, attributes
        if not found:
            return None
        return entry, found, now, None

    def _found(self, audiences: dict[str, Any], memberships: Any, hex_ids: bool) -> set[str]:
        """The audience IDs of ``memberships`` that the datastream maps, for inputs other than
        the common ID collections."""
        if isinstance(memberships, Mapping):
            found, ignored = _found_in_membership_map(audiences, memberships, hex_ids)
            if ignored:
                self.stats.count_ignored_statuses(ignored)
            return found
        _check_memberships(memberships)
        ids = list(memberships)  # may be a one-shot iterator, and is read twice
        try:
            return audiences.keys() & ids | audiences.keys() & _lowered(ids)
        except TypeError:
            return _found_in_mixed(audiences, ids)

    def _refused(self, memberships: Any, now: Any, attributes: Any) -> None:
        """An unauthenticated request for an authenticated-only datastream: nothing, but
        arguments of the wrong type still raise, as for any other request."""
        _check_memberships(memberships)
        if now is not None:
            epoch_seconds(now)
        _check_attributes(attributes)
        self.stats.count_refused_unauthenticated()

    def _unknown(self, datastream_id: object, memberships: Any) -> None:
        if not isinstance(datastream_id, str):
            raise _not_a_datastream_id(datastream_id)
        _check_memberships(memberships)
        self.stats.count_unknown_datastream()


class _Segment(dict[str, str]):
    """A segment that ``lookup_shared`` gives to many answers: a dict that cannot be changed
    (``dict.__setitem__`` and the like, called on purpose, are not guarded against). A copy
    (``dict(s)``, ``copy.copy``, pickling) is a plain dict."""

    __slots__ = ()

    def _read_only(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("a segment of lookup_shared is shared between answers: copy it to change it")

    __setitem__ = __delitem__ = __ior__ = _read_only
    update = pop = popitem = clear = setdefault = _read_only

    def copy(self) -> dict[str, str]:
        return dict(self)

    def __reduce__(self) -> Any:
        return dict, (dict(self),)


def _plan(entry: DatastreamIndex) -> Plan:
    """What the lookups answer a datastream's common requests from, for the instants around
    now; kept in the entry's slot for them (two threads that make one store equal values).

    Every mapping active at ``now`` gets an index, its place in the order by destination, then
    audience ID (audiences are in ID order), so that sorting the indexes of a profile's hits
    orders them the same way, and an index at or past the first of the next destination starts
    that destination's item. An audience with one active mapping (the usual case) has its
    index as its key once its segment is made, and ``-2 - its destination`` until then, below
    every index (see ``_first_hits``); one with several has a key past every index, standing
    for its indexes; one with none has -1. Windows make this depend on time: the plan holds while no window
    starts or ends, i.e. in ``[the last window bound <= now, the next one)``, and is made
    again outside. Segments are made on their first hit: most audiences are never hit.
    """
    now = _time()
    audiences = entry[0]
    mapped: list[list[str]] = [[] for _ in entry[1]]  # each destination's audience IDs
    keys: dict[str, int] = {}
    several: list[tuple[str, list[tuple[int, int]]]] = []  # [(destination, place)] each
    bounds: set[int] = set()
    for audience_id, audience in audiences.items():
        mappings = audience["mappings"]
        if len(mappings) == 1 and len(mappings[0]) == 1:  # the usual: one, without a window
            destination = mappings[0]["destination"]
            keys[audience_id] = -2 - destination
            mapped[destination].append(audience_id)
            continue
        active = []
        for mapping in mappings:
            if len(mapping) != 1:  # only {"destination"} has no window
                start, end = mapping.get("start"), mapping.get("end")
                if start is not None:
                    bounds.add(start)
                if end is not None:
                    bounds.add(end)
                if not (_NEG_INF if start is None else start) <= now < (_INF if end is None else end):
                    continue
            ids = mapped[mapping["destination"]]
            active.append((mapping["destination"], len(ids)))
            ids.append(audience_id)
        if len(active) == 1:
            keys[audience_id] = -2 - active[0][0]
        elif active:
            several.append((audience_id, active))
        else:  # known, so that it does not look like an ID in another case, but no hit
            keys[audience_id] = -1
    window = None
    if bounds:
        window = (
            max((b for b in bounds if b <= now), default=_NEG_INF),
            min((b for b in bounds if b > now), default=_INF),
        )
    heads = tuple(
        {"type": "profileLookup", "destinationId": destination_id, "alias": alias}
        for destination_id, alias, _ in entry[1]
    )
    ends = list(accumulate(map(len, mapped)))
    past = ends[-1] if ends else 0
    starts = [0, *ends[:-1]]
    destination_of = list(chain.from_iterable(repeat(d, len(ids)) for d, ids in enumerate(mapped)))
    segments: list[_Segment | None] = [None] * past
    audience_of = list(chain.from_iterable(mapped))
    stands_for: dict[int, tuple[int, ...]] = {}
    plan = keys, segments, past, stands_for, destination_of, ends, heads, starts, audience_of, window
    for audience_id, active in several:
        key = keys[audience_id] = past + len(stands_for)
        stands_for[key] = tuple(starts[destination] + place for destination, place in active)
    entry[5][2] = plan
    return plan


def _first_hits(plan: Plan, audiences: dict[str, Any], found: set[str]) -> list[int]:
    """The sorted keys of these audiences of the plan, once those hit for the first time (a
    key below -1) have their segment and, as their key, their index. Two threads may make one
    segment; either is kept."""
    keys = plan[0]
    audience_of = plan[8]
    for audience_id in found:
        key = keys[audience_id]
        if key < -1:
            destination = -2 - key
            # a scan of the destination's audience IDs, once per audience and plan
            index = audience_of.index(audience_id, plan[7][destination], plan[5][destination])
            _made(plan, audiences, index)
            keys[audience_id] = index  # after its segment: who reads the index finds it
    return sorted(map(keys.__getitem__, found))


def _made(plan: Plan, audiences: dict[str, Any], index: int) -> None:
    """Make the segment of this index."""
    audience_id = plan[8][index]
    plan[1][index] = _Segment(id=audience_id, namespace=audiences[audience_id]["namespace"])


def _found_ids(audiences: dict[str, Any], ids: Any, hex_ids: bool) -> set[str]:
    """The IDs of a collection of audience IDs (``_ID_COLLECTIONS``) that are keys of
    ``audiences`` (the datastream's audiences, or a plan's keys for them)."""
    try:
        found: set[str] = audiences.keys() & ids
        # the compiler writes IDs in lower case; a request's are lowered only when one missed
        # and some are not lower case (join raises TypeError for a non-string, then each is
        # looked at)
        if len(found) < len(ids) and _upper("".join(ids), hex_ids):
            found |= audiences.keys() & _lowered(ids)
    except TypeError:
        found = _found_in_mixed(audiences, ids)
    return found


def _items(entry: DatastreamIndex, found: Iterable[str], now: float | None) -> Payload:
    """``lookup``'s payload for these hits, every object new."""
    destinations = entry[1]
    slots = _segments(entry, found, now)
    # only the destinations that got a segment: usually a few of the datastream's
    return [
        {
            "type": "profileLookup",
            "destinationId": destinations[d][0],
            "alias": destinations[d][1],
            "segments": slots[d],
        }
        for d in compress(range(len(slots)), slots)  # a C-level pass: lists are true
    ]


def _segments(
    entry: DatastreamIndex, found: Iterable[str], now: float | None
) -> list[list[dict[str, str]] | None]:
    """The segments of each destination (by index, ``None`` for none).

    Walking the hits in ID order sorts each list; a list indexed by destination (rather than a
    dict) keeps the destinations in order for free and is ~15 % faster for many hits. An
    audience mapped once without a window, the usual case, goes straight to its destination
    (cached on its first hit, see ``_segment_json``); the others' mappings are walked.
    """
    audiences = entry[0]
    known = entry[5][1]
    slots: list[list[dict[str, str]] | None] = [None] * len(entry[1])
    for audience_id in sorted(found):
        cached = known.get(audience_id)
        if cached is None:
            cached = known[audience_id] = _segment_json(audience_id, audiences[audience_id])
        _, only, namespace = cached
        if only is not None:
            segments = slots[only]
            if segments is None:
                slots[only] = [{"id": audience_id, "namespace": namespace}]
            else:
                segments.append({"id": audience_id, "namespace": namespace})
            continue
        for mapping in audiences[audience_id]["mappings"]:
            if len(mapping) != 1:  # only {"destination"} has no window
                if now is None:
                    now = _time()
                if not mapping.get("start", _NEG_INF) <= now < mapping.get("end", _INF):
                    continue
            destination = mapping["destination"]
            segments = slots[destination]
            if segments is None:
                slots[destination] = [{"id": audience_id, "namespace": namespace}]
            else:
                segments.append({"id": audience_id, "namespace": namespace})
    return slots


def _encoded(entry: DatastreamIndex, found: Iterable[str], now: float | None) -> bytes:
    """The payload of ``_segments``'s hits as JSON, from fragments encoded once: each
    destination's item up to its segments (all of a datastream's, on its first encoded
    answer) and each audience's segment (on its first hit), with its one destination when it
    is mapped once without a window, the usual case, which then skips its mappings. They are
    kept in the entry's slot; two threads that encode the same fragment store equal values."""
    audiences = entry[0]
    cache = entry[5]
    heads = cache[0]
    if heads is None:
        heads = cache[0] = _heads(entry[1])
    segment_json = cache[1]
    slots: list[list[str] | None] = [None] * len(heads)
    for audience_id in sorted(found):
        cached = segment_json.get(audience_id)
        if cached is None:
            cached = segment_json[audience_id] = _segment_json(audience_id, audiences[audience_id])
        fragment, only, _ = cached
        if only is not None:
            fragments = slots[only]
            if fragments is None:
                slots[only] = [fragment]
            else:
                fragments.append(fragment)
            continue
        for mapping in audiences[audience_id]["mappings"]:
            if len(mapping) != 1:  # only {"destination"} has no window
                if now is None:
                    now = _time()
                if not mapping.get("start", _NEG_INF) <= now < mapping.get("end", _INF):
                    continue
            destination = mapping["destination"]
            fragments = slots[destination]
            if fragments is None:
                slots[destination] = [fragment]
            else:
                fragments.append(fragment)
    items = [heads[d] + ",".join(slots[d] or ()) + "]}" for d in compress(range(len(slots)), slots)]
    return ("[" + ",".join(items) + "]").encode("utf-8")


def _heads(destinations: tuple[Destination, ...]) -> tuple[str, ...]:
    """Each destination's payload item as JSON, up to its segments' ``[``."""
    from json.encoder import encode_basestring as quote  # json.dumps's, ensure_ascii=False

    return tuple(
        '{"type":"profileLookup","destinationId":' + quote(destination_id)
        + ',"alias":' + quote(alias) + ',"segments":['
        for destination_id, alias, _ in destinations
    )


def _segment_json(audience_id: str, audience: dict[str, Any]) -> tuple[str, int | None, str]:
    """What the lookups keep of an audience after its first hit: its segment as JSON, its
    destination when it has exactly one mapping and that has no window (else None: its
    mappings are looked at per request), and its namespace."""
    from json.encoder import encode_basestring as quote  # json.dumps's, ensure_ascii=False

    namespace = audience["namespace"]
    mappings = audience["mappings"]
    only = mappings[0]["destination"] if len(mappings) == 1 and len(mappings[0]) == 1 else None
    return '{"id":' + quote(audience_id) + ',"namespace":' + quote(namespace) + "}", only, namespace


def _items_with_attributes(
    slots: list[list[dict[str, str]] | None] | None,
    destinations: tuple[Destination, ...],
    attributes: Mapping[str, Any],
) -> Payload:
    items = []
    for d, (destination_id, alias, specs) in enumerate(destinations):
        segments = slots[d] if slots is not None else None
        values = project_attributes(attributes, specs) if specs else None
        if not segments and not values:
            continue
        item: dict[str, Any] = {
            "type": "profileLookup",
            "destinationId": destination_id,
            "alias": alias,
            "segments": segments or [],
        }
        if values:
            item["attributes"] = values
        items.append(item)
    return items


def _dumps(payload: Payload) -> bytes:
    import json

    return json.dumps(
        payload, ensure_ascii=False, allow_nan=False, separators=(",", ":"), check_circular=False
    ).encode("utf-8")


def project_attributes(
    attributes: Mapping[str, Any], specs: AttributeSpecs
) -> dict[str, dict[str, Any]]:
    """``{target: {"value": v}}`` for each spec whose source path holds a single value.

    Missing paths, ``None`` and non-scalar values (objects, arrays) are left out: the
    destination carries only single-valued attributes. Values JSON cannot carry exactly are
    left out too: non-finite floats, integers beyond 2**53 - 1 in magnitude (a JavaScript
    client would round them; this also keeps out integers too long to print), and strings
    with lone surrogates (no UTF-8 for them).
    """
    values = {}
    for target, path in specs:
        value: Any = attributes
        for name in path:
            if type(value) is not dict and not isinstance(value, Mapping):
                value = _MISSING
                break
            value = value.get(name, _MISSING)
        if _json_scalar(value):
            values[target] = {"value": value}
    return values


def _json_scalar(value: object) -> bool:
    if isinstance(value, str):
        return value.isascii() or _encodable(value)
    if isinstance(value, int):  # bool too
        return -_MAX_SAFE_INTEGER <= value <= _MAX_SAFE_INTEGER
    if isinstance(value, float):
        return isfinite(value)
    return False


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _upper(joined: str, hex_ids: bool) -> bool:
    """Whether some ID in ``joined`` (IDs joined together) could match an audience only in
    lower case. Costs per 50 IDs: join 0.3 µs, then for audience IDs of hex digits (the
    compiler's UUIDs, where only A-F lower to an ID's characters) six C-level searches,
    0.2 µs; else lower() and a comparison, 0.6 µs (not islower(), which looks up every
    character in the Unicode database: 7 µs)."""
    if hex_ids:
        return (
            "A" in joined or "B" in joined or "C" in joined
            or "D" in joined or "E" in joined or "F" in joined
        )
    return joined.lower() != joined


def _lowered(ids: Iterable[str]) -> set[str]:
    return {_lower(i) for i in ids}


def _found_in_mixed(audiences: dict[str, Any], memberships: Any) -> set[str]:
    """Memberships with elements that are not strings: those never match; unhashable ones
    raise."""
    try:
        found: set[str] = audiences.keys() & memberships | audiences.keys() & _lowered(memberships)
        return found
    except TypeError as e:
        raise _bad_member(e) from None


def _found_in_membership_map(
    audiences: dict[str, Any], memberships: Mapping[str, Any], hex_ids: bool
) -> tuple[set[str], int]:
    """The mapped audiences with a membership entry under their own namespace whose status is
    ``realized`` or ``existing``, and how many such entries were ignored for their status.

    Audience IDs compare in lower case; namespaces exactly (``ups``,
    ``CustomerAudienceUpload``).
    """
    if "segmentMembership" in memberships:
        raise ValueError(
            "memberships: pass the segmentMembership map itself (xdm['segmentMembership']), "
            "not the object that holds it"
        )
    found = set()
    ignored = 0
    for namespace, members in memberships.items():
        if type(members) is not dict and not isinstance(members, Mapping):
            raise TypeError(
                f"segmentMembership[{namespace!r}] must map audience IDs to membership "
                f"objects, got {type(members).__name__}"
            )
        if _keys_upper(members, hex_ids):
            members = _by_lower_id(members)
        for audience_id in audiences.keys() & members.keys():
            if audiences[audience_id]["namespace"] != namespace:
                continue
            entry = members[audience_id]  # _is_member, inlined: this runs for every hit
            if type(entry) is dict or isinstance(entry, Mapping):
                status = entry.get("status")
                if type(status) is str and status in _MEMBER_STATUSES:
                    found.add(audience_id)
                    continue
            ignored += 1
    return found, ignored


def _keys_upper(members: Mapping[str, Any], hex_ids: bool) -> bool:
    try:
        return _upper("".join(members), hex_ids)
    except TypeError:  # keys that are not strings: they never match, but look at the rest
        return True


def _by_lower_id(members: Mapping[str, Any]) -> dict[Any, Any]:
    """The entries keyed by lower-case ID; where spellings collide, a member entry wins."""
    result: dict[Any, Any] = {}
    for key, entry in members.items():
        lowered = _lower(key)
        if lowered not in result or _is_member(entry):
            result[lowered] = entry
    return result


def _is_member(entry: object) -> bool:
    if type(entry) is not dict and not isinstance(entry, Mapping):
        return False
    status = entry.get("status")
    return type(status) is str and status in _MEMBER_STATUSES


def _check_memberships(memberships: Any) -> None:
    if isinstance(memberships, (str, bytes, bytearray)):
        raise TypeError(
            "memberships must be a collection of audience IDs or a segmentMembership map, "
            f"not a single {type(memberships).__name__}; wrap one ID in a list"
        )
    if isinstance(memberships, Mapping):
        return
    try:
        iter(memberships)
    except TypeError:
        raise TypeError(
            "memberships must be a collection of audience IDs or a segmentMembership map, "
            f"got {type(memberships).__name__}"
        ) from None


def _check_attributes(attributes: object) -> None:
    if attributes is not None and not isinstance(attributes, Mapping):
        raise TypeError(
            f"attributes must be a mapping (the profile's XDM attributes), "
            f"got {type(attributes).__name__}"
        )


def _bad_member(error: TypeError) -> TypeError:
    return TypeError(f"memberships must hold audience ID strings: {error}")


def _not_a_datastream_id(datastream_id: object) -> TypeError:
    return TypeError(f"datastream_id must be a str, got {type(datastream_id).__name__}")


def epoch_seconds(now: Any) -> float:
    """Unix seconds from an aware datetime (naive means UTC) or a finite int/float."""
    kind = type(now)
    seconds: float  # an int stays an int: a float would round Unix seconds beyond 2**53
    if kind is int:
        seconds = now
        return seconds
    if kind is float or (isinstance(now, (int, float)) and kind is not bool):
        if isfinite(now):
            seconds = now
            return seconds
        raise ValueError(f"now must be a finite number of seconds, got {now!r}")
    import datetime  # already loaded by whoever made a datetime, so free on that path

    if isinstance(now, datetime.datetime):
        if now.utcoffset() is None:
            now = now.replace(tzinfo=datetime.timezone.utc)
        seconds = now.timestamp()
        return seconds
    raise TypeError(
        f"now must be a datetime, Unix seconds (int or float) or None, got {kind.__name__}"
    )
