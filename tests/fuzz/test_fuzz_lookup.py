"""Property: hostile lookup inputs give a JSON payload or a TypeError/ValueError, nothing else.

``Artifact.lookup`` is called by request handlers with whatever the request and the profile
store hold: IDs of any type, membership lists and maps of the wrong shapes, statuses of any
type, times of any kind, attributes deep, huge, non-finite or not text. `cpcompile lookup`
gets the same from its options and files and never reports an internal error.
"""

from __future__ import annotations

import json
import tempfile
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from cpcompile import runtime
from cpcompile.cli import cli
from .fuzzkit import NOW_TEXTS, TOKENS, budget, check_payload, default_recursion_limit, mutated_bytes

DATASTREAM = "0f3a6c1e-2b7d-4e59-9c3a-1d2e3f4a5b6c"  # web-prod: attributes, mixed access
AUDIENCES = [
    "399eb3e7-3d50-47d3-ad30-a5ad99e8ab77", "499eb3e7-3d50-47d3-ad30-a5ad99e8ab77",
    "8c2d4f61-5a7e-4b3c-9d1e-2f3a4b5c6d7e", "6e7f8a9b-0c1d-4e2f-9a3b-4c5d6e7f8a9b",
    "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
]
NAMESPACES = ["ups", "CustomerAudienceUpload", "UPS", "", "ecid"]
STATUSES = ["realized", "existing", "exited", "EXITED", "Exited", "", "unknown", None, 1, True, [], {}, 1.5]

text = st.text(max_size=40)
odd_strings = st.one_of(text, st.sampled_from(["\udcff", "\ud800", "a\x00b", "\u202e", "\U0001f600" * 3]))
hashables = st.one_of(st.sampled_from(AUDIENCES), odd_strings, st.integers(), st.none(), st.booleans(), st.floats(), st.binary(max_size=8))
# one_of picks a branch uniformly, so repeating the well-formed branch makes most examples
# reach the code past the type checks, with one hostile part, rather than stop at the first
known_datastream = st.just(DATASTREAM)
datastream_ids = st.one_of(
    known_datastream, known_datastream, known_datastream,
    st.sampled_from(["5d1f0b7a-93c4-4c2e-8e61-7a0b2c3d4e5f", DATASTREAM.upper(), f" {DATASTREAM}"]),
    hashables, st.lists(text, max_size=2), st.dictionaries(text, text, max_size=1),
)
membership_objects = st.one_of(
    st.fixed_dictionaries({"status": st.sampled_from(STATUSES)}),
    st.fixed_dictionaries({}, optional={"status": st.one_of(st.sampled_from(STATUSES), odd_strings), "lastQualificationTime": text}),
    st.sampled_from(STATUSES), st.lists(text, max_size=2), odd_strings,
)
membership_maps = st.dictionaries(
    st.one_of(st.sampled_from(NAMESPACES), hashables),
    st.one_of(
        st.dictionaries(st.one_of(st.sampled_from(AUDIENCES), hashables), membership_objects, max_size=6),
        st.lists(st.sampled_from(AUDIENCES), max_size=3), odd_strings, st.none(), st.integers(),
    ),
    max_size=4,
)
well_formed_maps = st.dictionaries(
    st.sampled_from(NAMESPACES),
    st.dictionaries(st.sampled_from(AUDIENCES), st.fixed_dictionaries({"status": st.sampled_from(STATUSES)}), max_size=5),
    max_size=3,
)
memberships = st.one_of(
    st.lists(st.sampled_from(AUDIENCES), max_size=5), well_formed_maps, well_formed_maps,
    st.lists(st.one_of(st.sampled_from(AUDIENCES), hashables), max_size=8),
    st.lists(st.one_of(st.sampled_from(AUDIENCES), st.lists(text, max_size=1), st.dictionaries(text, text, max_size=1)), max_size=4),
    st.sets(st.sampled_from(AUDIENCES)), st.frozensets(hashables, max_size=4),
    st.tuples(st.sampled_from(AUDIENCES), hashables),
    st.lists(st.sampled_from(AUDIENCES), max_size=5).map(iter),  # a one-shot iterator
    st.lists(st.sampled_from(AUDIENCES), max_size=5).map(lambda ids: dict.fromkeys(ids).keys()),
    membership_maps, membership_maps.map(MappingProxyType),
    membership_maps.map(lambda m: {"segmentMembership": m}),
    odd_strings, st.binary(max_size=8), st.integers(), st.none(), st.floats(), st.booleans(),
)
offsets = st.integers(-(23 * 60 + 59), 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
nows = st.one_of(
    st.none(), st.none(), st.none(), st.integers(1_700_000_000, 1_900_000_000), st.integers(), st.sampled_from([10**400, -(10**400), 2**63, 2**1024]), st.floats(),
    st.datetimes(), st.datetimes(timezones=offsets),
    st.sampled_from([datetime.min.replace(tzinfo=timezone(timedelta(hours=23))), datetime.max.replace(tzinfo=timezone(timedelta(hours=-23)))]),
    st.dates(), st.booleans(), text, st.decimals(), st.fractions(), st.complex_numbers(), st.timedeltas(),
    st.sampled_from([Decimal("NaN"), Fraction(1, 3), float("nan"), float("-inf")]),
)


class HugeInt(int):
    """10**5000: an int too long for ``str()`` (over 4300 digits), with a repr Hypothesis can
    print in a failure report. JSON encoders print it with ``int.__repr__``, as a plain int."""

    def __repr__(self) -> str:
        return "HugeInt(10**5000)"


# values a profile store may hand over that JSON cannot carry as they are
TRICKY_LEAVES = [
    HugeInt(10**5000), float("nan"), float("inf"), float("-inf"), "\ud800", "\udcff", 2**64, -0.0, "",
    b"bytes", Decimal("NaN"), date(2026, 12, 24), True, None, [1, 2], {"nested": "object"},
]
leaves = st.one_of(
    st.sampled_from(TRICKY_LEAVES), st.sampled_from(TRICKY_LEAVES),
    st.none(), st.booleans(), st.integers(), st.floats(), odd_strings, st.binary(max_size=4), st.dates(),
    st.decimals(), st.lists(text, max_size=2),
)
attribute_trees = st.recursive(
    leaves,
    lambda inner: st.dictionaries(st.one_of(st.sampled_from(["person", "name", "firstName", "homeAddress", "city"]), text), inner, max_size=4),
    max_leaves=10,
)
attributes = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {"person": st.fixed_dictionaries({"name": st.fixed_dictionaries({"firstName": leaves})}), "homeAddress": attribute_trees}
    ),
    st.fixed_dictionaries({"person": st.fixed_dictionaries({"name": st.fixed_dictionaries({"firstName": leaves})}), "homeAddress": attribute_trees}),
    st.dictionaries(text, attribute_trees, max_size=3), st.dictionaries(text, attribute_trees, max_size=3).map(MappingProxyType),
    st.integers(1, 5000).map(lambda depth: _deep({"firstName": "x"}, depth)),
    st.lists(text, max_size=2), text, st.integers(),
)


def _deep(leaf: Any, depth: int) -> dict[str, Any]:
    for _ in range(depth):
        leaf = {"person": {"name": leaf}}
    return leaf


@pytest.fixture(scope="module")
def artifact(built):  # type: ignore[no-untyped-def]
    return runtime.loads(built.json_bytes)


# One hostile input at a time (or all at once): an example whose every input is of the wrong
# type stops at the first check and tells nothing about the rest.
WELL_FORMED = {
    "datastream_id": st.sampled_from([DATASTREAM, DATASTREAM, "5d1f0b7a-93c4-4c2e-8e61-7a0b2c3d4e5f", "no-such-datastream"]),
    "memberships": st.one_of(st.lists(st.sampled_from(AUDIENCES), max_size=5), well_formed_maps),
    "now": st.one_of(st.none(), st.integers(1_700_000_000, 1_900_000_000), st.datetimes(timezones=offsets)),
    "attributes": st.fixed_dictionaries(
        {"person": st.fixed_dictionaries({"name": st.fixed_dictionaries({"firstName": leaves})})}
    ),
}
HOSTILE = {"datastream_id": datastream_ids, "memberships": memberships, "now": nows, "attributes": attributes}


@settings(max_examples=budget(400))
@given(data=st.data(), hostile=st.sampled_from([*HOSTILE, "all", "none"]), authenticated=st.sampled_from([True, True, False]))
def test_lookup_answers_json_or_raises_type_or_value_error(
    artifact: runtime.Artifact, data: st.DataObject, hostile: str, authenticated: bool
) -> None:
    inputs = {
        name: data.draw(HOSTILE[name] if hostile in (name, "all") else WELL_FORMED[name], label=name)
        for name in HOSTILE
    }
    try:
        with default_recursion_limit():
            payload = artifact.lookup(
                inputs["datastream_id"], inputs["memberships"], now=inputs["now"],
                attributes=inputs["attributes"], authenticated=authenticated,
            )
    except (TypeError, ValueError) as err:
        event(f"refused: {type(err).__name__}")
        return
    event(f"answered: {'empty' if not payload else 'items'}")
    check_payload(payload)


class Blob(bytes):
    """File content whose repr in a failure report stays short."""

    def __repr__(self) -> str:
        return f"Blob({bytes(self[:80])!r}{'...' if len(self) > 80 else ''}, {len(self)} bytes)"


json_documents = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), odd_strings, st.sampled_from(AUDIENCES)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.one_of(text, st.sampled_from(AUDIENCES + NAMESPACES + ["status", "segmentMembership"])), inner, max_size=4)),
    max_leaves=12,
)


def _json_file(value: Any) -> bytes:
    """JSON text of ``value`` as a file would hold it; what JSON cannot hold becomes a string."""
    try:
        return json.dumps(value, default=repr, skipkeys=True).encode()
    except ValueError:  # an int too long to print
        return b"{}"


json_files = st.one_of(
    membership_maps.map(_json_file),
    json_documents.map(_json_file),
    attribute_trees.map(lambda d: _json_file({"person": {"name": {"firstName": d}}})),
    st.sampled_from([b"[" * 100_000, b'{"a":' * 990 + b"{}" + b"}" * 990, b"[" * 990 + b"]" * 990, b"1" * 5000, b"\xff\xfe", b"", b"NaN", b'["\\ud800"]', b'{"ups": {"399eb3e7-3d50-47d3-ad30-a5ad99e8ab77": "realized"}}']),
).flatmap(lambda data: st.one_of(st.just(data), mutated_bytes(data, TOKENS))).map(Blob)


_CLI_DEFAULTS = {
    "datastream_id": DATASTREAM, "segments": None, "membership_file": Blob(b"[]"), "attributes_file": None,
    "now": None, "authenticated": False, "envelope": False,
}
# Known members of each class, tried first on every run.
CLI_EXAMPLES = [
    {"membership_file": Blob(b"[" * 100_000)},  # json.loads: RecursionError
    {"segments": "x", "now": "\u00b2"},  # str.isdigit() but not int()
    {"segments": "x", "now": "9" * 5000},  # int() refuses over 4300 digits
    {"membership_file": Blob(b'{"ups": {"399eb3e7-3d50-47d3-ad30-a5ad99e8ab77": "realized"}}')},  # not an object
    {"segments": AUDIENCES[0], "authenticated": True, "attributes_file": Blob(b'{"person":{"name":{"firstName":"\\ud800"}}}')},
]


def _cli_examples(test):  # type: ignore[no-untyped-def]
    for overrides in reversed(CLI_EXAMPLES):
        test = example(**{**_CLI_DEFAULTS, **overrides})(test)
    return test


@settings(max_examples=budget(80))
@_cli_examples
@given(
    datastream_id=st.one_of(st.sampled_from([DATASTREAM]), odd_strings),
    segments=st.one_of(st.none(), odd_strings, st.lists(st.sampled_from(AUDIENCES), max_size=3).map(",".join)),
    membership_file=json_files,
    attributes_file=st.one_of(st.none(), json_files),
    now=st.one_of(st.none(), st.sampled_from(NOW_TEXTS), odd_strings),
    authenticated=st.booleans(),
    envelope=st.booleans(),
)
def test_lookup_cli_never_reports_an_internal_error(
    built, datastream_id: str, segments: str | None, membership_file: bytes, attributes_file: bytes | None,
    now: str | None, authenticated: bool, envelope: bool,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        args = ["lookup", str(built.out / "artifact.json"), "--datastream", datastream_id]
        if segments is not None:
            args += ["--segments", segments]
        else:
            (Path(tmp) / "members.json").write_bytes(membership_file)
            args += ["--membership-file", str(Path(tmp) / "members.json")]
        if attributes_file is not None:
            (Path(tmp) / "attributes.json").write_bytes(attributes_file)
            args += ["--attributes-file", str(Path(tmp) / "attributes.json")]
        if now is not None:
            args += ["--now", now]
        args += ["--authenticated"] * authenticated + ["--envelope"] * envelope
        with default_recursion_limit():
            result = CliRunner().invoke(cli, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 1, 2), f"exit {result.exit_code}: {result.output}"
    if result.exit_code == 0:
        check_payload(json.loads(result.stdout)["handle"][0]["payload"] if envelope else json.loads(result.stdout))
