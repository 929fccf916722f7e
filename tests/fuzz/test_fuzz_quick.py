"""Property: the quick check (cpcompile/quick.py) accepts only what the models accept, and gives
the same values.

Every file of the example config and the golden cases, parsed, then damaged as data (values of
the wrong type, unknown keys, odd Unicode, entries dropped or repeated) and as a whole value,
is checked both ways: whenever the quick check gives a record, pydantic's model accepts the same
data and holds equal fields of the same types, down to the last nested entry.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cpcompile import yamlsrc
from cpcompile.load import Refusal, check_model
from cpcompile.project import model_name
from cpcompile.quick import Record, check_quickly
from cpcompile.sources import Kind
from .fuzzkit import SEEDS, budget, config_values, keys, mutated_data

_KINDS = {kind.value: kind for kind in Kind}


def _documents() -> list[tuple[str, Any]]:
    found = []
    for tree in SEEDS.values():
        for path, data in sorted(tree.items()):
            kind = _KINDS.get(path.split("/", 1)[0])
            if kind is None or kind not in (Kind.DATASTREAM, Kind.DESTINATION, Kind.CATALOG, Kind.POLICY, Kind.SETTINGS):
                continue
            try:
                found.append((model_name(kind), yamlsrc.parse(data.decode("utf-8"))))
            except (UnicodeDecodeError, yamlsrc.YamlProblem):
                continue
    return found


DOCUMENTS = _documents()
# Values near the edge of what some field accepts, so that damaged documents often stay valid
# and the two checks are compared on what they accept, not only on what both refuse.
EDGE_VALUES = st.sampled_from([
    "", " ", "x", "X" * 256, "X" * 257, " padded ", "a\ud800b", "\u00e9t\u00e9", "\x00", "\u2028",
    "0F3A6C1E-2B7D-4E59-9C3A-1D2E3F4A5B6C", "0f3a6c1e-2b7d-4e59-9c3a-1d2e3f4a5b6c", "0f3a6c1e2b7d4e599c3a1d2e3f4a5b6c",
    "2026-12-01", "2026-12-01T08:00", "2026-12-01T08:00:00Z", "2026-12-01T09:00+01:00", "2026-12-01T08:00:00.5Z",
    "2026-02-30", "2026-W49-2", "20261201", 20261201, "9999-12-31", "0001-01-01T00:00:00-23:59",
    "C1", "c1", "C13", "RHD", "custom/team-a", "core/C1", "custom/", "person.name.firstName", "person.emails[0]",
    "mixed", "authenticated-only", "AND", "OR", "and", "enabled", "draft", "off", "warning", "error",
    "ups", "CustomerAudienceUpload", "edge", "streaming", "batch", "timestamp_ordered", "pdg", "*",
    "onsitePersonalization", "web-prod", "CP134", True, False, 0, 1, 30, 90, 91, 36500, 36501, -1, 2**63, 1.0,
    None, [], {}, ["C1"], [{"label": "C1"}], {"label": "C1"}, {"operator": "OR", "operands": [{"label": "C2"}]},
]).map(copy.deepcopy)  # a fresh copy each time: the damage changes lists and dicts in place


def assert_same(record: Any, held: Any, where: str = "") -> None:
    """``record`` (of the quick check) holds what ``held`` (of the model) holds, type for type."""
    if isinstance(record, Record):
        assert type(record).__name__ == type(held).__name__, where
        fields = getattr(type(held), "model_fields", None) or getattr(type(held), "__pydantic_fields__")
        assert list(record.__slots__) == list(fields), where
        for name in record.__slots__:
            assert_same(getattr(record, name), getattr(held, name), f"{where}.{name}")
    elif isinstance(record, list):
        assert type(held) is list and len(record) == len(held), where
        for i, (a, b) in enumerate(zip(record, held)):
            assert_same(a, b, f"{where}[{i}]")
    elif isinstance(record, dict):
        assert type(held) is dict and list(record) == list(held), where
        for key in record:
            assert_same(record[key], held[key], f"{where}.{key}")
    else:
        assert type(record) is type(held) and record == held, f"{where}: {record!r} != {held!r}"
        if hasattr(record, "tzinfo"):
            assert record.utcoffset() == held.utcoffset(), where


def check_both_ways(name: str, data: Any) -> None:
    record = check_quickly(name, data)
    try:
        held = check_model(name, data, quick=False)
    except Refusal:
        assert record is None, f"the quick check accepted what {name} refuses: {data!r}"
        return
    if record is not None:
        assert_same(record, held, name)


@pytest.mark.parametrize("index", range(len(DOCUMENTS)))
def test_every_seed_document_is_checked_alike(index: int) -> None:
    check_both_ways(*DOCUMENTS[index])


@settings(max_examples=budget(1000))
@given(data=st.data())
def test_damaged_documents_are_never_accepted_by_the_quick_check_alone(data: st.DataObject) -> None:
    name, document = data.draw(st.sampled_from(DOCUMENTS))
    check_both_ways(name, data.draw(mutated_data(document, config_values, keys)))


@settings(max_examples=budget(2000))
@given(data=st.data())
def test_documents_near_the_edge_are_checked_alike(data: st.DataObject) -> None:
    name, document = data.draw(st.sampled_from(DOCUMENTS))
    check_both_ways(name, data.draw(mutated_data(document, EDGE_VALUES, keys)))
