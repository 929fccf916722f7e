"""Snapshots of compiled artifacts, stored pretty-printed so a reviewer can read the diff.

The artifact itself is canonical, one-line JSON; the snapshot files in
``tests/__snapshots__/test_artifact_snapshots/`` are the same documents as
``json.dumps(doc, indent=2, sort_keys=True)``. When one changes, read the diff before
``pytest --snapshot-update``: every change to a body is a change of what pages receive.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from conftest import CASES_DIR, REPO_ROOT, run

VALID_CASES = CASES_DIR / "valid"


class PrettyJSONExtension(SingleFileSnapshotExtension):
    """One ``.json`` file per snapshot: indented, keys sorted, newline-terminated."""

    _write_mode = WriteMode.TEXT
    file_extension = "json"

    def serialize(self, data, *, exclude=None, include=None, matcher=None) -> str:
        return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@pytest.fixture
def snapshot_json(snapshot):
    return snapshot.use_extension(PrettyJSONExtension)


def build(root: Path, out: Path) -> tuple[dict, dict]:
    """Build ``root`` into ``out`` (no cache: nothing is written under ``root``)."""
    result = run("build", root, "--out", out, "--no-cache")
    assert result.exit_code == 0, result.output
    artifact = json.loads((out / "artifact.json").read_bytes())
    manifest = json.loads((out / "manifest.json").read_bytes())
    return artifact, manifest


def valid_cases() -> list[str]:
    if not VALID_CASES.is_dir():
        return []
    return sorted(p.name for p in VALID_CASES.iterdir() if p.is_dir() and not p.name.startswith("."))


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> tuple[dict, dict]:
    return build(REPO_ROOT, tmp_path_factory.mktemp("example") / "build")


def test_example_artifact(example, snapshot_json):
    artifact, _ = example
    assert artifact == snapshot_json

    # what to look for when reading the snapshot
    prod = artifact["body"]["datastreams"]["0f3a6c1e-2b7d-4e59-9c3a-1d2e3f4a5b6c"]
    aliases = [d["alias"] for d in prod["destinations"]]
    assert aliases == sorted(aliases) == ["adServerAlias", "personalizationAlias"]
    holiday = prod["audiences"]["8c2d4f61-5a7e-4b3c-9d1e-2f3a4b5c6d7e"]["mappings"]
    # start 2026-12-01 → 2026-12-01T00:00:00Z; end 2027-01-31 inclusive → 2027-02-01T00:00:00Z
    assert holiday == [{"destination": 1, "start": 1796083200, "end": 1801440000}]
    assert prod["audiences"]["a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"]["namespace"] == "CustomerAudienceUpload"
    assert [a["target"] for a in prod["destinations"][1]["attributes"]] == ["city", "firstName"]
    staging = artifact["body"]["datastreams"]["5d1f0b7a-93c4-4c2e-8e61-7a0b2c3d4e5f"]
    assert [d["alias"] for d in staging["destinations"]] == ["personalizationAlias"]


def test_example_manifest(example, snapshot_json):
    _, manifest = example
    # the commit and state of whatever checkout runs the tests; the rest is a function of the config
    assert set(manifest["source"]) == {"git_commit", "git_dirty"}
    del manifest["source"]["git_commit"], manifest["source"]["git_dirty"]
    assert manifest == snapshot_json


@pytest.mark.parametrize("case", valid_cases())
def test_valid_case_artifact(case, tmp_path, snapshot_json):
    artifact, manifest = build(VALID_CASES / case, tmp_path / "build")
    assert manifest["artifact"]["revision"] == artifact["revision"]
    assert artifact == snapshot_json
