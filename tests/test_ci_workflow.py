"""The GitHub workflows in docs/ci/ are valid workflow files (the published schema, as vendored
by check-jsonschema), use only commands and options cpcompile has, and their validate and build
steps do what docs/ci.md says when run as written."""

from __future__ import annotations

import importlib.resources
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import jsonschema
import pytest
from ruamel.yaml import YAML

from cpcompile.cli import cli
from conftest import REPO_ROOT, copy_example

WORKFLOWS = sorted((REPO_ROOT / "docs" / "ci").glob("*.yml"))
CPCOMPILE_CALL = re.compile(r"\bcpcompile ([a-z]+)((?: [^\n|>;&]*)?)")


def _workflow_schema() -> dict[str, Any]:
    vendor = importlib.resources.files("check_jsonschema").joinpath("builtin_schemas", "vendor")
    schema: dict[str, Any] = json.loads(vendor.joinpath("github-workflows.json").read_text(encoding="utf-8"))
    assert schema["$id"] == "https://json.schemastore.org/github-workflow.json"
    return schema


def _load(path: Path) -> Any:
    return YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))


def _steps(path: Path) -> list[dict[str, Any]]:
    return [step for job in _load(path)["jobs"].values() for step in job.get("steps", [])]


def test_there_are_workflows() -> None:
    assert [p.name for p in WORKFLOWS] == ["cpcompile-comment.yml", "cpcompile.yml"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_matches_the_published_schema(path: Path) -> None:
    validator = jsonschema.Draft7Validator(_workflow_schema())
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(_load(path))]
    assert not errors, errors


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_uses_only_commands_and_options_that_exist(path: Path) -> None:
    for step in _steps(path):
        for command, rest in CPCOMPILE_CALL.findall(step.get("run", "")):
            assert command in cli.commands, f"{step.get('name')}: no command 'cpcompile {command}'"
            known = {opt for param in cli.commands[command].params if isinstance(param, click.Option) for opt in param.opts}
            for word in shlex.split(rest):
                if word.startswith("--"):
                    assert word.split("=")[0] in known, f"{step.get('name')}: cpcompile {command} has no {word}"


def test_workflow_does_not_paste_event_data_into_scripts() -> None:
    # ${{ github.event... }} inside run: is a script injection; values go through env: instead
    for path in WORKFLOWS:
        for step in _steps(path):
            assert "${{" not in step.get("run", ""), f"{path.name}: {step.get('name')}"


def _run_step(step: dict[str, Any], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-eo", "pipefail", "-c", step["run"]], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture()
def workflow_env(tmp_path: Path) -> dict[str, str]:
    scripts = Path(sys.executable).parent
    assert (scripts / "cpcompile").exists(), "the cpcompile console script is installed"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CPCOMPILE_", "SOURCE_DATE_EPOCH"))}
    workflow = _load(REPO_ROOT / "docs" / "ci" / "cpcompile.yml")
    env.update({k: str(v) for k, v in workflow["env"].items()})
    env["PATH"] = f"{scripts}{os.pathsep}{env.get('PATH', '')}"
    env["CPCOMPILE_CACHE_DIR"] = str(tmp_path / "cache")
    return env


def _check_steps() -> dict[str, dict[str, Any]]:
    steps = _load(REPO_ROOT / "docs" / "ci" / "cpcompile.yml")["jobs"]["check"]["steps"]
    return {step["name"]: step for step in steps if "run" in step and "cpcompile " in step["run"] and "install" not in step["run"]}


def _with_specs(repo: Path) -> Path:
    shutil.copytree(REPO_ROOT / "specs", repo / "specs")
    return repo


def test_check_job_passes_the_example_config(tmp_path: Path, workflow_env: dict[str, str]) -> None:
    repo = _with_specs(copy_example(tmp_path / "repo"))
    for name, step in _check_steps().items():
        result = _run_step(step, repo, workflow_env)
        assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"
    assert json.loads((repo / "cpcompile.sarif").read_text())["runs"][0]["results"] == []
    assert (repo / "build" / "artifact.json").is_file()


def test_check_job_annotates_and_fails_a_broken_config(tmp_path: Path, workflow_env: dict[str, str]) -> None:
    repo = copy_example(tmp_path / "repo")
    broken = sorted((repo / "destinations").rglob("*.yaml"))[0]
    broken.write_text(broken.read_text().replace("datastream: ", "datastream: no-such-", 1))
    steps = _check_steps()
    validate = _run_step(steps["Validate (annotations on the diff)"], repo, workflow_env)
    assert validate.returncode == 1
    assert validate.stdout.startswith(f"::error file={broken.relative_to(repo).as_posix()},line=")
    sarif = _run_step(steps["Validate (SARIF for code scanning)"], repo, workflow_env)
    assert sarif.returncode == 0  # the report is uploaded even when validation fails
    results = json.loads((repo / "cpcompile.sarif").read_text())["runs"][0]["results"]
    assert {r["ruleId"] for r in results} == {"CP132"}
    assert _run_step(steps["Build"], repo, workflow_env).returncode == 1
    assert not (repo / "build" / "artifact.json").exists()


def test_check_job_fails_a_broken_spec_and_an_unformatted_file(tmp_path: Path, workflow_env: dict[str, str]) -> None:
    repo = _with_specs(copy_example(tmp_path / "repo"))
    spec = repo / "specs" / "ad-server.yaml"
    spec.write_text(spec.read_text().replace("adServerAlias", "adServerAlais", 1))
    steps = _check_steps()
    specs = _run_step(steps["Specs (expected answers, on the diff)"], repo, workflow_env)
    assert specs.returncode == 1
    assert "::error file=specs/ad-server.yaml,line=" in specs.stdout
    datastream = repo / "datastreams" / "web-prod.yaml"
    lines = datastream.read_text().splitlines(keepends=True)
    datastream.write_text("".join([lines[0], *reversed(lines[1:])]))  # same content, keys out of order
    formatting = _run_step(steps["Formatting"], repo, workflow_env)
    assert formatting.returncode == 1
    assert "datastreams/web-prod.yaml" in formatting.stdout + formatting.stderr
    assert "1 file would be reformatted" in formatting.stdout + formatting.stderr


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false", *args],
        cwd=repo, check=True, capture_output=True,
    )


def _pull_request(tmp_path: Path, change: Any) -> Path:
    """A repository whose `origin/main` is the example config and whose HEAD changes it."""
    repo = copy_example(tmp_path / "repo")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "base")
    _git(repo, "update-ref", "refs/remotes/origin/main", "HEAD")
    change(repo)
    _git(repo, "commit", "-q", "-a", "-m", "change")
    return repo


def _plan_step() -> dict[str, Any]:
    [step] = [s for s in _load(REPO_ROOT / "docs" / "ci" / "cpcompile.yml")["jobs"]["plan"]["steps"] if s.get("name") == "Plan"]
    return step


def _rename_destination(repo: Path) -> None:
    path = sorted((repo / "destinations").rglob("*.yaml"))[0]
    path.write_text(path.read_text().replace("name: ", "name: Renamed ", 1))


def _drop_an_audience(repo: Path) -> None:
    path = repo / "destinations" / "ad-server.yaml"
    lines = path.read_text().splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if line.lstrip().startswith("- id:"))
    end = next((i for i in range(first + 1, len(lines)) if lines[i].lstrip().startswith("- ")), len(lines))
    path.write_text("".join(lines[:first] + lines[end:]))


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
@pytest.mark.parametrize("change, changed", [(_drop_an_audience, "true"), (_rename_destination, "false")])
def test_plan_step_writes_the_plan_and_whether_visitors_see_a_change(
    tmp_path: Path, workflow_env: dict[str, str], change: Any, changed: str
) -> None:
    repo = _pull_request(tmp_path, change)
    env = {**workflow_env, "GITHUB_BASE_REF": "main", "PR_NUMBER": "7", "HEAD_SHA": "0" * 40}
    result = _run_step(_plan_step(), repo, env)
    assert result.returncode == 0, result.stdout + result.stderr
    plan = repo / "plan"
    assert (plan / "changed").read_text().strip() == changed
    assert (plan / "pr-number").read_text().strip() == "7"
    assert (plan / "plan.md").read_text().strip()


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_plan_step_fails_on_an_invalid_head(tmp_path: Path, workflow_env: dict[str, str]) -> None:
    def break_it(repo: Path) -> None:
        path = repo / "destinations" / "ad-server.yaml"
        path.write_text(path.read_text().replace("datastream: ", "datastream: no-such-", 1))

    repo = _pull_request(tmp_path, break_it)
    result = _run_step(_plan_step(), repo, {**workflow_env, "GITHUB_BASE_REF": "main", "PR_NUMBER": "7", "HEAD_SHA": "0"})
    assert result.returncode == 1
    assert "CP132" in result.stdout
