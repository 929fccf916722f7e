"""`cpcompile import catalog` and `cpcompile import destinations` on listings shaped as the
platform's APIs return them (tests/fixtures/platform/: pages, unknown extra fields, malformed
files), and the catalog freshness warning (CP148) they feed."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from conftest import REPO_ROOT, run, write_tree

PLATFORM = REPO_ROOT / "tests" / "fixtures" / "platform"
PROD = PLATFORM / "export" / "prod"
SEGMENTS = ("--segments", PROD / "segments.json", "--segments", PROD / "segments-2.json")
POLICIES = ("--merge-policies", PROD / "merge-policies.json")
DATASTREAM = """\
id: d5000000-0000-4000-8000-000000000001
name: Web
sandbox: prod
edge_segmentation: true
personalization_destinations: true
"""
DAY = 86_400
EXPORTED = 1795132800  # 2026-11-20T00:00:00Z


def import_catalog(root: Path, *extra: object, env: dict[str, str] | None = None):
    return run("import", "catalog", "--sandbox", "prod", *SEGMENTS, *POLICIES, "--root", root, *extra, env=env)


def test_catalog_from_paginated_listings(tmp_path: Path, snapshot) -> None:
    result = import_catalog(tmp_path, "--exported-at", "2026-11-20T09:00:00+01:00")

    assert result.exit_code == 0, result.output
    assert result.stdout == "wrote audiences/prod.yaml: 5 audiences (+5 -0 ~0), 2 merge policies (+2 -0 ~0)\n"
    text = (tmp_path / "audiences" / "prod.yaml").read_text()
    assert text == snapshot
    assert "someFieldAddedLater" not in text and "policyFlagAddedLater" not in text
    assert run("validate", tmp_path, "--strict", env={"SOURCE_DATE_EPOCH": str(EXPORTED)}).exit_code == 0
    assert run("fmt", "--check", tmp_path).exit_code == 0


def test_pages_concatenated_in_one_file_read_like_several_files(tmp_path: Path) -> None:
    pages = [json.loads((PROD / name).read_text()) for name in ("segments.json", "segments-2.json")]
    (tmp_path / "all-pages.json").write_text(json.dumps(pages))
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    args = ("--sandbox", "prod", *POLICIES, "--exported-at", "2026-11-20")

    assert run("import", "catalog", "--segments", tmp_path / "all-pages.json", *args, "--root", one).exit_code == 0
    assert run("import", "catalog", *SEGMENTS, *args, "--root", two).exit_code == 0
    assert (one / "audiences" / "prod.yaml").read_text() == (two / "audiences" / "prod.yaml").read_text()


@pytest.mark.parametrize(("fixture", "message"), [
    ("segments-missing-comma.json", "segments-missing-comma.json:4:51: not valid JSON: Expecting ',' delimiter"),
    ("segments-wrong-shape.json",
     "segments-wrong-shape.json: at $.segments[1].evaluationInfo.synchronous.enabled: expected true or false, found a string"),
])
def test_a_malformed_listing_is_a_located_error_and_writes_nothing(tmp_path: Path, fixture: str, message: str) -> None:
    result = run("import", "catalog", "--sandbox", "prod", "--segments", PLATFORM / "malformed" / fixture, *POLICIES,
                 "--root", tmp_path, "--exported-at", "now")

    assert result.exit_code == 1
    assert message in result.stderr
    assert "Traceback" not in result.output and "internal error" not in result.output
    assert not (tmp_path / "audiences").exists()


def test_objects_of_another_sandbox_are_refused_by_path(tmp_path: Path) -> None:
    result = run("import", "catalog", "--sandbox", "stage", *SEGMENTS, *POLICIES, "--root", tmp_path, "--exported-at", "now")

    assert result.exit_code == 1
    assert "segments.json: at $.segments[0].sandbox.sandboxName: this object belongs to sandbox 'prod', not 'stage'" in result.stderr


def test_exported_at_comes_from_the_option_then_source_date_epoch_then_the_newest_update(tmp_path: Path) -> None:
    stamp = "exported_at: {}\n"
    path = tmp_path / "audiences" / "prod.yaml"

    import_catalog(tmp_path, "--exported-at", "2026-11-20T09:00:00+01:00", env={"SOURCE_DATE_EPOCH": "0"})
    assert stamp.format("2026-11-20T08:00:00Z") in path.read_text()
    result = import_catalog(tmp_path, env={"SOURCE_DATE_EPOCH": str(EXPORTED)})
    assert stamp.format("2026-11-20T00:00:00Z") in path.read_text()
    assert "from SOURCE_DATE_EPOCH" in result.stderr
    result = import_catalog(tmp_path)
    assert stamp.format("2025-11-24T16:00:00Z") in path.read_text()  # updateEpoch 1764000000, the newest
    assert "the newest update in the listings" in result.stderr


def test_without_any_time_the_import_asks_for_one(tmp_path: Path) -> None:
    listing = {"segments": [{"id": "a0000000-0000-4000-8000-000000000001", "name": "A"}]}
    policies = {"children": [], "_page": {"totalCount": 0}}
    write_tree(tmp_path, {"s.json": json.dumps(listing), "m.json": json.dumps(policies)})

    result = run("import", "catalog", "--sandbox", "prod", "--segments", tmp_path / "s.json",
                 "--merge-policies", tmp_path / "m.json", "--root", tmp_path)

    assert result.exit_code == 2
    assert "pass --exported-at" in result.stderr
    assert not (tmp_path / "audiences").exists()


def test_reimport_keeps_hand_comments_and_hand_keys(tmp_path: Path) -> None:
    import_catalog(tmp_path, "--exported-at", "2026-11-01")
    path = tmp_path / "audiences" / "prod.yaml"
    text = path.read_text()
    text = text.replace("audiences:\n", "audiences:\n  # Reviewed with marketing, November\n", 1)
    text = text.replace("    name: Renters looking to buy\n", "    name: Renters looking to buy  # the spring campaign\n", 1)
    text = text.replace("  - id: a0000000-0000-4000-8000-000000000005\n",
                        "  # Winter only\n  - id: a0000000-0000-4000-8000-000000000005\n", 1)
    text = text.replace("    ttl_days: 30\n    labels: [C5]\n", "    ttl_days: 30\n    labels: [C5]\n    datasets: [crm]\n", 1)
    text += "datasets:\n  - name: crm  # by hand\n    labels: [I1]\n"
    text = text.replace("exported_at: 2026-11-01\n", "", 1)
    text = text.replace("    merge_policy: 3e000000-0000-4000-8000-000000000002  # Dataset precedence (CRM first)\n", "", 1)
    path.write_text(text)
    changed = json.loads((PROD / "segments.json").read_text())
    changed["segments"][1]["name"] = "Renters ready to buy"
    del changed["segments"][0]  # First-time buyers deleted on the platform
    changed["segments"][-1]["dataGovernancePolicy"] = {"excludeOptOut": True}  # no labels: the catalog's stay
    (tmp_path / "segments.json").write_text(json.dumps(changed))

    result = run("import", "catalog", "--sandbox", "prod", "--segments", tmp_path / "segments.json",
                 "--segments", PROD / "segments-2.json", *POLICIES, "--root", tmp_path, "--exported-at", "2026-11-20")

    assert result.exit_code == 0, result.output
    assert "4 audiences (+0 -1 ~2)" in result.stdout
    after = path.read_text()
    assert re.search(r"\n    name: Renters ready to buy +# the spring campaign\n", after)
    for kept in ("# Reviewed with marketing, November\n",
                 "  # Winter only\n  - id: a0000000-0000-4000-8000-000000000005\n", "datasets: [crm]\n",
                 "  - name: crm  # by hand\n", "    labels: [C7]\n", "exported_at: 2026-11-20\n"):
        assert kept in after
    assert "First-time buyers" not in after
    assert run("fmt", "--check", tmp_path).exit_code == 0  # keys put back where the config's key order has them
    assert run("validate", tmp_path, "--strict", env={"SOURCE_DATE_EPOCH": str(EXPORTED)}).exit_code == 0


def test_an_existing_catalog_that_cannot_be_read_is_reported_and_left_alone(tmp_path: Path) -> None:
    write_tree(tmp_path, {"audiences/prod.yaml": "sandbox: prod\naudiences: [\n"})

    result = import_catalog(tmp_path, "--exported-at", "now")

    assert result.exit_code == 1
    assert "audiences/prod.yaml:3:1: error CP101" in result.stderr
    assert (tmp_path / "audiences" / "prod.yaml").read_text() == "sandbox: prod\naudiences: [\n"


def test_import_then_validate_then_build(tmp_path: Path) -> None:
    write_tree(tmp_path, {"datastreams/web.yaml": DATASTREAM})
    assert import_catalog(tmp_path, "--exported-at", "2026-11-20").exit_code == 0
    result = run("import", "destinations", PROD / "flows.json", "--root", tmp_path)
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "wrote destinations/home-page-personalization.yaml: 2 audiences (+2 -0 ~0)\n"
        "wrote destinations/ad-server.yaml: 1 audience (+1 -0 ~0); to fill in: alias, datastream\n"
    )

    # the placeholders are what the flow listing does not carry; validate points at each
    checked = run("validate", tmp_path, env={"SOURCE_DATE_EPOCH": str(EXPORTED)})
    assert checked.exit_code == 1
    assert checked.stdout.splitlines()[:2] == [
        "destinations/ad-server.yaml:5:8: error CP124 alias: the integration alias is empty (it is sent to the page as "
        "a JSON object name)",
        "destinations/ad-server.yaml:6:13: error CP121 datastream: String should have at least 1 character",
    ]
    ad_server = tmp_path / "destinations" / "ad-server.yaml"
    text = ad_server.read_text()
    assert "alias: ''  # TODO: the integration alias, not in the export" in text
    ad_server.write_text(text.replace("alias: ''", "alias: adServer").replace("datastream: ''", "datastream: web"))

    assert run("validate", tmp_path, "--strict", env={"SOURCE_DATE_EPOCH": str(EXPORTED)}).exit_code == 0
    built = run("build", tmp_path, "--no-cache")
    assert built.exit_code == 0, built.output
    artifact = json.loads((tmp_path / "build" / "artifact.json").read_text())
    assert "a0000000-0000-4000-8000-000000000005" in json.dumps(artifact)


def test_destination_file_from_a_flow(tmp_path: Path, snapshot) -> None:
    assert run("import", "destinations", PROD / "flows.json", "--root", tmp_path).exit_code == 0

    assert (tmp_path / "destinations" / "home-page-personalization.yaml").read_text() == snapshot(name="mapped")
    assert (tmp_path / "destinations" / "ad-server.yaml").read_text() == snapshot(name="placeholders")
    before = {p.name: p.read_text() for p in (tmp_path / "destinations").iterdir()}
    again = run("import", "destinations", PROD / "flows.json", "--root", tmp_path)
    assert again.stdout.count("(+0 -0 ~0)") == 2, again.stdout  # the same listing changes nothing
    assert {p.name: p.read_text() for p in (tmp_path / "destinations").iterdir()} == before


def test_reimport_of_destinations_updates_the_file_with_that_id(tmp_path: Path) -> None:
    run("import", "destinations", PROD / "flows.json", "--root", tmp_path)
    folder = tmp_path / "destinations"
    (folder / "web").mkdir()
    shutil.move(folder / "ad-server.yaml", folder / "web" / "ads.yaml")
    path = folder / "web" / "ads.yaml"
    text = path.read_text().replace("alias: ''", "alias: adServer").replace("datastream: ''", "datastream: web")
    text = text.replace("marketing_actions: []", "marketing_actions: [onsiteAdvertising]")
    path.write_text("# Owned by the ads team\n" + text)
    flows = json.loads((PROD / "flows.json").read_text())
    selectors = flows["items"][1]["transformations"][0]["params"]["segmentSelectors"]["selectors"]
    selectors[0]["value"]["schedule"]["endDate"] = "2026-06-30"
    (tmp_path / "flows.json").write_text(json.dumps(flows))

    result = run("import", "destinations", tmp_path / "flows.json", "--root", tmp_path)

    assert result.exit_code == 0, result.output
    assert "wrote destinations/web/ads.yaml: 1 audience (+0 -0 ~1)\n" in result.stdout
    assert not (folder / "ad-server.yaml").exists()
    after = path.read_text()
    for kept in ("# Owned by the ads team\n", "alias: adServer  #", "datastream: web  #", "[onsiteAdvertising]", "end: 2026-06-30\n"):
        assert kept in after


def test_reimport_fills_placeholders_the_listing_now_carries(tmp_path: Path) -> None:
    write_tree(tmp_path, {"datastreams/web.yaml": DATASTREAM})
    run("import", "destinations", PROD / "flows.json", "--root", tmp_path)
    flows = json.loads((PROD / "flows.json").read_text())
    flows["items"][1]["inheritedAttributes"] = {"targetConnections": [
        {"params": {"integrationAlias": "adServer", "datastreamId": "d5000000-0000-4000-8000-000000000001"}}]}
    (tmp_path / "flows.json").write_text(json.dumps(flows))

    assert run("import", "destinations", tmp_path / "flows.json", "--root", tmp_path).exit_code == 0

    text = (tmp_path / "destinations" / "ad-server.yaml").read_text()
    assert "alias: adServer\ndatastream: web\n" in text and "TODO" not in text
    assert run("validate", tmp_path).exit_code == 0  # warnings only: the sandbox has no catalog here


def test_catalog_older_than_the_limit_is_a_warning(tmp_path: Path) -> None:
    import_catalog(tmp_path, "--exported-at", "2026-11-20")

    fresh = run("validate", tmp_path, "--strict", env={"SOURCE_DATE_EPOCH": str(EXPORTED + 30 * DAY)})
    stale = run("validate", tmp_path, env={"SOURCE_DATE_EPOCH": str(EXPORTED + 30 * DAY + 1)})

    assert fresh.exit_code == 0, fresh.output
    assert stale.exit_code == 0
    assert stale.stdout.startswith(
        "audiences/prod.yaml:4:14: warning CP148 the catalog of sandbox 'prod' was exported at 2026-11-20, more than "
        "30 days ago"
    )


def test_the_catalog_age_limit_setting_is_accepted(tmp_path: Path) -> None:
    import_catalog(tmp_path, "--exported-at", "2026-11-20")
    write_tree(tmp_path, {"cpcompile.yaml": "catalog_max_age_days: 7\n"})

    result = run("validate", tmp_path, "--strict", env={"SOURCE_DATE_EPOCH": str(EXPORTED + 2 * DAY)})

    assert result.exit_code == 0, result.output


def test_the_catalog_age_limit_comes_from_the_settings(tmp_path: Path) -> None:
    import_catalog(tmp_path, "--exported-at", "2026-11-20")
    write_tree(tmp_path, {"cpcompile.yaml": "catalog_max_age_days: 7\n"})

    result = run("validate", tmp_path, env={"SOURCE_DATE_EPOCH": str(EXPORTED + 8 * DAY)})

    assert "CP148" in result.stdout


def test_names_with_control_and_bidi_characters_are_written_escaped_and_read_back_the_same(tmp_path: Path) -> None:
    names = ["A\nB\x1b[2J", "# not a comment", "Café", "yes", "\u2028line\u202e é", "'quoted\"", "*star: x"]
    segments = {"segments": [{"id": f"a0000000-0000-4000-8000-00000000000{i}", "name": name, "updateEpoch": 1}
                             for i, name in enumerate(names, 1)]}
    policies = {"children": [{"id": "3e000000-0000-4000-8000-000000000001", "name": "Edge\u202e", "isActiveOnEdge": True}]}
    export = write_tree(tmp_path / "export", {"prod/segments.json": json.dumps(segments),
                                               "prod/merge-policies.json": json.dumps(policies)})
    root = tmp_path / "config"
    root.mkdir()

    result = run("import", "catalog", "--sandbox", "prod", "--segments", export / "prod" / "segments.json",
                 "--merge-policies", export / "prod" / "merge-policies.json", "--root", root, "--exported-at", "2026-11-20")

    assert result.exit_code == 0, result.output
    text = (root / "audiences" / "prod.yaml").read_text()
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f\u2028\u202e]", text)
    assert run("validate", root, "--strict", env={"SOURCE_DATE_EPOCH": str(EXPORTED)}).exit_code == 0
    drift = json.loads(run("drift", export, root, "--format", "json").stdout)
    assert drift["effective"] == [] and drift["cosmetic"] == []  # every name read back exactly


@pytest.mark.parametrize(("args", "message"), [
    (("--sandbox", "../prod", "--exported-at", "now"), "a sandbox name is letters, digits"),
    (("--sandbox", "prod", "--exported-at", "2026-11-20 08:00"), "separates the date and the time with a space"),
])
def test_usage_errors(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    result = run("import", "catalog", *SEGMENTS, *POLICIES, "--root", tmp_path, *args)

    assert result.exit_code == 2
    assert message in result.stderr
    assert not (tmp_path / "audiences").exists()
