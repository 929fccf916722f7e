"""`cpcompile build`: reproducible bytes, nothing written on errors, a manifest that matches.

Everything goes through the command line (click's CliRunner, or ``python -m cpcompile`` in a
subprocess where the interpreter itself must differ) or the public ``cpcompile.build.build``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import msgpack
import pytest

from conftest import CONFIG_DIRS, REPO_ROOT, copy_example, dir_state, edit, example_files, run

from cpcompile.build import build

OUTPUTS = ("artifact.json", "artifact.msgpack", "manifest.json")
EXAMPLE_COUNTS = {"audiences": 6, "datastreams": 2, "destinations": 3, "mappings": 7}

pytestmark = pytest.mark.usefixtures("cache_dir")  # each test's own default cache directory


# --- helpers ---------------------------------------------------------------------------------


def run_subprocess(args: list[str], *, cwd: Path, hash_seed: str, extra_env: dict[str, str] | None = None):
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    env.update(extra_env or {})
    return subprocess.run(
        [sys.executable, "-m", "cpcompile", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def outputs(out: Path) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in OUTPUTS}


def all_strings(value):
    if isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from all_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from all_strings(v)
    elif isinstance(value, str):
        yield value


# --- 1. reproducible ---------------------------------------------------------------------------


def test_same_bytes_across_directories_order_hashseed_cwd_and_cache(tmp_path, cache_dir):
    # A: in-process, files created in sorted order, default cache (outside the root)
    a = copy_example(tmp_path / "a")
    result = run("build", a)
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output
    assert any(cache_dir.rglob("*.json"))
    assert sorted(os.listdir(a)) == sorted([*CONFIG_DIRS, "build"])
    reference = outputs(a / "build")

    # B: shuffled creation order, renamed into place, nested deeper, another interpreter with
    # another hash seed and time zone, run from inside the root, relative paths, no cache
    b = copy_example(tmp_path / "x" / "y" / "b", seed=1, via_rename=True)
    done = run_subprocess(
        ["build", ".", "--out", "out-b", "--no-cache"], cwd=b, hash_seed="1", extra_env={"TZ": "Pacific/Kiritimati"}
    )
    assert done.returncode == 0, done.stderr
    assert not (b / ".cpcompile-cache").exists()

    # C: another shuffle, another hash seed, cwd elsewhere, absolute paths, explicit cache dir,
    # built twice (the second one reuses the cache)
    c = copy_example(tmp_path / "c", seed=2)
    (tmp_path / "elsewhere").mkdir()
    for _ in range(2):
        done = run_subprocess(
            ["build", str(c), "--out", str(tmp_path / "out-c"), "--cache-dir", str(tmp_path / "cache-c")],
            cwd=tmp_path / "elsewhere", hash_seed="4242", extra_env={"TZ": "America/St_Johns"},
        )
        assert done.returncode == 0, done.stderr
    assert "up to date" in done.stdout
    assert any((tmp_path / "cache-c").rglob("*.json"))

    for out in (b / "out-b", tmp_path / "out-c"):
        assert outputs(out) == reference, f"{out} differs from {a / 'build'}"


def test_json_and_msgpack_hold_the_same_document(tmp_path):
    root = copy_example(tmp_path / "root")
    assert run("build", root).exit_code == 0
    from_json = json.loads((root / "build/artifact.json").read_bytes())
    packed = (root / "build/artifact.msgpack").read_bytes()
    from_msgpack = msgpack.unpackb(packed, raw=False)
    assert from_json == from_msgpack
    # and the msgpack is canonical too: every map in sorted key order, as decoding the JSON gives
    assert packed == msgpack.packb(from_json, use_bin_type=True)
    assert sorted(from_json) == ["body", "format", "min_reader_version", "revision", "schema_version"]
    assert from_json["format"] == "cpcompile-artifact"
    # canonical JSON: re-encoding gives the very same bytes
    canonical = json.dumps(from_json, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert canonical == (root / "build/artifact.json").read_bytes()
    # the revision is the sha256 of the canonical body
    body = json.dumps(from_json["body"], sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert from_json["revision"] == "sha256:" + hashlib.sha256(body).hexdigest()


def test_artifact_records_no_path_host_or_time(tmp_path):
    root = copy_example(tmp_path / "some-unusual-dirname")
    assert run("build", root).exit_code == 0
    artifact = (root / "build/artifact.json").read_bytes()
    packed = (root / "build/artifact.msgpack").read_bytes()
    manifest = (root / "build/manifest.json").read_bytes()
    needles = {str(tmp_path), str(tmp_path.resolve()), "some-unusual-dirname", str(Path.cwd())}
    host = socket.gethostname()
    if len(host) >= 4:
        needles.add(host)
    for needle in needles:
        for name, data in (("artifact.json", artifact), ("artifact.msgpack", packed), ("manifest.json", manifest)):
            assert needle.encode() not in data, f"{needle!r} appears in {name}"
    for key in ("built_at", "time", "date", "host", "path"):
        assert f'"{key}"'.encode() not in artifact
    doc = json.loads(artifact)
    assert not [s for s in all_strings(doc) if s.startswith("/") or "\\" in s]
    assert "built_at" not in json.loads(manifest)


@pytest.mark.parametrize(
    ("epoch", "built_at"),
    [("1700000000", "2023-11-14T22:13:20Z"), ("0", "1970-01-01T00:00:00Z"), ("", None)],
)
def test_source_date_epoch_only_reaches_the_manifest(tmp_path, epoch, built_at):
    plain = copy_example(tmp_path / "plain")
    dated = copy_example(tmp_path / "dated")
    assert run("build", plain, "--no-cache").exit_code == 0
    result = run("build", dated, "--no-cache", env={"SOURCE_DATE_EPOCH": epoch})
    assert result.exit_code == 0, result.output
    for name in ("artifact.json", "artifact.msgpack"):
        assert (plain / "build" / name).read_bytes() == (dated / "build" / name).read_bytes()
    manifest = json.loads((dated / "build/manifest.json").read_bytes())
    assert manifest.get("built_at") == built_at
    if built_at is not None:
        assert built_at == datetime.fromtimestamp(int(epoch), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    plain_manifest = json.loads((plain / "build/manifest.json").read_bytes())
    manifest.pop("built_at", None)
    assert manifest == plain_manifest


@pytest.mark.parametrize("epoch", ["99999999999999", "not-a-number", "1e9"])
def test_malformed_source_date_epoch_is_a_usage_error(tmp_path, epoch):
    root = copy_example(tmp_path / "root")
    result = run("build", root, "--no-cache", env={"SOURCE_DATE_EPOCH": epoch})
    assert "internal error" not in result.output
    assert result.exit_code == 2, result.output
    assert "SOURCE_DATE_EPOCH" in result.output
    assert not (root / "build").exists()


def test_build_api_reads_no_environment_and_runs_no_git(tmp_path, monkeypatch):
    """build() is pure: SOURCE_DATE_EPOCH and the git commit come from its caller."""
    from cpcompile.manifest import Provenance

    root = copy_example(tmp_path / "root")
    if shutil.which("git"):
        git_repo(root)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "not-a-number")  # the command line would refuse it
    plain = build(root, tmp_path / "plain", cache_dir=None)
    assert plain.manifest is not None and "built_at" not in plain.manifest
    assert plain.manifest["source"] == {"git_commit": None, "git_dirty": None}

    given = Provenance("ab" * 20, True)
    outcome = build(root, tmp_path / "given", cache_dir=None, built_at=1700000000, provenance=given)
    manifest = json.loads((tmp_path / "given/manifest.json").read_bytes())
    assert manifest == outcome.manifest
    assert manifest["built_at"] == "2023-11-14T22:13:20Z"
    assert manifest["source"] == {"git_commit": "ab" * 20, "git_dirty": True}
    for name in ("artifact.json", "artifact.msgpack"):
        assert (tmp_path / "plain" / name).read_bytes() == (tmp_path / "given" / name).read_bytes()


# --- git provenance: recorded only when it is true ------------------------------------------------

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
GIT_IDENTITY = ["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]


def git(repo: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    done = subprocess.run(
        ["git", *GIT_IDENTITY, "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env
    )
    return done.stdout.strip()


def git_repo(repo: Path, *, commit: bool = True) -> str | None:
    """Make ``repo`` a git repository with everything in it committed; its HEAD."""
    git(repo, "init", "-q")
    if not commit:
        return None
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "config")
    return git(repo, "rev-parse", "HEAD")


def source_of(root: Path, out: Path, *flags: str, env: dict[str, str] | None = None) -> dict:
    result = run("build", root, "--out", out, *flags, env=env)
    assert result.exit_code == 0, result.output
    return json.loads((out / "manifest.json").read_bytes())["source"]


@needs_git
def test_provenance_of_a_committed_clean_config(tmp_path):
    plain = copy_example(tmp_path / "plain")
    repo = copy_example(tmp_path / "repo")
    head = git_repo(repo)
    assert source_of(repo, tmp_path / "repo-out") == {"git_commit": head, "git_dirty": False}
    assert source_of(plain, tmp_path / "plain-out") == {"git_commit": None, "git_dirty": None}
    for name in ("artifact.json", "artifact.msgpack"):
        assert (tmp_path / "plain-out" / name).read_bytes() == (tmp_path / "repo-out" / name).read_bytes()
    # the config in a folder of the repository, as the root
    nested = tmp_path / "mono"
    copy_example(nested / "services" / "cp")
    head = git_repo(nested)
    assert source_of(nested / "services" / "cp", tmp_path / "o") == {"git_commit": head, "git_dirty": False}


def _modify(root: Path) -> None:
    edit(root / "destinations/ad-server.yaml", "alias: adServerAlias", "alias: adServerAlias2")


def _stage_modified(root: Path) -> None:
    _modify(root)
    git(root, "add", "destinations/ad-server.yaml")


def _add_untracked(root: Path) -> None:
    text = (root / "destinations/ad-server.yaml").read_text()
    text = text.replace("2c0e6f4a-1b3d", "3c0e6f4a-1b3d").replace("adServerAlias", "adServer2")
    (root / "destinations/ad-server-2.yaml").write_text(text)


def _add_ignored(root: Path) -> None:
    (root / ".gitignore").write_text("*-2.yaml\n")
    git(root, "add", ".gitignore")
    git(root, "commit", "-q", "-m", "ignore")
    _add_untracked(root)


def _delete_tracked(root: Path) -> None:
    (root / "destinations/ad-server.yaml").unlink()


def _same_bytes_touched(root: Path) -> None:  # not a change: the content is the commit's
    path = root / "destinations/ad-server.yaml"
    path.write_bytes(path.read_bytes())
    os.utime(path, (1, 1))


def _stray_file(root: Path) -> None:  # not read by the build, so not a difference
    (root / "destinations/notes.txt").write_text("a note\n")
    (root / "README.md").write_text("not config\n")


@needs_git
@pytest.mark.parametrize(
    ("change", "dirty"),
    [
        (_modify, True), (_stage_modified, True), (_add_untracked, True), (_add_ignored, True),
        (_delete_tracked, True), (_same_bytes_touched, False), (_stray_file, False),
    ],
    ids=lambda v: getattr(v, "__name__", str(v)).strip("_"),
)
def test_provenance_says_when_the_files_built_are_not_the_commit(tmp_path, change, dirty):
    root = copy_example(tmp_path / "repo")
    git_repo(root)
    change(root)
    head = git(root, "rev-parse", "HEAD")
    assert source_of(root, tmp_path / "out") == {"git_commit": head, "git_dirty": dirty}
    # the cache is no way around it: the same files, committed, are clean again
    git(root, "add", "-A", "-f", ".")
    git(root, "commit", "-q", "--allow-empty", "-m", "commit it")
    head = git(root, "rev-parse", "HEAD")
    assert source_of(root, tmp_path / "out") == {"git_commit": head, "git_dirty": False}


@needs_git
def test_the_settings_file_is_part_of_the_provenance(tmp_path):
    root = copy_example(tmp_path / "repo")
    (root / "cpcompile.yaml").write_text("diagnostics:\n  CP134: off\n")
    head = git_repo(root)
    assert source_of(root, tmp_path / "o1") == {"git_commit": head, "git_dirty": False}
    (root / "cpcompile.yaml").write_text("diagnostics:\n  CP134: error\n")
    assert source_of(root, tmp_path / "o2") == {"git_commit": head, "git_dirty": True}
    (root / "cpcompile.yaml").unlink()
    assert source_of(root, tmp_path / "o3") == {"git_commit": head, "git_dirty": True}


@needs_git
@pytest.mark.parametrize("how", ["ignored", "untracked"])
def test_no_provenance_for_a_config_inside_another_repository(tmp_path, how):
    outer = tmp_path / "outer"
    (outer / "src").mkdir(parents=True)
    (outer / "src/app.py").write_text("print('unrelated')\n")
    if how == "ignored":
        (outer / ".gitignore").write_text("vendor/\n")
    git_repo(outer)
    root = copy_example(outer / "vendor" / "config")
    assert source_of(root, tmp_path / "out") == {"git_commit": None, "git_dirty": None}


@needs_git
def test_no_provenance_without_a_commit_or_without_git(tmp_path):
    unborn = copy_example(tmp_path / "unborn")
    git_repo(unborn, commit=False)
    assert source_of(unborn, tmp_path / "o1") == {"git_commit": None, "git_dirty": None}
    repo = copy_example(tmp_path / "repo")
    git_repo(repo)
    assert source_of(repo, tmp_path / "o2", env={"PATH": str(tmp_path / "no-bin")}) == {
        "git_commit": None, "git_dirty": None,
    }
    plain = copy_example(tmp_path / "plain")
    assert source_of(plain, tmp_path / "o3") == {"git_commit": None, "git_dirty": None}


@needs_git
def test_provenance_ignores_git_variables_of_the_environment(tmp_path):
    """GIT_DIR and friends, as a CI step may leave them, do not redirect git to another repo."""
    other = copy_example(tmp_path / "other")
    _modify(other)
    other_head = git_repo(other)
    repo = copy_example(tmp_path / "repo")
    head = git_repo(repo)
    env = {
        "GIT_DIR": str(other / ".git"), "GIT_WORK_TREE": str(other), "GIT_INDEX_FILE": str(other / ".git/index"),
        "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "core.fsmonitor", "GIT_CONFIG_VALUE_0": "false",
    }
    assert source_of(repo, tmp_path / "o1", env=env) == {"git_commit": head, "git_dirty": False}
    plain = copy_example(tmp_path / "plain")
    assert source_of(plain, tmp_path / "o2", env=env) == {"git_commit": None, "git_dirty": None}
    assert other_head != head


@needs_git
def test_a_checkout_cannot_make_provenance_run_a_program(tmp_path):
    """A repository's own config and hooks (which may come with the checkout) run nothing."""
    repo = copy_example(tmp_path / "repo")
    head = git_repo(repo)
    marker = tmp_path / "ran"
    script = tmp_path / "evil.sh"
    script.write_text(f"#!/bin/sh\necho \"$0 $*\" >> {marker}\n")
    script.chmod(0o755)
    hooks = repo / ".git/hooks"
    for hook in ("post-index-change", "post-checkout", "reference-transaction", "pre-auto-gc"):
        (hooks / hook).write_text(script.read_text())
        (hooks / hook).chmod(0o755)
    for key, value in [
        ("core.fsmonitor", str(script)), ("core.hooksPath", str(hooks)), ("core.pager", str(script)),
        ("filter.evil.clean", str(script)), ("filter.evil.smudge", str(script)), ("diff.external", str(script)),
    ]:
        git(repo, "config", key, value)
    (repo / ".gitattributes").write_text("*.yaml filter=evil\n")
    _modify(repo)  # a modified file: what `git status` would run the filter and fsmonitor for
    assert source_of(repo, tmp_path / "out") == {"git_commit": head, "git_dirty": True}
    assert not marker.exists(), marker.read_text()


# --- 2. all or nothing -------------------------------------------------------------------------

BREAKAGES = {
    "unknown datastream": ("destinations/ad-server.yaml", "datastream: web-prod", "datastream: web-prd", "CP132"),
    "yaml syntax": ("destinations/ad-server.yaml", "audiences:\n", "audiences: [\n", "ad-server.yaml"),
    "not a uuid": ("datastreams/web-prod.yaml", "id: 0f3a6c1e-", "id: 0f3a6c1x-", "web-prod.yaml"),
    "duplicate alias": (
        "destinations/ad-server.yaml", "alias: adServerAlias", "alias: personalizationAlias", "CP131",
    ),
}


@pytest.mark.parametrize("cache", ["cache", "no-cache"])
@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_config_error_leaves_earlier_build_untouched(tmp_path, breakage, cache):
    root = copy_example(tmp_path / "root")
    flags = ["--no-cache"] if cache == "no-cache" else []
    assert run("build", root, *flags).exit_code == 0
    before = dir_state(root / "build")

    path, old, new, expected = BREAKAGES[breakage]
    edit(root / path, old, new)
    result = run("build", root, *flags)
    assert result.exit_code == 1, result.output
    assert expected in result.output
    assert "wrote" not in result.output
    assert dir_state(root / "build") == before


def test_config_error_on_first_build_creates_nothing(tmp_path):
    root = copy_example(tmp_path / "root")
    edit(root / "destinations/ad-server.yaml", "datastream: web-prod", "datastream: nowhere")
    result = run("build", root, "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert not (tmp_path / "out").exists()
    outcome = build(root, tmp_path / "out2", cache_dir=None)
    assert outcome.revision is None and outcome.manifest is None
    assert any(d.code == "CP132" for d in outcome.diagnostics)
    assert not (tmp_path / "out2").exists()


def _warn(root: Path) -> None:
    # the staging destination's datastream loses edge segmentation: CP134, a warning
    edit(root / "datastreams/web-staging.yaml", "edge_segmentation: true", "edge_segmentation: false")


def test_strict_warning_writes_nothing(tmp_path):
    root = copy_example(tmp_path / "root")
    _warn(root)
    result = run("build", root, "--strict")
    assert result.exit_code == 1
    assert "warning CP134" in result.output
    assert not (root / "build").exists()


def test_warning_without_strict_writes(tmp_path):
    root = copy_example(tmp_path / "root")
    _warn(root)
    result = run("build", root)
    assert result.exit_code == 0, result.output
    assert "warning CP134" in result.output
    assert "0 errors, 1 warning" in result.output
    assert sorted(os.listdir(root / "build")) == sorted(OUTPUTS)


@pytest.mark.parametrize("cache", ["cache", "no-cache"])
def test_strict_warning_leaves_earlier_build_untouched(tmp_path, cache):
    """Also when the earlier, non-strict build of the very same input is in the cache."""
    root = copy_example(tmp_path / "root")
    flags = ["--no-cache"] if cache == "no-cache" else []
    _warn(root)
    assert run("build", root, *flags).exit_code == 0
    before = dir_state(root / "build")
    result = run("build", root, "--strict", *flags)
    assert result.exit_code == 1, result.output
    assert "warning CP134" in result.output
    assert "up to date" not in result.output and "wrote" not in result.output
    assert dir_state(root / "build") == before


@pytest.mark.parametrize("cache", ["cache", "no-cache"])
def test_unsigned_build_removes_stale_signature(tmp_path, cache):
    root = copy_example(tmp_path / "root")
    flags = ["--no-cache"] if cache == "no-cache" else []
    assert run("keygen", "--out", tmp_path / "keys").exit_code == 0
    assert run("build", root, "--sign-key", tmp_path / "keys/cpcompile.key", *flags).exit_code == 0
    assert (root / "build/artifact.sig").is_file()
    signed_manifest = json.loads((root / "build/manifest.json").read_bytes())
    assert "artifact.sig" in signed_manifest["files"]

    result = run("build", root, *flags)
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output
    assert sorted(os.listdir(root / "build")) == sorted(OUTPUTS)
    manifest = json.loads((root / "build/manifest.json").read_bytes())
    assert "artifact.sig" not in manifest["files"] and manifest["signed_by"] is None


def _check_manifest(out: Path) -> dict:
    manifest = json.loads((out / "manifest.json").read_bytes())
    doc = json.loads((out / "artifact.json").read_bytes())
    listed = set(manifest["files"])
    assert listed == set(os.listdir(out)) - {"manifest.json"}
    for name, entry in manifest["files"].items():
        data = (out / name).read_bytes()
        assert entry == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}, name
    assert manifest["artifact"] == {
        "format": "cpcompile-artifact", "revision": doc["revision"], "schema_version": doc["schema_version"],
    }
    body = doc["body"]["datastreams"].values()
    assert manifest["counts"] == {
        "datastreams": len(doc["body"]["datastreams"]),
        "destinations": sum(len(d["destinations"]) for d in body),
        "audiences": len({a for d in body for a in d["audiences"]}),
        "mappings": sum(len(a["mappings"]) for d in body for a in d["audiences"].values()),
    }
    assert manifest["generator"].startswith("cpcompile ")
    return manifest


def test_manifest_matches_artifact(tmp_path):
    root = copy_example(tmp_path / "root")
    result = run("build", root)
    assert result.exit_code == 0
    manifest = _check_manifest(root / "build")
    assert manifest["counts"] == EXAMPLE_COUNTS
    assert manifest["signed_by"] is None
    assert set(manifest["files"]) == {"artifact.json", "artifact.msgpack"}
    assert "(2 datastreams, 3 destinations, 6 audiences, 7 mappings)" in result.output
    assert manifest["artifact"]["revision"] in result.output
    # written last, as the docs say: pretty, sorted, newline-terminated
    raw = (root / "build/manifest.json").read_text()
    assert raw == json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def test_signed_manifest_lists_the_signature(tmp_path):
    root = copy_example(tmp_path / "root")
    keygen = run("keygen", "--out", tmp_path / "keys")
    assert keygen.exit_code == 0
    assert run("build", root, "--sign-key", tmp_path / "keys/cpcompile.key").exit_code == 0
    manifest = _check_manifest(root / "build")
    assert manifest["counts"] == EXAMPLE_COUNTS
    assert set(manifest["files"]) == {"artifact.json", "artifact.msgpack", "artifact.sig"}
    signature = json.loads((root / "build/artifact.sig").read_bytes())
    assert manifest["signed_by"] == signature["key_id"]
    assert signature["key_id"] in keygen.output
    assert signature["revision"] == manifest["artifact"]["revision"]


def test_build_api_outcome_matches_files(tmp_path):
    root = copy_example(tmp_path / "root")
    outcome = build(root, tmp_path / "out", cache_dir=None)
    assert outcome.diagnostics == [] and outcome.files_checked == len(example_files()) and not outcome.up_to_date
    assert outcome.manifest == json.loads((tmp_path / "out/manifest.json").read_bytes())
    assert outcome.revision == json.loads((tmp_path / "out/artifact.json").read_bytes())["revision"]


def test_default_out_is_root_build_and_out_can_be_nested(tmp_path):
    root = copy_example(tmp_path / "root")
    assert run("build", root, "--out", tmp_path / "deep/er/out").exit_code == 0
    assert sorted(os.listdir(tmp_path / "deep/er/out")) == sorted(OUTPUTS)
    assert not (root / "build").exists()


def test_encoded_document_is_the_canonical_json_of_the_document():
    # the encoder writes the body once and splices the header after it; that must equal
    # encoding the whole document, which is what readers verify against
    from cpcompile.artifact_format.document import canonical_json, encode_document

    body = {"datastreams": {"z": {"audiences": {}, "destinations": [{"alias": "é\u2028", "destinationId": "x"}]}}}
    document, data = encode_document(body)
    assert data == canonical_json(document)
    assert list(document) == sorted(document)


def test_unwritable_output_is_a_usage_error_not_a_bug(tmp_path):
    root = copy_example(tmp_path / "root")
    blocker = tmp_path / "out"
    blocker.write_text("a file where the output directory should be")
    result = run("build", root, "--out", blocker / "build", "--no-cache")
    assert result.exit_code == 2, result.output
    assert "internal error" not in result.output
    assert f"cannot write {blocker / 'build'}: Not a directory" in result.output


def test_the_manifest_is_not_taken_for_an_artifact(tmp_path):
    """docs/build.md and docs/runtime.md: what verify says when given the manifest by mistake."""
    root = copy_example(tmp_path / "root")
    assert run("build", root).exit_code == 0
    result = run("verify", root / "build/manifest.json")
    assert result.exit_code == 1
    assert "not a cpcompile artifact: the document has no 'format' field" in result.output
    documented = (REPO_ROOT / "docs/build.md").read_text() + (REPO_ROOT / "docs/runtime.md").read_text()
    assert "the document has no 'format' field" in documented and "cpcompile-manifest" not in documented
