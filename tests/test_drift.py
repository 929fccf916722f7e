"""`cpcompile drift`: the config against a fresh export of the platform. The config is imported
from tests/fixtures/platform/export/ (so it starts without drift); each scenario then changes a
copy of the export the way the platform changes, and the report is a snapshot."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Callable

import pytest

from conftest import REPO_ROOT, run, write_tree

EXPORT = REPO_ROOT / "tests" / "fixtures" / "platform" / "export"
DATASTREAM = """\
id: d5000000-0000-4000-8000-000000000001
name: Web
sandbox: prod
edge_segmentation: true
personalization_destinations: true
"""
A1, A2, A3, A4, A5 = (f"a0000000-0000-4000-8000-00000000000{n}" for n in range(1, 6))


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The config imported from the export once; each test gets a copy (``config``)."""
    root = tmp_path_factory.mktemp("imported") / "config"
    write_tree(root, {"datastreams/web.yaml": DATASTREAM})
    prod = EXPORT / "prod"
    assert run("import", "catalog", "--sandbox", "prod", "--segments", prod / "segments.json", "--segments",
               prod / "segments-2.json", "--merge-policies", prod / "merge-policies.json", "--root", root,
               "--exported-at", "2026-11-20").exit_code == 0
    assert run("import", "destinations", prod / "flows.json", "--root", root).exit_code == 0
    ads = root / "destinations" / "ad-server.yaml"
    ads.write_text(ads.read_text().replace("alias: ''", "alias: adServer").replace("datastream: ''", "datastream: web"))
    return root


@pytest.fixture
def config(imported: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(imported, tmp_path / "config"))


def _export(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of the export with ``change`` applied to its listings ({file name: JSON})."""
    out = tmp_path / "export"
    shutil.copytree(EXPORT, out)
    listings = {p.name: json.loads(p.read_text()) for p in (out / "prod").glob("*.json")}
    change(listings)
    for name, value in listings.items():
        (out / "prod" / name).write_text(json.dumps(value))
    return out


def _segment(listings: dict[str, Any], ident: str) -> dict[str, Any]:
    return next(s for name in ("segments.json", "segments-2.json") for s in listings[name]["segments"] if s["id"].lower() == ident)


def _flow(listings: dict[str, Any], n: int) -> dict[str, Any]:
    return next(f for f in listings["flows.json"]["items"] if f["id"].endswith(f"{n:012d}"))


def _selectors(flow: dict[str, Any], key: str = "segmentSelectors") -> list[dict[str, Any]]:
    return flow["transformations"][0]["params"].setdefault(key, {"selectors": []})["selectors"]


def audience_deleted(listings: dict[str, Any]) -> None:
    listings["segments-2.json"]["segments"] = [s for s in listings["segments-2.json"]["segments"] if s["id"] != A5]


def audience_no_longer_on_edge(listings: dict[str, Any]) -> None:
    _segment(listings, A1)["evaluationInfo"] = {"batch": {"enabled": True}, "synchronous": {"enabled": False}}


def merge_policy_flipped(listings: dict[str, Any]) -> None:
    for policy in listings["merge-policies.json"]["children"]:
        policy["isActiveOnEdge"] = not policy["isActiveOnEdge"]
    listings["merge-policies.json"]["children"].append(
        {"id": "3e000000-0000-4000-8000-000000000003", "name": "Loyalty first", "isActiveOnEdge": False}
    )


def destination_only_on_platform(listings: dict[str, Any]) -> None:
    flow = json.loads(json.dumps(_flow(listings, 2)))
    flow.update(id="de000000-0000-4000-8000-000000000003", name="Checkout offers")
    listings["flows.json"]["items"].append(flow)


def destination_only_in_config(listings: dict[str, Any]) -> None:
    listings["flows.json"]["items"] = [_flow(listings, 1)]
    _flow(listings, 1)["state"] = "disabled"


def mappings_differ(listings: dict[str, Any]) -> None:
    home = _flow(listings, 1)
    selectors = _selectors(home)
    selectors[:] = [s for s in selectors if s["value"]["id"] != A1]
    selectors[0]["value"]["schedule"]["endDate"] = "2027-02-28"
    selectors.append({"type": "PLATFORM_SEGMENT", "value": {"id": A3, "schedule": {"startDate": "2026-11-01"}}})
    _selectors(home, "profileSelectors")[0]["value"]["path"] = "person.name.lastName"
    _selectors(home, "profileSelectors").append({"type": "JSON_PATH", "value": {"path": "homeAddress.city"}})
    params = home["inheritedAttributes"]["targetConnections"][0]["params"]
    params["integrationAlias"] = "heroBanner"
    params["datastreamId"] = "d5000000-0000-4000-8000-000000000009"


def cosmetic_only(listings: dict[str, Any]) -> None:
    _segment(listings, A4)["name"] = "Newsletter <b>subscribers</b>\x1b[2J\u202e"
    _flow(listings, 1)["name"] = "Home page | hero"
    listings["segments-2.json"]["segments"].append({
        "id": "a0000000-0000-4000-8000-000000000006", "name": "Spring `campaign` @team",
        "evaluationInfo": {"synchronous": {"enabled": True}},
    })


def no_change(listings: dict[str, Any]) -> None:
    pass


SCENARIOS = [audience_deleted, audience_no_longer_on_edge, merge_policy_flipped, destination_only_on_platform,
             destination_only_in_config, mappings_differ, cosmetic_only, no_change]


@pytest.mark.parametrize("change", SCENARIOS, ids=lambda f: f.__name__)
def test_each_kind_of_drift(change: Callable[[dict[str, Any]], None], config: Path, tmp_path: Path, snapshot) -> None:
    export = _export(tmp_path, change)

    text = run("drift", export, config, "--exit-code")
    report = json.loads(run("drift", export, config, "--format", "json").stdout)

    assert text.stdout == snapshot(name="text")
    assert text.exit_code == (4 if report["effective"] else 0), text.output
    assert report["drift"] == bool(report["effective"])
    assert [d["kind"] for d in report["effective"]] + [d["kind"] for d in report["cosmetic"]] == snapshot(name="kinds")


def test_markdown_and_json_escape_what_came_from_the_export(config: Path, tmp_path: Path, snapshot) -> None:
    export = _export(tmp_path, cosmetic_only)

    markdown = run("drift", export, config, "--format", "markdown")
    text = run("drift", export, config)
    as_json = run("drift", export, config, "--format", "json")

    assert markdown.exit_code == 0
    assert markdown.stdout == snapshot(name="markdown")
    for output in (markdown.stdout, text.stdout, as_json.stdout):
        assert "\x1b" not in output and "\u202e" not in output
    assert "<b>" not in markdown.stdout and "`campaign`" not in markdown.stdout
    names = {d["name"] for d in json.loads(as_json.stdout)["cosmetic"]}
    assert "Spring `campaign` @team" in names  # json keeps the value, escaped only as JSON


def test_a_datastream_named_by_file_is_the_same_as_its_id_on_the_platform(imported: Path) -> None:
    home = (imported / "destinations" / "home-page-personalization.yaml").read_text()

    assert "\ndatastream: web\n" in home  # import names a known datastream by its file
    assert json.loads(run("drift", EXPORT, imported, "--format", "json").stdout)["effective"] == []


def test_without_exit_code_drift_exits_0(config: Path, tmp_path: Path) -> None:
    result = run("drift", _export(tmp_path, audience_deleted), config)

    assert result.exit_code == 0
    assert "no longer exists on the platform" in result.stdout


def test_a_sandbox_without_an_export_folder_is_named_not_compared(config: Path, tmp_path: Path) -> None:
    write_tree(config, {"audiences/stage.yaml": "sandbox: stage\n"})

    result = run("drift", EXPORT, config, "--format", "json")

    assert json.loads(result.stdout)["not_compared"] == ["stage"]


def test_config_errors_are_reported_and_nothing_is_compared(config: Path) -> None:
    write_tree(config, {"destinations/broken.yaml": "id: not-a-uuid\n"})

    result = run("drift", EXPORT, config)

    assert result.exit_code == 1
    assert "destinations/broken.yaml:1:5: error CP123" in result.stdout
    assert "nothing compared" in result.stderr


def test_a_malformed_export_file_is_a_located_error(config: Path, tmp_path: Path) -> None:
    export = tmp_path / "export"
    shutil.copytree(EXPORT, export)
    (export / "prod" / "flows.json").write_text('{"items": [\n  {"id": 1,}\n]}\n')

    result = run("drift", export, config)

    assert result.exit_code == 1
    assert "flows.json:2:12: not valid JSON" in result.stderr
    assert "Traceback" not in result.output


def test_an_export_without_listings_is_a_usage_error(config: Path, tmp_path: Path) -> None:
    (tmp_path / "empty" / "prod").mkdir(parents=True)

    result = run("drift", tmp_path / "empty", config)

    assert result.exit_code == 2
    assert "no sandbox folder with listings" in result.stderr


def test_a_root_without_config_folders_is_a_usage_error(tmp_path: Path) -> None:
    result = run("drift", EXPORT, tmp_path)

    assert result.exit_code == 2
    assert "holds none of datastreams/" in result.stderr
