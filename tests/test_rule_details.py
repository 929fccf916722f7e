"""Rule behaviour beyond the golden cases: edges of windows, hints and catalog references."""

from __future__ import annotations

from pathlib import Path

from conftest import WEB_DATASTREAM, uuid, write_tree

from cpcompile.validate import validate_tree

AUDIENCE = uuid("a0", 1)
POLICY = uuid("3e", 1)
# the mapped audience in prod's catalog, on its active-on-edge policy: no CP147 for window tests
CATALOG = (
    f"sandbox: prod\nmerge_policies:\n  - id: {POLICY}\n    name: Default\n    active_on_edge: true\n"
    f"audiences:\n  - id: {AUDIENCE}\n    name: A\n    merge_policy: {POLICY}\n"
)


def codes(root: Path) -> list[str]:
    return [d.code for d in validate_tree(root).diagnostics]


def destination_with_window(start: str, end: str) -> str:
    return (
        f"id: {uuid('de', 1)}\nname: Home\nalias: home\ndatastream: web\n"
        f"audiences:\n  - id: {AUDIENCE}\n    start: {start}\n    end: {end}\n"
    )


def test_fractional_seconds_are_refused_not_widened(tmp_path: Path) -> None:
    write_tree(tmp_path, {
        "datastreams/web.yaml": WEB_DATASTREAM,
        "audiences/prod.yaml": CATALOG,
        "destinations/home.yaml": destination_with_window("2026-12-01T10:00:00.2Z", "2026-12-01T10:00:00.8Z"),
    })
    diagnostics = validate_tree(tmp_path).diagnostics
    assert [(d.code, d.line, d.hint) for d in diagnostics] == [
        ("CP121", 7, "write whole seconds: 2026-12-01T10:00:00Z"),
        ("CP121", 8, "write whole seconds: 2026-12-01T10:00:00Z"),
    ]


def test_same_day_window_is_one_whole_day(tmp_path: Path) -> None:
    write_tree(tmp_path, {
        "datastreams/web.yaml": WEB_DATASTREAM,
        "audiences/prod.yaml": CATALOG,
        "destinations/home.yaml": destination_with_window("2026-12-01", "2026-12-01"),
    })
    assert codes(tmp_path) == []


def test_end_instant_equal_to_start_is_empty(tmp_path: Path) -> None:
    write_tree(tmp_path, {
        "datastreams/web.yaml": WEB_DATASTREAM,
        "audiences/prod.yaml": CATALOG,
        "destinations/home.yaml": destination_with_window("2026-12-01T10:00:00Z", "2026-12-01T10:00:00Z"),
    })
    assert codes(tmp_path) == ["CP126"]


def test_enum_hint_ignores_case(tmp_path: Path) -> None:
    write_tree(tmp_path, {"audiences/prod.yaml": f"sandbox: prod\naudiences:\n  - id: {AUDIENCE}\n    name: A\n    namespace: UPS\n"})
    (diagnostic,) = validate_tree(tmp_path).diagnostics
    assert (diagnostic.code, diagnostic.hint) == ("CP121", "did you mean 'ups'?")


def test_unknown_merge_policy_is_reported_even_for_an_unmapped_audience(tmp_path: Path) -> None:
    write_tree(tmp_path, {
        "audiences/prod.yaml": (
            f"sandbox: prod\naudiences:\n  - id: {AUDIENCE}\n    name: A\n    merge_policy: {uuid('b0', 9)}\n"
        )
    })
    (diagnostic,) = validate_tree(tmp_path).diagnostics
    assert (diagnostic.code, diagnostic.file, diagnostic.line, diagnostic.col) == ("CP143", "audiences/prod.yaml", 5, 19)
