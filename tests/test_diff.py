"""`cpcompile diff BASE HEAD`: the plan of what changes for visitors, for each kind of change
(tests/diff_cases/<name>/{base,head}/, snapshots of text, markdown and json), long lists,
plans too long for one comment, git revisions, artifacts, invalid sides and exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cpcompile.plan_render import COMMENT_BUDGET, SHOWN_PER_LIST, comment_length
from conftest import catalog, copy_example, edit, run, uuid, write_tree

CASES = Path(__file__).resolve().parent / "diff_cases"
CASE_NAMES = sorted(p.name for p in CASES.iterdir() if p.is_dir())
FORMATS = ("text", "markdown", "json")
UNCHANGED = {"no_change", "cosmetic_only"}
EXIT_CHANGES = 4


def test_every_kind_of_change_has_a_case() -> None:
    assert {"no_change", "cosmetic_only", "destinations", "destination_removed", "audiences", "attributes",
            "datastreams", "governance", "hostile_names"} <= set(CASE_NAMES)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", CASE_NAMES)
def test_case(name: str, fmt: str, snapshot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CASES / name)
    result = run("diff", "base", "head", "--format", fmt)
    assert result.exit_code == 0, result.output
    assert result.stdout == snapshot


@pytest.mark.parametrize("name", CASE_NAMES)
def test_exit_code_says_whether_anything_effective_changed(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CASES / name)
    result = run("diff", "base", "head", "--exit-code", "--format", "json")
    expected = 0 if name in UNCHANGED else EXIT_CHANGES
    assert result.exit_code == expected, result.output
    assert json.loads(result.stdout)["changed"] is (expected == EXIT_CHANGES)


def test_json_names_the_ids_involved(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CASES / "audiences")
    document = json.loads(run("diff", "base", "head", "--format", "json").stdout)
    assert (document["format"], document["version"]) == ("cpcompile-diff", 1)
    removed = [c for c in document["effective"] if c["kind"] == "audience_removed"]
    assert removed == [{
        "kind": "audience_removed", "datastream": "0f3a6c1e-2b7d-4e59-9c3a-1d2e3f4a5b6c",
        "destination": "2c0e6f4a-1b3d-4e5f-8a9b-0c1d2e3f4a5b", "audience": "6e7f8a9b-0c1d-4e2f-9a3b-4c5d6e7f8a9b",
        "field": None, "before": None, "after": None,
    }]
    assert all({"kind", "datastream", "destination", "audience"} <= c.keys() for c in document["effective"])


def test_hostile_names_cannot_format_link_mention_or_forge_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CASES / "hostile_names")
    markdown = run("diff", "base", "head", "--format", "markdown").stdout
    for raw in ("<img", "<script", "**bold**", "[link]", "https://", "@org", " #1 ", "`code`", "\u202e", "\x07", "\n::error"):
        assert raw not in markdown, raw
    mermaid = markdown.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert all(line.count('"') in (0, 2) for line in mermaid.splitlines()), mermaid
    assert "-->" not in mermaid.replace(" -->|+| ", "").replace(" -.->|-| ", "")
    text = run("diff", "base", "head").stdout
    assert "\u202e" not in text and "\x07" not in text and "\n::error" not in text


# --- long lists and long plans --------------------------------------------------------------------



def _destination(n: int, audience_ids: range) -> str:
    items = "".join(f"  - id: {uuid('a0', i)}\n" for i in audience_ids)
    return f"id: {uuid('de', n)}\nname: Destination {n}\nalias: alias{n}\ndatastream: web\naudiences:\n{items}"


DATASTREAM = f"id: {uuid('d5', 1)}\nname: Web\nsandbox: prod\nedge_segmentation: true\npersonalization_destinations: true\n"


def test_one_audience_added_to_a_list_of_5000_is_one_line(tmp_path: Path, snapshot, monkeypatch: pytest.MonkeyPatch) -> None:
    catalog_text = catalog(5001)
    write_tree(tmp_path / "base", {"datastreams/web.yaml": DATASTREAM, "audiences/prod.yaml": catalog_text,
                                   "destinations/d.yaml": _destination(1, range(1, 5001))})
    write_tree(tmp_path / "head", {"datastreams/web.yaml": DATASTREAM, "audiences/prod.yaml": catalog_text,
                                   "destinations/d.yaml": _destination(1, range(1, 5002))})
    monkeypatch.chdir(tmp_path)
    outputs = {fmt: run("diff", "base", "head", "--format", fmt, "--exit-code") for fmt in FORMATS}
    assert all(r.exit_code == EXIT_CHANGES for r in outputs.values()), outputs
    assert outputs["text"].stdout == snapshot(name="text")
    assert outputs["markdown"].stdout == snapshot(name="markdown")
    for fmt in ("text", "markdown"):
        assert outputs[fmt].stdout.count(uuid("a0", 5001)) == 1
        assert uuid("a0", 4999) not in outputs[fmt].stdout
    effective = json.loads(outputs["json"].stdout)["effective"]
    assert [(c["kind"], c["audience"]) for c in effective] == [("audience_added", uuid("a0", 5001))]


def _many_destinations(root: Path, audiences: range) -> Path:
    files = {"datastreams/web.yaml": DATASTREAM, "audiences/prod.yaml": catalog(2000)}
    for n in range(1, 61):
        files[f"destinations/d{n:02d}.yaml"] = _destination(n, audiences)
    return write_tree(root, files)


def test_a_plan_too_long_for_one_comment_is_cut_with_a_note(tmp_path: Path, snapshot, monkeypatch: pytest.MonkeyPatch) -> None:
    _many_destinations(tmp_path / "base", range(1, 101))
    _many_destinations(tmp_path / "head", range(101, 201))
    monkeypatch.chdir(tmp_path)
    markdown = run("diff", "base", "head", "--format", "markdown").stdout
    whole = run("diff", "base", "head", "--format", "text").stdout
    assert comment_length("<!-- cpcompile-plan -->\n" + markdown) <= 65_536
    assert COMMENT_BUDGET - 10_000 < comment_length(markdown) <= COMMENT_BUDGET  # cut, not emptied
    assert markdown.rstrip().endswith("or add `--format json` for every change.")
    assert "shows the changes of " in markdown and " of 60 destinations" in markdown
    assert markdown.count("<details>") == markdown.count("</details>")  # no list left open
    assert "60 destinations changed on 1 datastream: +6000 / -6000 audiences" in markdown
    assert whole.count(f"... and {200 - SHOWN_PER_LIST} more audience changes") == 60
    # the head and the note, at the size of a real plan (the sections are long and alike)
    assert markdown.split("#### ")[0] == snapshot(name="head")
    assert markdown.rsplit("\n\n", 1)[1] == snapshot(name="note")


def test_a_long_cosmetic_list_is_cut_and_says_how_to_see_the_rest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _many_destinations(tmp_path / "base", range(1, 3))
    head = _many_destinations(tmp_path / "head", range(1, 3))
    for path in (head / "destinations").iterdir():
        edit(path, "name: Destination", "name: Renamed destination")
    monkeypatch.chdir(tmp_path)
    result = run("diff", "base", "head", "--format", "markdown", "--exit-code")
    assert result.exit_code == 0
    assert result.stdout.count("name: Destination ") == SHOWN_PER_LIST
    assert f"- … and {60 - SHOWN_PER_LIST} more: `cpcompile diff --format json` lists every change" in result.stdout
    assert "[!NOTE]" not in result.stdout


def test_a_short_plan_is_not_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CASES / "destinations")
    assert "[!NOTE]" not in run("diff", "base", "head", "--format", "markdown").stdout


# --- sides: git revisions, artifacts, build directories --------------------------------------------

GIT = shutil.which("git")
needs_git = pytest.mark.skipif(GIT is None, reason="git is not installed")


def _git(repo: Path, *args: str) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(repo), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    subprocess.run(["git", "-C", str(repo), *args], check=True, env=env, capture_output=True)


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    """A repository whose config lives in config/, with two commits: the example, then the
    ad server's alias changed. The working tree then gets a third, uncommitted change."""
    repo = tmp_path / "repo"
    copy_example(repo / "config")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "example")
    edit(repo / "config/destinations/ad-server.yaml", "alias: adServerAlias", "alias: adsAlias")
    _git(repo, "commit", "-q", "-am", "rename the alias")
    edit(repo / "config/destinations/ad-server.yaml", "alias: adsAlias", "alias: uncommittedAlias")
    return repo


@needs_git
def test_git_revisions_are_compiled_without_touching_the_working_tree(
    repo: Path, snapshot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    before = (repo / "config/destinations/ad-server.yaml").read_bytes()
    result = run("diff", "HEAD~1", "HEAD", "--root", "config", "--exit-code")
    assert result.exit_code == EXIT_CHANGES, result.output
    assert result.stdout == snapshot
    assert "adServerAlias -> adsAlias" in result.stdout and "uncommittedAlias" not in result.stdout
    assert (repo / "config/destinations/ad-server.yaml").read_bytes() == before
    # a revision against the working tree's config directory
    against_tree = run("diff", "HEAD", "config", "--root", "config")
    assert "adsAlias -> uncommittedAlias" in against_tree.stdout


@needs_git
@pytest.mark.parametrize("changed", [True, False])
def test_the_workflow_plan_step_runs_as_written(repo: Path, changed: bool, tmp_path: Path) -> None:
    """docs/ci/cpcompile.yml's Plan step, run by bash as GitHub would, on a pull request whose
    base is origin/main: the plan and whether anything effective changed are what the comment
    workflow reads."""
    from ruamel.yaml import YAML

    workflow = YAML(typ="safe", pure=True).load((Path(__file__).parents[1] / "docs/ci/cpcompile.yml").read_text())
    step = next(s for s in workflow["jobs"]["plan"]["steps"] if s.get("name") == "Plan")
    _git(repo, "update-ref", "refs/remotes/origin/main", "HEAD~1" if changed else "HEAD")
    scripts = Path(sys.executable).parent
    assert (scripts / "cpcompile").exists(), "the cpcompile console script is installed"
    env = {
        "PATH": f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}", "HOME": str(tmp_path),
        "GITHUB_BASE_REF": "main", "CONFIG_ROOT": "config", "PR_NUMBER": "7", "HEAD_SHA": "0" * 40,
    }
    done = subprocess.run(["bash", "-eo", "pipefail", "-c", step["run"]], cwd=repo, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr + done.stdout
    assert (repo / "plan/changed").read_text() == ("true\n" if changed else "false\n")
    plan = (repo / "plan/plan.md").read_text()
    assert plan.startswith("### cpcompile plan: origin/main → HEAD")
    assert ("adServerAlias -> adsAlias" in plan) is changed
    assert (repo / "plan/pr-number").read_text() == "7\n"


@needs_git
def test_an_invalid_revision_is_reported_as_validate_reports_it(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    edit(repo / "config/destinations/ad-server.yaml", "datastream: web-prod", "datastream: web-prd")
    _git(repo, "commit", "-q", "-am", "a typo")
    monkeypatch.chdir(repo)
    result = run("diff", "HEAD~1", "HEAD", "--root", "config", "--exit-code")
    assert result.exit_code == 1, result.output
    assert "config/destinations/ad-server.yaml:7:13: error CP132 unknown datastream 'web-prd'" in result.stdout
    assert "HEAD (commit) has errors; nothing compared" in result.stderr
    assert "plan:" not in result.stdout


@needs_git
def test_a_link_out_of_the_tree_in_a_commit_is_reported_not_followed(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = repo.parent / "secret.yaml"
    secret.write_text("id: 2c0e6f4a-1b3d-4e5f-8a9b-0c1d2e3f4a5b\n")
    (repo / "config/destinations/evil.yaml").symlink_to(secret)
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "a link out")
    monkeypatch.chdir(repo)
    result = run("diff", "HEAD~1", "HEAD", "--root", "config")
    assert result.exit_code == 1, result.output
    assert "config/destinations/evil.yaml:1:1: error CP111 not read from the commit" in result.stdout


@needs_git
def test_an_unknown_revision_is_a_usage_error(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo)
    for bad in ("no-such-branch", "--upload-pack=touch /tmp/x"):
        result = run("diff", "--root", "config", "--", "HEAD", bad)
        assert result.exit_code == 2, result.output
        assert "is neither a file, a directory nor a commit" in result.output or "not a path" in result.output


def test_an_invalid_directory_is_reported_as_validate_reports_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy_example(tmp_path / "base")
    copy_example(tmp_path / "head")
    edit(tmp_path / "head/destinations/ad-server.yaml", "alias: adServerAlias", "alias: ' padded'")
    monkeypatch.chdir(tmp_path)
    validate = run("validate", "head", "--format", "json")
    for fmt, expected in (("text", run("validate", "head").stdout), ("json", validate.stdout)):
        result = run("diff", "base", "head", "--format", fmt)
        assert result.exit_code == 1
        assert result.stdout == expected
    markdown = run("diff", "base", "head", "--format", "markdown").stdout
    assert markdown.startswith("```text\nhead/destinations/ad-server.yaml:")


def test_artifact_sides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, snapshot) -> None:
    monkeypatch.chdir(CASES / "audiences")
    out = tmp_path / "built"
    assert run("build", "base", "--out", out / "base", "--no-cache").exit_code == 0
    assert run("build", "head", "--out", out / "head", "--no-cache").exit_code == 0
    from_config = json.loads(run("diff", "base", "head", "--format", "json").stdout)
    for old, new in ((out / "base/artifact.json", out / "head/artifact.msgpack"), (out / "base", "head")):
        result = run("diff", old, new, "--format", "json", "--exit-code")
        assert result.exit_code == EXIT_CHANGES, result.output
        document = json.loads(result.stdout)
        assert document["effective"] == from_config["effective"]
        assert document["cosmetic_visible"] is False and document["cosmetic"] == []
    text = run("diff", out / "base/artifact.json", out / "head/artifact.json").stdout
    assert "Cosmetic changes cannot be seen: a side is a built artifact" in text
    assert text.replace(str(out), "<out>") == snapshot


def test_an_artifact_that_cannot_be_trusted_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CASES / "no_change")
    assert run("build", "base", "--out", tmp_path / "b", "--no-cache").exit_code == 0
    artifact = tmp_path / "b/artifact.json"
    artifact.write_bytes(artifact.read_bytes().replace(b"adServerAlias", b"adServerAliaZ"))
    result = run("diff", artifact, "head")
    assert result.exit_code == 2
    assert "not an artifact that can be trusted" in result.output


def test_the_same_tree_twice_changes_nothing(tmp_path: Path) -> None:
    root = copy_example(tmp_path / "config")
    result = run("diff", root, root, "--exit-code")
    assert result.exit_code == 0
    assert "No effective changes" in result.stdout and "No cosmetic changes." in result.stdout


def test_a_new_export_stamp_on_a_catalog_is_no_effective_change(tmp_path: Path) -> None:
    base = copy_example(tmp_path / "base")
    head = copy_example(tmp_path / "head")
    edit(base / "audiences" / "prod.yaml", "sandbox: prod\n", "sandbox: prod\nexported_at: 2026-11-01T00:00:00Z\n")
    edit(head / "audiences" / "prod.yaml", "sandbox: prod\n", "sandbox: prod\nexported_at: 2026-11-28T00:00:00Z\n")
    result = run("diff", base, head, "--exit-code", env={"SOURCE_DATE_EPOCH": "1796083200"})
    assert result.exit_code == 0, result.output
    assert "No effective changes" in result.stdout
