"""The pre-commit hooks (.pre-commit-hooks.yaml), run by pre-commit itself: `pre-commit
try-repo` installs this checkout (its HEAD plus uncommitted changes to tracked files) into a
fresh environment, as a user's `pre-commit install` would, and runs the hook in a repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import REPO_ROOT, copy_example

pytestmark = pytest.mark.skipif(
    not (REPO_ROOT / ".git").exists() or shutil.which("git") is None,
    reason="try-repo needs this project as a git checkout",
)
PRE_COMMIT = [sys.executable, "-m", "pre_commit"]


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false", *args],
        cwd=repo, check=True, capture_output=True,
    )


def _repository(path: Path, config_folder: str = ".") -> Path:
    copy_example(path / config_folder)
    shutil.copytree(REPO_ROOT / "specs", path / config_folder / "specs")
    (path / "README.md").write_text("a repository with a personalization config\n")
    _git(path, "init", "-q")
    _git(path, "add", "-A")
    _git(path, "commit", "-q", "-m", "config")
    return path


def _try_repo(repo: Path, home: Path, hook: str, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRE_COMMIT_HOME": str(home), "PRE_COMMIT_COLOR": "never"}
    env.pop("SOURCE_DATE_EPOCH", None)
    return subprocess.run(
        [*PRE_COMMIT, "try-repo", str(REPO_ROOT), hook, *extra],
        cwd=repo, env=env, capture_output=True, text=True, timeout=600,
    )


def test_the_hook_passes_a_valid_config(tmp_path: Path, pre_commit_home: Path) -> None:
    result = _try_repo(_repository(tmp_path), pre_commit_home, "cpcompile-validate", "--all-files")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "cpcompile validate" in result.stdout and "Passed" in result.stdout


def test_the_hook_fails_a_broken_config_with_located_errors(tmp_path: Path, pre_commit_home: Path) -> None:
    repo = _repository(tmp_path)
    home = next((repo / "destinations").rglob("*.yaml"))
    home.write_text(home.read_text().replace("datastream: ", "datastream: no-such-", 1))
    _git(repo, "add", "-A")
    result = _try_repo(repo, pre_commit_home, "cpcompile-validate")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Failed" in result.stdout
    assert f"{home.relative_to(repo).as_posix()}:" in result.stdout and "error CP132" in result.stdout


def test_the_hook_does_not_run_when_no_config_file_changed(tmp_path: Path, pre_commit_home: Path) -> None:
    repo = _repository(tmp_path)
    (repo / "README.md").write_text("changed\n")
    _git(repo, "add", "-A")
    result = _try_repo(repo, pre_commit_home, "cpcompile-validate")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "(no files to check)Skipped" in result.stdout


def test_the_strict_hook_fails_on_warnings(tmp_path: Path, pre_commit_home: Path) -> None:
    repo = _repository(tmp_path)
    (repo / "destinations" / "notes.txt").write_text("a stray file: CP112 warning\n")
    _git(repo, "add", "-A")
    assert _try_repo(repo, pre_commit_home, "cpcompile-validate").returncode == 0
    result = _try_repo(repo, pre_commit_home, "cpcompile-validate-strict")
    assert result.returncode == 1 and "warning CP112" in result.stdout, result.stdout


def test_the_fmt_hook_rewrites_a_changed_file_and_fails(tmp_path: Path, pre_commit_home: Path) -> None:
    repo = _repository(tmp_path)
    ad = repo / "destinations" / "ad-server.yaml"
    ad.write_text(ad.read_text().replace("id: 2c0e6f4a", "id: 2C0E6F4A", 1))
    _git(repo, "add", "-A")
    result = _try_repo(repo, pre_commit_home, "cpcompile-fmt")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "files were modified by this hook" in result.stdout
    assert "reformatted destinations/ad-server.yaml" in result.stdout
    assert "id: 2c0e6f4a" in ad.read_text()


def test_the_test_hook_runs_the_specs(tmp_path: Path, pre_commit_home: Path) -> None:
    repo = _repository(tmp_path)
    home = repo / "destinations" / "home-personalization.yaml"
    home.write_text(home.read_text().replace("    end: 2027-01-31", "    end: 2027-01-30"))
    _git(repo, "add", "-A")
    result = _try_repo(repo, pre_commit_home, "cpcompile-test")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "specs/home-personalization.yaml:" in result.stdout and "error CP170" in result.stdout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the validation daemon is Linux's")
def test_the_hook_with_daemon_starts_one_for_its_own_installation(tmp_path: Path, pre_commit_home: Path) -> None:
    """`args: [--daemon]`: the first run validates and starts a daemon for the hook's own
    installation (not the user's cpcompile), which the hook's next runs are handed to."""
    repo = _repository(tmp_path / "repo")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.strip()
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {REPO_ROOT}\n    rev: {head}\n    hooks:\n      - id: cpcompile-validate\n        args: [--daemon]\n"
    )
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "hooks")
    sockets = Path(tempfile.mkdtemp(prefix="cpd-", dir="/tmp")) / "run"
    env = {**os.environ, "PRE_COMMIT_HOME": str(pre_commit_home), "PRE_COMMIT_COLOR": "never",
           "CPCOMPILE_DAEMON_DIR": str(sockets), "CPCOMPILE_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("SOURCE_DATE_EPOCH", None)
    env.pop("CPCOMPILE_DAEMON", None)

    def hook() -> subprocess.CompletedProcess[str]:
        return subprocess.run([*PRE_COMMIT, "run", "--all-files"], cwd=repo, env=env, capture_output=True, text=True, timeout=600)

    installed: list[Path] = []
    try:
        first = hook()
        assert first.returncode == 0 and "Passed" in first.stdout, first.stdout + first.stderr
        installed = [p for p in pre_commit_home.glob("repo*/py_env-*/bin/cpcompile") if p.is_file()]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(_status(c, env).returncode == 0 for c in installed):
            time.sleep(0.1)
        assert any(_status(c, env).returncode == 0 for c in installed), [_status(c, env).stdout for c in installed]
        # the user's own cpcompile (this one) is another installation: no daemon of its own
        assert subprocess.run([sys.executable, "-P", "-m", "cpcompile", "daemon", "status"], env=env,
                              capture_output=True).returncode == 1

        config = next((repo / "destinations").rglob("*.yaml"))
        config.write_text(config.read_text().replace("datastream: ", "datastream: no-such-", 1))
        broken = hook()
        assert broken.returncode == 1 and "Failed" in broken.stdout, broken.stdout + broken.stderr
        assert f"{config.relative_to(repo).as_posix()}:" in broken.stdout and "error CP132" in broken.stdout
    finally:
        for command in installed:
            subprocess.run([str(command), "daemon", "stop"], env=env, capture_output=True)
        shutil.rmtree(sockets.parent, ignore_errors=True)


def _status(command: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(command), "daemon", "status"], env=env, capture_output=True, text=True)
