"""`cpcompile lookup`: one profile request answered from a built artifact, for debugging."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import copy_example

from cpcompile.cli import cli

PROD = "0f3a6c1e-2b7d-4e59-9c3a-1d2e3f4a5b6c"
RENTERS = "499eb3e7-3d50-47d3-ad30-a5ad99e8ab77"
FIRST_TIME = "399eb3e7-3d50-47d3-ad30-a5ad99e8ab77"
HOLIDAY = "8c2d4f61-5a7e-4b3c-9d1e-2f3a4b5c6d7e"  # mapped 2026-12-01 .. 2027-01-31 (inclusive)


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_example(tmp_path_factory.mktemp("example"))
    result = CliRunner().invoke(cli, ["build", str(root), "--no-cache"])
    assert result.exit_code == 0, result.output
    return root / "build" / "artifact.json"


def lookup(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["lookup", *args])
    return result.exit_code, result.stdout, result.stderr


def test_segments_by_alias_and_window(artifact: Path) -> None:
    code, out, _ = lookup(str(artifact), "--datastream", PROD, "--segments", f"{RENTERS},{HOLIDAY}", "--now", "2027-01-31T23:59:59Z")
    assert code == 0
    payload = json.loads(out)
    assert [item["alias"] for item in payload] == ["adServerAlias", "personalizationAlias"]
    assert payload[1]["segments"] == [{"id": RENTERS, "namespace": "ups"}, {"id": HOLIDAY, "namespace": "ups"}]
    assert all(item["type"] == "profileLookup" and "attributes" not in item for item in payload)


def test_window_end_day_is_inclusive_then_closes(artifact: Path) -> None:
    _, out, _ = lookup(str(artifact), "--datastream", PROD, "--segments", HOLIDAY, "--now", "2027-02-01")
    assert json.loads(out) == []
    _, out, _ = lookup(str(artifact), "--datastream", PROD, "--segments", HOLIDAY, "--now", "2026-12-01")
    assert [s["id"] for s in json.loads(out)[0]["segments"]] == [HOLIDAY]


def test_membership_file_ignores_exited(artifact: Path, tmp_path: Path) -> None:
    profile = {"segmentMembership": {"ups": {RENTERS: {"status": "exited"}, FIRST_TIME: {"status": "realized"}}}}
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(profile))
    _, out, _ = lookup(str(artifact), "--datastream", PROD, "--membership-file", str(path))
    payload = json.loads(out)
    assert [(i["alias"], [s["id"] for s in i["segments"]]) for i in payload] == [("personalizationAlias", [FIRST_TIME])]


def test_attributes_only_when_authenticated(artifact: Path, tmp_path: Path) -> None:
    attrs = tmp_path / "attrs.json"
    attrs.write_text(json.dumps({"person": {"name": {"firstName": "Ada"}}, "homeAddress": {"city": ["not", "single"]}}))
    args = [str(artifact), "--datastream", PROD, "--segments", FIRST_TIME, "--attributes-file", str(attrs)]
    _, out, _ = lookup(*args)
    assert "attributes" not in json.loads(out)[0]
    _, out, _ = lookup(*args, "--authenticated")
    assert json.loads(out)[0]["attributes"] == {"firstName": {"value": "Ada"}}


def test_envelope(artifact: Path) -> None:
    _, out, _ = lookup(str(artifact), "--datastream", PROD, "--segments", RENTERS, "--envelope")
    response = json.loads(out)
    assert set(response) == {"requestId", "handle"}
    (handle,) = response["handle"]
    assert handle["type"] == "activation:pull" and handle["eventIndex"] == 0
    assert [i["alias"] for i in handle["payload"]] == ["adServerAlias", "personalizationAlias"]


def test_unknown_datastream_is_empty_with_a_note(artifact: Path) -> None:
    code, out, err = lookup(str(artifact), "--datastream", "no-such-datastream", "--segments", RENTERS)
    assert (code, json.loads(out)) == (0, [])
    assert "not in this artifact" in err


@pytest.mark.parametrize(
    "extra, message",
    [
        ([], "exactly one of --segments and --membership-file"),
        (["--segments", RENTERS, "--now", "christmas"], "--now 'christmas'"),
    ],
)
def test_usage_errors(artifact: Path, extra: list[str], message: str) -> None:
    code, _, err = lookup(str(artifact), "--datastream", PROD, *extra)
    assert code == 2 and message in err


def test_bad_membership_file(artifact: Path, tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text("{not json")
    code, _, err = lookup(str(artifact), "--datastream", PROD, "--membership-file", str(path))
    assert code == 2 and "not readable JSON" in err
    path.write_text("42")
    code, _, err = lookup(str(artifact), "--datastream", PROD, "--membership-file", str(path))
    assert code == 2 and "segmentMembership map" in err


def test_corrupt_artifact_is_rejected(artifact: Path, tmp_path: Path) -> None:
    broken = tmp_path / "artifact.json"
    broken.write_bytes(artifact.read_bytes()[:-20])
    code, _, err = lookup(str(broken), "--datastream", PROD, "--segments", RENTERS)
    assert code == 1 and "rejected" in err


@pytest.mark.parametrize(
    "content, message",
    [
        (b"[" * 100_000, "nested too deep"),
        (b'{"ups": {"' + RENTERS.encode() + b'": "realized"}}', "is a string, not a membership object"),
        (b'{"segmentMembership": {"segmentMembership": {}}}', "holds another segmentMembership"),
        (b'{"ups": ["' + RENTERS.encode() + b'"]}', "is a array, not an object of audiences"),
        (b'["\\ud800"]', "lone UTF-16 surrogate"),
        (b"[NaN]", "NaN is not JSON"),
        (b"[" + b"1" * 5000 + b"]", "not readable JSON"),
    ],
    ids=["deep", "status-not-object", "nested-segmentMembership", "namespace-not-object", "surrogate", "nan", "huge-int"],
)
def test_hostile_membership_files_are_usage_errors(artifact: Path, tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "m.json"
    path.write_bytes(content)
    code, _, err = lookup(str(artifact), "--datastream", PROD, "--membership-file", str(path))
    assert code == 2, err
    assert message in err


def test_attribute_file_with_a_lone_surrogate_is_a_usage_error(artifact: Path, tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_bytes(b'{"person": {"name": {"firstName": "\\ud800"}}}')
    code, _, err = lookup(
        str(artifact), "--datastream", PROD, "--segments", RENTERS, "--authenticated", "--attributes-file", str(path)
    )
    assert code == 2 and "lone UTF-16 surrogate" in err


@pytest.mark.parametrize("now", ["\u00b2", "9" * 5000, "1e9", "0x10", "2026-W52-4", "2026-12-24 18:00", "2026-02-30", "١٢٣"])
def test_bad_now_is_a_usage_error(artifact: Path, now: str) -> None:
    code, _, err = lookup(str(artifact), "--datastream", PROD, "--segments", RENTERS, "--now", now)
    assert code == 2, err
    assert "expected a date" in err


@pytest.mark.parametrize(
    "now, expected",
    [("--now=-5", []), ("--now=1.5", []), ("--now=1798675200.5", [HOLIDAY]), ("--now=2026-12-24T18:00", [HOLIDAY])],
)
def test_now_accepts_negative_and_fractional_unix_seconds(artifact: Path, now: str, expected: list[str]) -> None:
    code, out, err = lookup(str(artifact), "--datastream", PROD, "--segments", HOLIDAY, now)
    assert code == 0, err
    assert [s["id"] for item in json.loads(out) for s in item["segments"]] == expected


def test_unknown_datastream_note_escapes_control_characters(artifact: Path) -> None:
    code, _, err = lookup(str(artifact), "--datastream", "x\n::error::forged\x1b[31m", "--segments", RENTERS)
    assert code == 0
    assert "::error::" not in err.split("\n")[0][:3] and "\n::error" not in err
    assert "x\\n::error::forged\\x1b[31m" in err


# --config and --explain: names the config uses, and why each destination got what it got


@pytest.fixture(scope="module")
def config(artifact: Path) -> Path:
    return artifact.parent.parent


def explained(*args: str) -> tuple[list, list[str]]:
    result = CliRunner().invoke(cli, ["lookup", *args, "--explain"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), result.stderr.splitlines()


def test_a_datastream_file_name_needs_the_config(artifact: Path, config: Path) -> None:
    code, out, err = lookup(str(artifact), "--datastream", "web-prod", "--segments", RENTERS)
    assert (code, json.loads(out)) == (0, [])
    assert "pass --config ROOT to use file names" in err
    by_id = lookup(str(artifact), "--datastream", PROD, "--segments", RENTERS)[1]
    code, out, err = lookup(str(artifact), "--datastream", "web-prod", "--config", str(config), "--segments", RENTERS)
    assert (code, out, err) == (0, by_id, "")


def test_a_mistyped_datastream_gets_a_suggestion(artifact: Path, config: Path) -> None:
    _, _, err = lookup(str(artifact), "--datastream", "web-prd", "--config", str(config), "--segments", RENTERS)
    assert "datastream web-prd is not in this artifact; the answer is empty; did you mean web-prod?" in err
    _, _, err = lookup(str(artifact), "--datastream", PROD[:-1] + "d", "--segments", RENTERS)
    assert f"did you mean {PROD}?" in err


def test_explain_windows_and_mappings(artifact: Path, config: Path) -> None:
    args = ["--datastream", "web-prod", "--config", str(config), "--segments", f"{FIRST_TIME.upper()},{HOLIDAY}"]
    payload, lines = explained(str(artifact), *args, "--now", "2026-11-30")
    assert [i["alias"] for i in payload] == ["personalizationAlias"]
    assert lines == [
        f"datastream {PROD} (web-prod), mixed access; request at 2026-11-30T00:00:00Z, not authenticated",
        "  adServerAlias (2c0e6f4a-1b3d-4e5f-8a9b-0c1d2e3f4a5b): no segments",
        f"    {FIRST_TIME} (First-time buyers): not mapped on this destination",
        f"    {HOLIDAY} (Holiday rentals browsers): not mapped on this destination",
        f"  personalizationAlias (7bb4cb8d-8c2e-4450-871d-b7824f547111): segments [{FIRST_TIME}]",
        f"    {FIRST_TIME} (First-time buyers): sent",
        f"    {HOLIDAY} (Holiday rentals browsers): not sent: window not yet open (opens 2026-12-01T00:00:00Z)",
        "    attributes city, firstName: not sent, the request is not authenticated (--authenticated)",
    ]
    _, lines = explained(str(artifact), *args, "--now", "2027-02-01")
    assert f"    {HOLIDAY} (Holiday rentals browsers): not sent: window closed (2027-02-01T00:00:00Z)" in lines


def test_explain_statuses_namespaces_and_unknown_audiences(artifact: Path, tmp_path: Path) -> None:
    newsletter = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"  # CustomerAudienceUpload
    qa = "c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f"  # mapped on staging only
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"ups": {RENTERS: {"status": "exited"}, newsletter: {"status": "realized"},
                                        qa: {"status": "realized"}, FIRST_TIME[:-1] + "8": {"status": "realized"}}}))
    payload, lines = explained(str(artifact), "--datastream", PROD, "--membership-file", str(path))
    assert payload == []
    assert f"    {RENTERS}: not sent: status 'exited' does not count (only realized and existing do)" in lines
    assert (f"    {newsletter}: not sent: the membership is under namespace 'ups', "
            "the audience is in 'CustomerAudienceUpload'") in lines
    assert lines[-3:] == [
        "  not mapped on this datastream:",
        f"    {qa}: mapped only on datastream 5d1f0b7a-93c4-4c2e-8e61-7a0b2c3d4e5f",
        f"    {FIRST_TIME[:-1]}8: no destination maps this audience; did you mean {FIRST_TIME}?",
    ]


def test_explain_attributes(artifact: Path, tmp_path: Path) -> None:
    attrs = tmp_path / "attrs.json"
    attrs.write_text(json.dumps({"person": {"name": {"firstName": "Ada"}}, "homeAddress": {"city": ["a", "b"]}}))
    payload, lines = explained(str(artifact), "--datastream", PROD, "--segments", FIRST_TIME, "--authenticated",
                               "--attributes-file", str(attrs))
    assert payload[0]["attributes"] == {"firstName": {"value": "Ada"}}
    assert "    attribute city (from homeAddress.city): not sent, not a single value" in lines
    assert "    attribute firstName (from person.name.firstName): sent" in lines


def test_explain_an_authenticated_only_datastream(tmp_path: Path) -> None:
    root = copy_example(tmp_path / "config")
    prod = root / "datastreams" / "web-prod.yaml"
    prod.write_text(prod.read_text().replace("access: mixed", "access: authenticated-only"))
    assert CliRunner().invoke(cli, ["build", str(root), "--no-cache"]).exit_code == 0
    payload, lines = explained(str(root / "build" / "artifact.json"), "--datastream", PROD, "--segments", FIRST_TIME)
    assert payload == []
    assert lines[1] == ("  nothing is returned: the datastream is authenticated-only and the request is not "
                        "authenticated (--authenticated)")


def test_explain_does_not_change_the_answer(artifact: Path) -> None:
    args = [str(artifact), "--datastream", PROD, "--segments", f"{RENTERS},{HOLIDAY}", "--now", "2026-12-24"]
    assert explained(*args)[0] == json.loads(lookup(*args)[1])


def test_an_empty_answer_points_to_explain(artifact: Path) -> None:
    code, out, err = lookup(str(artifact), "--datastream", PROD, "--segments", HOLIDAY, "--now", "2027-03-01")
    assert (code, json.loads(out)) == (0, [])
    assert err == "note: no destination answers this request; --explain says why\n"
    assert lookup(str(artifact), "--datastream", PROD, "--segments", HOLIDAY, "--now", "2026-12-24")[2] == ""


@pytest.mark.parametrize("now", ["999999999999", "-999999999999", "9999-12-31T23:59:59Z"])
def test_explain_at_the_edges_of_time(artifact: Path, now: str) -> None:
    payload, lines = explained(str(artifact), "--datastream", PROD, "--segments", HOLIDAY, "--now", now)
    assert payload == []
    assert any("not sent: window" in line for line in lines), lines


def test_audiences_by_catalog_name_with_the_config(artifact: Path, config: Path, tmp_path: Path) -> None:
    by_id = lookup(str(artifact), "--datastream", PROD, "--segments", f"{RENTERS},{FIRST_TIME}")[1]
    code, out, _ = lookup(str(artifact), "--datastream", "web-prod", "--config", str(config),
                          "--segments", "Renters looking to buy,First-time buyers")
    assert (code, out) == (0, by_id)
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"ups": {"Renters looking to buy": {"status": "realized"}}}))
    code, out, _ = lookup(str(artifact), "--datastream", "web-prod", "--config", str(config), "--membership-file", str(path))
    assert [i["alias"] for i in json.loads(out)] == ["adServerAlias", "personalizationAlias"]


def test_attribute_values_cannot_forge_terminal_output(artifact: Path, tmp_path: Path) -> None:
    attrs = tmp_path / "attrs.json"
    hostile = "Ada\u2028fake line\u202ereversed\u00e9"
    attrs.write_text(json.dumps({"person": {"name": {"firstName": hostile}}}))
    _, out, _ = lookup(str(artifact), "--datastream", PROD, "--segments", FIRST_TIME, "--attributes-file", str(attrs), "--authenticated")
    assert "\u2028" not in out and "\u202e" not in out and "\\u2028" in out
    assert "\u00e9" in out  # readable text stays readable
    assert json.loads(out)[0]["attributes"] == {"firstName": {"value": hostile}}
