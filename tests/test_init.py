"""`cpcompile init`: a new config repository that validates, builds, passes its specs and is
formatted as it is written; editors find its schemas inside it; it never touches a folder that
already holds config."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from conftest import REPO_ROOT, run

from cpcompile import __version__, yamlsrc

EDITOR_LINE = re.compile(r"# yaml-language-server: \$schema=(\S+)\n")
FOLDERS = ("datastreams", "destinations", "audiences", "policies", "specs")
HAS_GIT = shutil.which("git") is not None


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    result = run("init", tmp_path / "my-config")
    assert result.exit_code == 0, result.output
    return tmp_path / "my-config"


def _tree(root: Path) -> dict[str, bytes | None]:
    """Every entry below ``root``: a file's bytes, None for a folder."""
    return {p.relative_to(root).as_posix(): None if p.is_dir() else p.read_bytes() for p in root.rglob("*")}


def _yaml_files(root: Path) -> list[Path]:
    return sorted(p for folder in FOLDERS for p in (root / folder).rglob("*.yaml"))


def test_the_new_repository_validates_builds_passes_its_specs_and_is_formatted(repo: Path) -> None:
    validated = run("validate", repo, "--strict")
    assert validated.exit_code == 0, validated.output
    assert "0 errors, 0 warnings in 4 files checked" in validated.stdout
    built = run("build", repo, "--no-cache")
    assert built.exit_code == 0, built.output
    assert "1 datastream, 1 destination, 2 audiences, 2 mappings" in built.output
    assert (repo / "build" / "artifact.json").is_file()
    tested = run("test", repo)
    assert tested.exit_code == 0, tested.output
    assert "4 specs: 4 passed, 0 failed" in tested.output
    formatted = run("fmt", "--check", repo)
    assert formatted.exit_code == 0 and formatted.stdout == "", formatted.output
    assert run("schema", "--check", "--out", repo / "docs" / "schemas").exit_code == 0  # current schemas


def test_it_says_what_it_wrote_and_what_to_do_next(tmp_path: Path) -> None:
    result = run("init", tmp_path / "my-config")
    assert result.exit_code == 0
    written = [line.removeprefix("wrote ") for line in result.stdout.splitlines()]
    assert written == sorted(p.as_posix() for p in (tmp_path / "my-config").rglob("*") if p.is_file())
    assert f"next: cd {tmp_path / 'my-config'} && git init && cpcompile validate --strict" in result.stderr


def test_every_example_file_finds_its_editor_schema_inside_the_repository(repo: Path) -> None:
    assert run("new", "destination", "ads", "--datastream", "web", "--root", repo).exit_code == 0
    files = _yaml_files(repo)
    assert {p.parent.name for p in files} == set(FOLDERS)
    for path in files:
        text = path.read_text(encoding="utf-8")
        line = EDITOR_LINE.match(text)
        assert line, f"{path} has no editor line"
        schema = (path.parent / line.group(1)).resolve()
        assert schema.is_file() and repo.resolve() in schema.parents, f"{path}: {schema}"
        # the schema is the one for the file's kind: it accepts the file
        jsonschema.Draft202012Validator(json.loads(schema.read_bytes())).validate(yamlsrc.parse(text))


@pytest.mark.parametrize("existing", ["destinations/", "audiences/prod.yaml", "policies/", "specs/", "cpcompile.yaml"])
def test_a_folder_that_holds_config_is_refused_and_nothing_is_written(tmp_path: Path, existing: str) -> None:
    target = tmp_path / "config"
    (target / existing).parent.mkdir(parents=True, exist_ok=True)
    if existing.endswith("/"):
        (target / existing).mkdir()
    else:
        (target / existing).write_text("sandbox: prod\n")
    before = _tree(target)
    result = run("init", target)
    assert result.exit_code == 2
    assert "already holds a cpcompile config" in result.stderr
    assert existing.split("/")[0] in result.stderr
    assert _tree(target) == before


def test_no_existing_file_is_replaced(tmp_path: Path) -> None:
    target = tmp_path / "with-gitignore"
    target.mkdir()
    (target / ".gitignore").write_text("node_modules/\n")
    result = run("init", target)
    assert result.exit_code == 2 and "already has .gitignore" in result.stderr
    assert os.listdir(target) == [".gitignore"] and (target / ".gitignore").read_text() == "node_modules/\n"
    (tmp_path / "a-file").write_text("x")
    result = run("init", tmp_path / "a-file")
    assert result.exit_code == 2 and "is not a folder" in result.stderr


def test_a_folder_without_config_gets_one(tmp_path: Path) -> None:
    target = tmp_path / "existing"
    (target / ".github" / "workflows").mkdir(parents=True)
    (target / ".github" / "workflows" / "site.yml").write_text("name: site\n")
    (target / "README.md").write_text("our site\n")
    with contextlib.chdir(target):
        result = run("init")  # DIR defaults to the working directory
    assert result.exit_code == 0, result.output
    assert "wrote .github/workflows/cpcompile.yml" in result.stdout
    assert "next: git init && " in result.stderr
    assert (target / "README.md").read_text() == "our site\n"
    assert (target / ".github" / "workflows" / "site.yml").read_text() == "name: site\n"
    assert run("validate", target, "--strict").exit_code == 0


def test_each_repository_gets_its_own_ids(tmp_path: Path) -> None:
    for name in ("a", "b"):
        assert run("init", tmp_path / name).exit_code == 0
    ids = [set(re.findall(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}",
                          (tmp_path / name / "audiences" / "prod.yaml").read_text())) for name in ("a", "b")]
    assert len(ids[0]) == 3 and not ids[0] & ids[1]  # a merge policy and two audiences


@pytest.mark.skipif(not HAS_GIT, reason="needs git")
def test_gitignore_keeps_build_output_caches_and_private_keys_out(repo: Path) -> None:
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    ignored = ["build/artifact.json", ".cpcompile-cache/v2/x.json", "cpcompile.key", "keys/deploy.key",
               "plan/plan.md", "cpcompile.sarif"]
    kept = ["cpcompile.pub", "destinations/home-banner.yaml", "docs/schemas/catalog.schema.json",
            ".github/workflows/cpcompile.yml", ".pre-commit-config.yaml", "specs/home-banner.yaml"]
    result = subprocess.run(["git", "check-ignore", "--no-index", *ignored, *kept], cwd=repo,
                            capture_output=True, text=True)
    assert result.stdout.splitlines() == ignored


def _hooks(text: str) -> dict[str, dict[str, object]]:
    from ruamel.yaml import YAML

    data = YAML(typ="safe").load(text)
    hooks = data if isinstance(data, list) else [h for r in data["repos"] for h in r["hooks"]]
    return {h["id"]: h for h in hooks}


def test_the_pre_commit_config_runs_cpcompiles_own_hooks(repo: Path) -> None:
    published = _hooks((REPO_ROOT / ".pre-commit-hooks.yaml").read_text())
    ours = _hooks((repo / ".pre-commit-config.yaml").read_text())
    assert set(ours) <= set(published)
    for hook_id, hook in ours.items():
        for key in ("name", "entry", "pass_filenames"):
            assert hook.get(key, True) == published[hook_id].get(key, True), (hook_id, key)
        # at least the files cpcompile's own hook runs on, and policies/ too
        for path in [*(p.relative_to(repo).as_posix() for p in _yaml_files(repo)), "config/destinations/x.yaml"]:
            if re.search(str(published[hook_id]["files"]), path) or path.startswith("policies/"):
                assert re.search(str(hook["files"]), path), (hook_id, path)


@pytest.mark.skipif(not HAS_GIT, reason="needs git")
def test_pre_commit_runs_the_hooks_on_the_new_repository(repo: Path, tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"), "PRE_COMMIT_COLOR": "never",
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    done = subprocess.run([sys.executable, "-m", "pre_commit", "run", "--all-files"], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert [line.rsplit(".", 1)[-1] for line in done.stdout.splitlines() if line.startswith("cpcompile")] == [
        "Passed", "Passed", "Passed"
    ]


def test_the_ci_workflows_are_the_documented_ones(repo: Path) -> None:
    for name in ("cpcompile.yml", "cpcompile-comment.yml"):
        documented = (REPO_ROOT / "docs" / "ci" / name).read_text()
        documented = re.sub(r'CPCOMPILE_VERSION: "[^"]*"', f'CPCOMPILE_VERSION: "{__version__}"', documented)
        assert (repo / ".github" / "workflows" / name).read_text() == documented
