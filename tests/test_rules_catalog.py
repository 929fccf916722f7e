"""The catalog rules through `cpcompile validate` and `build`: edge eligibility (R13), held-back
rules while a catalog file is broken, hints that fit the case, ids in any case, guardrails."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from conftest import DATASTREAM_ID, WEB_DATASTREAM, uuid, write_tree

from cpcompile.cli import cli

POLICY, OTHER_POLICY = uuid("3e", 1), uuid("3e", 2)
A1, A2 = uuid("a0", 1), uuid("a0", 2)


def catalog(sandbox: str = "prod", *, audiences: str = "", policies: str | None = None) -> str:
    if policies is None:
        policies = f"  - id: {POLICY}\n    name: Default\n    active_on_edge: true\n"
    return (
        f"sandbox: {sandbox}\n"
        + (f"merge_policies:\n{policies}" if policies else "")
        + (f"audiences:\n{audiences}" if audiences else "")
    )


def audience(aid: str, *, policy: str | None = POLICY, extra: str = "") -> str:
    return f"  - id: {aid}\n    name: Audience\n" + (f"    merge_policy: {policy}\n" if policy else "") + extra


def home(*audience_ids: str, datastream: str = "web") -> str:
    items = "".join(f"  - id: {a}\n" for a in audience_ids)
    return f"id: {uuid('de', 1)}\nname: Home\nalias: home\ndatastream: {datastream}\naudiences:\n{items}"


def validate(runner, root: Path) -> list[dict]:
    result = runner.invoke(cli, ["validate", str(root), "--format", "json"])
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)["diagnostics"]


def codes(runner, root: Path) -> list[tuple[str, str]]:
    return [(d["code"], d["file"]) for d in validate(runner, root)]


# ------------------------------------------------------------------------ R13: edge eligibility


def test_a_mapped_audience_without_any_catalog_is_a_warning_naming_the_assumed_namespace(runner, tmp_path):
    write_tree(tmp_path, {"datastreams/web.yaml": WEB_DATASTREAM, "destinations/home.yaml": home(A1)})
    (diagnostic,) = validate(runner, tmp_path)
    assert (diagnostic["code"], diagnostic["severity"]) == ("CP147", "warning")
    assert "namespace 'ups' is assumed" in diagnostic["message"]
    assert "on edge was not checked" in diagnostic["message"]


def test_a_catalog_of_the_sandbox_makes_a_missing_audience_an_error_not_a_warning(runner, tmp_path):
    write_tree(tmp_path, {
        "datastreams/web.yaml": WEB_DATASTREAM,
        "audiences/prod.yaml": catalog(audiences=audience(A1)),
        "destinations/home.yaml": home(A1, A2),
    })
    assert codes(runner, tmp_path) == [("CP140", "destinations/home.yaml")]


def test_a_catalog_of_another_sandbox_only_leaves_the_warning(runner, tmp_path):
    write_tree(tmp_path, {
        "datastreams/web.yaml": WEB_DATASTREAM,
        "audiences/stage.yaml": catalog("stage", audiences=audience(uuid("a0", 9))),
        "destinations/home.yaml": home(A1),
    })
    assert codes(runner, tmp_path) == [("CP147", "destinations/home.yaml")]


def test_no_merge_policy_on_a_mapped_catalog_audience_is_a_warning_at_the_mapping(runner, tmp_path):
    write_tree(tmp_path, {
        "datastreams/web.yaml": WEB_DATASTREAM,
        "audiences/prod.yaml": catalog(audiences=audience(A1, policy=None) + audience(A2, policy=None)),
        "destinations/home.yaml": home(A1),
    })
    (diagnostic,) = validate(runner, tmp_path)  # A2 is not mapped: nothing to check
    assert (diagnostic["code"], diagnostic["file"], diagnostic["line"]) == ("CP145", "destinations/home.yaml", 6)
    assert "audiences/prod.yaml:7:5" in diagnostic["message"]


def test_no_active_on_edge_policy_is_one_error_for_the_sandbox(runner, tmp_path):
    policies = f"  - id: {POLICY}\n    name: Default\n  - id: {OTHER_POLICY}\n    name: CRM first\n"
    write_tree(tmp_path, {
        "datastreams/web.yaml": WEB_DATASTREAM,
        "audiences/prod.yaml": catalog(policies=policies, audiences=audience(A1) + audience(A2, policy=None)),
        "destinations/home.yaml": home(A1, A2),
    })
    (diagnostic,) = validate(runner, tmp_path)  # not CP141 for A1 nor CP145 for A2 besides
    assert (diagnostic["code"], diagnostic["file"], diagnostic["line"]) == ("CP146", "audiences/prod.yaml", 2)
    assert "2 mapped audiences" in diagnostic["message"]


def test_no_merge_policies_listed_at_all_is_not_cp146(runner, tmp_path):
    write_tree(tmp_path, {
        "datastreams/web.yaml": WEB_DATASTREAM,
        "audiences/prod.yaml": catalog(policies="", audiences=audience(A1, policy=None)),
        "destinations/home.yaml": home(A1),
    })
    assert codes(runner, tmp_path) == [("CP145", "destinations/home.yaml")]


def test_an_unmapped_sandbox_without_edge_policy_is_not_reported(runner, tmp_path):
    policies = f"  - id: {POLICY}\n    name: Default\n"
    write_tree(tmp_path, {"audiences/prod.yaml": catalog(policies=policies, audiences=audience(A1))})
    assert codes(runner, tmp_path) == []


# ------------------------------------------------------------------ R5: edge segmentation off


LOOKUP_DATASTREAM = WEB_DATASTREAM.replace("edge_segmentation: true", "edge_segmentation: false")


@pytest.mark.parametrize("evaluation", ["streaming", "batch", None])
def test_edge_segmentation_off_is_fine_for_audiences_not_evaluated_on_edge(runner, tmp_path, evaluation):
    extra = f"    evaluation: {evaluation}\n" if evaluation else ""
    write_tree(tmp_path, {
        "datastreams/web.yaml": LOOKUP_DATASTREAM,
        "audiences/prod.yaml": catalog(audiences=audience(A1, extra=extra)),
        "destinations/home.yaml": home(A1),
    })
    result = runner.invoke(cli, ["validate", str(tmp_path), "--strict"])
    assert (result.exit_code, result.stdout) == (0, "0 errors, 0 warnings in 3 files checked\n")


def test_edge_segmentation_off_warns_once_per_destination_at_its_first_edge_audience(runner, tmp_path):
    edge = "    evaluation: edge\n"
    write_tree(tmp_path, {
        "datastreams/web.yaml": LOOKUP_DATASTREAM,
        "audiences/prod.yaml": catalog(audiences=audience(A1) + audience(A2, extra=edge) + audience(uuid("a0", 3), extra=edge)),
        "destinations/home.yaml": home(A1, A2, uuid("a0", 3)),
    })
    (diagnostic,) = validate(runner, tmp_path)
    assert (diagnostic["code"], diagnostic["line"]) == ("CP134", 7)
    assert A2 in diagnostic["message"] and "(1 more edge audience in this destination)" in diagnostic["message"]


def test_edge_segmentation_off_without_a_catalog_is_only_the_catalog_warning(runner, tmp_path):
    write_tree(tmp_path, {"datastreams/web.yaml": LOOKUP_DATASTREAM, "destinations/home.yaml": home(A1)})
    assert codes(runner, tmp_path) == [("CP147", "destinations/home.yaml")]


# ------------------------------------------------------- broken catalog files hold rules back


def _broken_tree(tmp_path: Path, broken: str) -> None:
    """prod's catalog is split over two files; the audience's merge policy is in the broken one."""
    write_tree(tmp_path, {
        "datastreams/web.yaml": WEB_DATASTREAM,
        "audiences/prod-audiences.yaml": catalog(policies="", audiences=audience(A1)),
        "audiences/prod-policies.yaml": broken,
        "destinations/home.yaml": home(A1, A2),
    })


def test_a_schema_error_in_a_catalog_file_holds_back_its_sandbox_rules(runner, tmp_path):
    policies = f"  - id: {POLICY}\n    name: Default\n    active_on_edge: true\n    evaluation: Edge\n"
    _broken_tree(tmp_path, catalog(policies=policies))
    # not CP143 (the policy is in the broken file), not CP140 for A2 (it may be there too)
    assert codes(runner, tmp_path) == [("CP122", "audiences/prod-policies.yaml")]


def test_a_yaml_error_in_a_catalog_file_holds_back_every_sandbox(runner, tmp_path):
    _broken_tree(tmp_path, "sandbox: prod\nmerge_policies:\n\t- id: x\n")
    write_tree(tmp_path, {
        "audiences/stage.yaml": catalog("stage", audiences=audience(uuid("a0", 9), policy=uuid("3e", 9))),
    })
    assert codes(runner, tmp_path) == [("CP102", "audiences/prod-policies.yaml")]


def test_a_broken_catalog_of_another_sandbox_holds_nothing_back(runner, tmp_path):
    write_tree(tmp_path, {
        "datastreams/web.yaml": WEB_DATASTREAM,
        "audiences/prod.yaml": catalog(audiences=audience(A1, policy=uuid("3e", 9))),
        "audiences/stage.yaml": catalog("stage", audiences=audience(uuid("a0", 9), extra="    evaluation: Edge\n")),
        "destinations/home.yaml": home(A1, A2),
    })
    assert codes(runner, tmp_path) == [
        ("CP143", "audiences/prod.yaml"),
        ("CP121", "audiences/stage.yaml"),
        ("CP140", "destinations/home.yaml"),
    ]


def test_a_catalog_file_that_is_not_read_at_all_holds_back_every_sandbox(runner, tmp_path):
    _broken_tree(tmp_path, "sandbox: prod\n")
    (tmp_path / "audiences" / "prod-policies.yaml").write_bytes(b"sandbox: prod\n" + b"#" * (5 * 1024 * 1024))
    assert codes(runner, tmp_path) == [("CP110", "audiences/prod-policies.yaml")]


def test_without_broken_files_the_held_back_rules_are_reported(runner, tmp_path):
    _broken_tree(tmp_path, "sandbox: prod\n")
    assert codes(runner, tmp_path) == [("CP143", "audiences/prod-audiences.yaml"), ("CP140", "destinations/home.yaml")]


# ----------------------------------------------------------------- hints that fit their case


def test_a_merge_policy_copied_into_a_second_file_is_a_duplicate_not_two_edge_policies(runner, tmp_path):
    write_tree(tmp_path, {
        "audiences/prod-1.yaml": catalog(audiences=audience(A1)),
        "audiences/prod-2.yaml": catalog(audiences=audience(A2)),  # the policy copied over
    })
    (diagnostic,) = validate(runner, tmp_path)
    assert (diagnostic["code"], diagnostic["file"]) == ("CP130", "audiences/prod-2.yaml")
    assert diagnostic["hint"].startswith("remove the copy")


def test_two_different_active_on_edge_policies_say_to_turn_all_but_one_off(runner, tmp_path):
    policies = (
        f"  - id: {POLICY}\n    name: Default\n    active_on_edge: true\n"
        f"  - id: {OTHER_POLICY}\n    name: Other\n    active_on_edge: true\n"
    )
    write_tree(tmp_path, {"audiences/prod.yaml": catalog(policies=policies)})
    (diagnostic,) = validate(runner, tmp_path)
    assert diagnostic["code"] == "CP142"
    assert diagnostic["hint"].endswith("set active_on_edge: false on all but one")


def test_unknown_merge_policy_hint_names_the_sandbox(runner, tmp_path):
    write_tree(tmp_path, {"audiences/stage.yaml": catalog("stage", audiences=audience(A1, policy=uuid("3e", 9)))})
    (diagnostic,) = validate(runner, tmp_path)
    assert diagnostic["code"] == "CP143"
    assert diagnostic["hint"] == "list it under merge_policies in one catalog file of sandbox 'stage', or check the id"


# ------------------------------------------------------------------------------- ids and case


def test_datastream_and_audience_ids_in_capitals_resolve_and_compile_in_lower_case(runner, tmp_path):
    write_tree(tmp_path, {
        "datastreams/web.yaml": WEB_DATASTREAM,
        "audiences/prod.yaml": catalog(audiences=audience(A1, extra="    namespace: CustomerAudienceUpload\n")),
        "destinations/home.yaml": home(A1.upper(), datastream=DATASTREAM_ID.upper()),
    })
    result = runner.invoke(cli, ["validate", str(tmp_path), "--strict"])
    assert (result.exit_code, result.stdout) == (0, "0 errors, 0 warnings in 3 files checked\n")
    result = runner.invoke(cli, ["build", str(tmp_path), "--out", str(tmp_path / "build"), "--no-cache"])
    assert result.exit_code == 0, result.output
    body = json.loads((tmp_path / "build" / "artifact.json").read_bytes())["body"]
    assert list(body["datastreams"]) == [DATASTREAM_ID]
    audiences = body["datastreams"][DATASTREAM_ID]["audiences"]
    assert list(audiences) == [A1]
    assert audiences[A1]["namespace"] == "CustomerAudienceUpload"  # matched the catalog entry


def test_a_datastream_file_name_is_matched_as_written(runner, tmp_path):
    write_tree(tmp_path, {
        "datastreams/web.yaml": WEB_DATASTREAM,
        "audiences/prod.yaml": catalog(audiences=audience(A1)),
        "destinations/home.yaml": home(A1, datastream="Web"),
    })
    assert codes(runner, tmp_path) == [("CP132", "destinations/home.yaml")]


# ------------------------------------------------------------------------ new catalog fields


@pytest.mark.parametrize("days", [0, 91, "thirty", True])
def test_ttl_days_out_of_range_is_a_value_error(runner, tmp_path, days):
    extra = f"    namespace: CustomerAudienceUpload\n    ttl_days: {str(days).lower()}\n"
    write_tree(tmp_path, {"audiences/prod.yaml": catalog(audiences=audience(A1, extra=extra))})
    assert codes(runner, tmp_path) == [("CP121", "audiences/prod.yaml")]


@pytest.mark.parametrize("days", [1, 30, 90])
def test_ttl_days_on_an_uploaded_audience_is_fine(runner, tmp_path, days):
    extra = f"    namespace: CustomerAudienceUpload\n    ttl_days: {days}\n"
    write_tree(tmp_path, {"audiences/prod.yaml": catalog(audiences=audience(A1, extra=extra))})
    assert codes(runner, tmp_path) == []


def test_dataset_precedence_with_fifty_datasets_is_fine(runner, tmp_path):
    order = ", ".join(f"ds-{i}" for i in range(50))
    policies = (
        f"  - id: {POLICY}\n    name: Default\n    active_on_edge: true\n"
        f"    attribute_merge: dataset_precedence\n    dataset_order: [{order}]\n"
    )
    write_tree(tmp_path, {"audiences/prod.yaml": catalog(policies=policies)})
    assert codes(runner, tmp_path) == []


def test_ajo_with_edge_segmentation_is_fine(runner, tmp_path):
    write_tree(tmp_path, {"datastreams/web.yaml": WEB_DATASTREAM + "ajo: true\n"})
    assert codes(runner, tmp_path) == []


# ------------------------------------------------------------------------------- performance


def test_catalog_rules_stay_linear_on_a_large_config(runner, tmp_path):
    """4,000 catalog audiences mapped 250 at a time by 100 destinations (25,000 mappings)."""
    ids = [uuid("a0", i) for i in range(4000)]
    files = {
        "datastreams/web.yaml": WEB_DATASTREAM,
        "audiences/prod.yaml": catalog(audiences="".join(audience(a) for a in ids)),
    }
    for n in range(100):
        chosen = ids[(n * 37) % 3750:][:250]
        files[f"destinations/d{n}.yaml"] = home(*chosen).replace(uuid("de", 1), uuid("de", n)).replace(
            "alias: home", f"alias: home{n}"
        )
    write_tree(tmp_path, files)
    started = time.perf_counter()
    diagnostics = validate(runner, tmp_path)
    elapsed = time.perf_counter() - started
    assert {d["code"] for d in diagnostics} == {"CP150"}  # 100 destinations in one sandbox
    assert elapsed < 20, f"{elapsed:.1f} s"
