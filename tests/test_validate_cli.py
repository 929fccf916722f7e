"""`cpcompile validate` as CI sees it: exit codes, output formats, and inputs that cannot be
committed as golden cases (a file over the size limit, symbolic links out of the repository)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import cpcompile
from cpcompile import sources, yamlsrc
from cpcompile.cli import cli
from conftest import CASES_DIR, REPO_ROOT, WEB_DATASTREAM, destination, write_tree

VALID = CASES_DIR / "valid" / "with-catalog"
INVALID = CASES_DIR / "invalid" / "cp132-unknown-datastream"
WARNING_ONLY = CASES_DIR / "invalid" / "cp134-edge-segmentation-off-warning"
MANY = CASES_DIR / "invalid" / "many-problems-across-files"


def _validate(runner, root: Path, *args: str):
    return runner.invoke(cli, ["validate", str(root), *args])


def _report(result) -> dict:
    return json.loads(result.stdout)


def _codes(result) -> list[str]:
    return [d["code"] for d in _report(result)["diagnostics"]]


# ------------------------------------------------------------------------------- exit codes


def test_clean_config_exits_0(runner):
    result = _validate(runner, VALID)
    assert (result.exit_code, result.stdout, result.stderr) == (0, "0 errors, 0 warnings in 3 files checked\n", "")


def test_config_errors_exit_1(runner):
    assert _validate(runner, INVALID).exit_code == 1


def test_root_defaults_to_the_current_directory(runner, monkeypatch):
    monkeypatch.chdir(INVALID)
    result = runner.invoke(cli, ["validate"])
    assert result.exit_code == 1
    assert "CP132" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["validate", "no/such/dir"], id="nonexistent-root"),
        pytest.param(["validate", str(VALID / "datastreams" / "web.yaml")], id="root-is-a-file"),
        pytest.param(["validate", str(VALID), "--format", "xml"], id="bad-format"),
        pytest.param(["validate", str(VALID), "--no-such-option"], id="unknown-option"),
        pytest.param(["valdate", str(VALID)], id="unknown-command"),
    ],
)
def test_usage_errors_exit_2(runner, args):
    result = runner.invoke(cli, args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "Usage:" in result.stderr


def test_internal_error_exits_3_with_a_one_line_apology(runner, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.delenv("CPCOMPILE_DEBUG", raising=False)
    monkeypatch.setattr("cpcompile.incremental.check", broken)
    result = _validate(runner, VALID, "--no-cache")  # a cached report would not reach it
    assert result.exit_code == 3
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("cpcompile: internal error (RuntimeError: boom). Sorry, this is a bug in cpcompile")
    assert "CPCOMPILE_DEBUG=1" in result.stderr
    assert "Traceback" not in result.stderr


def test_internal_error_shows_the_traceback_with_cpcompile_debug(runner, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setenv("CPCOMPILE_DEBUG", "1")
    monkeypatch.setattr("cpcompile.incremental.check", broken)
    result = _validate(runner, VALID, "--no-cache")
    assert result.exit_code == 3
    assert "Traceback (most recent call last)" in result.stderr
    assert 'raise RuntimeError("boom")' in result.stderr
    assert "cpcompile: internal error (RuntimeError: boom)" in result.stderr


def test_warnings_pass_unless_strict(runner):
    plain = _validate(runner, WARNING_ONLY)
    strict = _validate(runner, WARNING_ONLY, "--strict")
    assert plain.exit_code == 0
    assert strict.exit_code == 1
    assert plain.stdout == strict.stdout
    assert "warning CP134" in plain.stdout


def test_strict_passes_a_clean_config(runner):
    assert _validate(runner, VALID, "--strict").exit_code == 0


# ----------------------------------------------------------------------------------- formats


GITHUB_LINE = re.compile(r"::(error|warning) file=[^,:]+,line=[1-9]\d*,col=[1-9]\d*,title=CP\d{3}::\S.*")


def test_github_format_is_one_workflow_command_per_diagnostic(runner):
    github = _validate(runner, MANY, "--format", "github")
    report = _report(_validate(runner, MANY, "--format", "json"))
    lines = github.stdout.splitlines()
    assert github.exit_code == 1
    assert len(lines) == len(report["diagnostics"])
    for line, d in zip(lines, report["diagnostics"]):
        assert GITHUB_LINE.fullmatch(line), line
        command = "error" if d["severity"] == "error" else "warning"
        assert line.startswith(f"::{command} file={d['file']},line={d['line']},col={d['col']},title={d['code']}::")
    assert "%0Ahint: " in github.stdout  # the hint goes on a second line of the annotation


def test_github_format_escapes_properties_and_data(runner, tmp_path):
    write_tree(tmp_path, {"datastreams/web,v2:old.yaml": "id: 100%\nname: Web\nsandbox: prod\n"})
    result = _validate(runner, tmp_path, "--format", "github")
    assert result.stdout == (
        "::error file=datastreams/web%2Cv2%3Aold.yaml,line=1,col=5,title=CP123::"
        "id: '100%25' is not a UUID (expected 8-4-4-4-12 hex digits)\n"
    )


def test_github_format_prints_nothing_for_a_clean_config(runner):
    result = _validate(runner, VALID, "--format", "github")
    assert (result.exit_code, result.stdout) == (0, "")


def test_json_format_is_one_document(runner):
    report = _report(_validate(runner, MANY, "--format", "json"))
    assert set(report) == {"diagnostics", "summary"}
    assert report["summary"] == {"errors": 8, "warnings": 3, "files": 7, "skipped_cross_file": 2}
    assert set(report["diagnostics"][0]) == {"code", "severity", "message", "file", "line", "col", "hint"}


# ---------------------------------------------------------------------------------- the repo


def test_the_example_config_validates(runner):
    result = _validate(runner, REPO_ROOT, "--strict")
    assert result.exit_code == 0, result.stdout
    assert result.stdout.startswith("0 errors, 0 warnings in ")


def test_python_m_cpcompile_version():
    done = subprocess.run(
        [sys.executable, "-m", "cpcompile", "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"cpcompile, version {cpcompile.__version__}\n"


def _listing(*roots: Path) -> dict[str, tuple[int, int]]:
    return {
        str(path): (path.lstat().st_size, path.lstat().st_mtime_ns)
        for root in roots
        for path in [root, *root.rglob("*")]
    }


def test_validate_writes_nothing(runner, tmp_path, monkeypatch):
    root = tmp_path / "config"
    shutil.copytree(MANY, root)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    before = _listing(root, cwd)
    for fmt in ("text", "json", "github"):
        assert _validate(runner, root, "--format", fmt).exit_code == 1
        assert _validate(runner, root, "--format", fmt, "--strict").exit_code == 1
    assert _listing(root, cwd) == before


# ------------------------------------------------------ inputs that are not committed as cases


def test_cp110_file_over_the_size_limit(runner, tmp_path):
    write_tree(tmp_path, {"datastreams/web.yaml": WEB_DATASTREAM})
    with open(tmp_path / "datastreams" / "huge.yaml", "wb") as huge:
        huge.truncate(sources.MAX_FILE_BYTES + 1)  # sparse: nothing is written to disk
    result = _validate(runner, tmp_path)
    assert result.exit_code == 1
    assert result.stdout == (
        "datastreams/huge.yaml:1:1: error CP110 file is 4,194,305 bytes; the limit is 4,194,304\n"
        "    hint: split it into several files\n"
        "1 error, 0 warnings in 2 files checked; cross-file checks skipped for 1 file with errors\n"
    )


def test_cp110_limit_is_inclusive(runner, tmp_path, monkeypatch):
    at_limit = WEB_DATASTREAM.encode()
    write_tree(tmp_path, {"datastreams/web.yaml": at_limit, "datastreams/app.yaml": at_limit + b"\n"})
    monkeypatch.setattr(sources, "MAX_FILE_BYTES", len(at_limit))
    result = _validate(runner, tmp_path, "--format", "json")
    assert [(d["code"], d["file"]) for d in _report(result)["diagnostics"]] == [("CP110", "datastreams/app.yaml")]


def _outside_file(tmp_path: Path) -> Path:
    outside = write_tree(tmp_path / "elsewhere", {"web.yaml": WEB_DATASTREAM})
    return outside / "web.yaml"


def test_cp111_symlinked_file_out_of_the_root(runner, tmp_path):
    root = tmp_path / "repo"
    target = _outside_file(tmp_path)
    (root / "datastreams").mkdir(parents=True)
    (root / "datastreams" / "web.yaml").symlink_to(target)
    result = _validate(runner, root)
    assert result.exit_code == 1
    assert result.stdout.startswith(
        "datastreams/web.yaml:1:1: error CP111 symbolic link points outside the config root (to 'web.yaml')\n"
    )


def test_cp111_symlinked_folder_out_of_the_root(runner, tmp_path):
    root = tmp_path / "repo"
    _outside_file(tmp_path)
    (root / "datastreams").mkdir(parents=True)
    (root / "datastreams" / "shared").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    result = _validate(runner, root, "--format", "json")
    assert [(d["code"], d["file"]) for d in _report(result)["diagnostics"]] == [("CP111", "datastreams/shared")]


def test_cp111_config_folder_itself_symlinked_out_of_the_root(runner, tmp_path):
    root = tmp_path / "repo"
    _outside_file(tmp_path)
    root.mkdir()
    (root / "datastreams").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    result = _validate(runner, root, "--format", "json")
    assert result.exit_code == 1
    assert [(d["code"], d["file"]) for d in _report(result)["diagnostics"]] == [("CP111", "datastreams")]


def test_a_folder_link_inside_the_config_folders_is_read_once(runner, tmp_path):
    write_tree(tmp_path, {"datastreams/web.yaml": WEB_DATASTREAM, "destinations/v2/home.yaml": destination(audiences=0)})
    (tmp_path / "destinations" / "current").symlink_to("v2", target_is_directory=True)
    result = _validate(runner, tmp_path)
    assert (result.exit_code, result.stdout) == (0, "0 errors, 0 warnings in 2 files checked\n")


def test_a_file_link_inside_the_config_folders_is_read_as_a_file_of_its_own(runner, tmp_path):
    write_tree(tmp_path, {"datastreams/web.yaml": WEB_DATASTREAM})
    (tmp_path / "datastreams" / "web-alias.yml").symlink_to("web.yaml")
    result = _validate(runner, tmp_path, "--format", "json")
    assert _report(result)["summary"]["files"] == 2
    assert _codes(result) == ["CP130"]  # the same datastream id twice: the link was read


def test_a_link_to_another_config_folder_is_followed(runner, tmp_path):
    write_tree(tmp_path, {"audiences/web.data": WEB_DATASTREAM, "destinations/home.yaml": destination(audiences=0)})
    (tmp_path / "datastreams").mkdir()
    (tmp_path / "datastreams" / "web.yaml").symlink_to("../audiences/web.data")
    result = _validate(runner, tmp_path, "--format", "json")
    assert [(d["code"], d["file"]) for d in _report(result)["diagnostics"]] == [("CP112", "audiences/web.data")]
    assert (result.exit_code, _report(result)["summary"]["files"]) == (0, 2)


def test_symlink_cycle_reads_each_file_once(runner, tmp_path):
    write_tree(tmp_path, {"datastreams/sub/web.yaml": WEB_DATASTREAM})
    (tmp_path / "datastreams" / "sub" / "loop").symlink_to("..", target_is_directory=True)
    (tmp_path / "datastreams" / "sub" / "self").symlink_to(".", target_is_directory=True)
    result = _validate(runner, tmp_path, "--format", "json")
    assert (result.exit_code, _report(result)["summary"]["files"], _codes(result)) == (0, 1, [])


def _cp111(runner, root: Path) -> list[tuple[str, str, int, int]]:
    result = _validate(runner, root, "--format", "json")
    assert result.exit_code == 1, result.output
    return [(d["file"], d["message"], d["line"], d["col"]) for d in _report(result)["diagnostics"] if d["code"] == "CP111"]


def test_cp111_link_to_the_root_outside_the_config_folders(runner, tmp_path):
    write_tree(tmp_path, {"shared/web.yaml": WEB_DATASTREAM, "destinations/home.yaml": destination()})
    (tmp_path / "datastreams").mkdir()
    (tmp_path / "datastreams" / "web.yaml").symlink_to(tmp_path / "shared" / "web.yaml")
    (tmp_path / "destinations" / "up").symlink_to("..", target_is_directory=True)
    assert _cp111(runner, tmp_path) == [
        ("datastreams/web.yaml", "symbolic link points outside the config folders (to 'shared/web.yaml')", 1, 1),
        ("destinations/up", "symbolic link points outside the config folders (to '.')", 1, 1),
    ]


def test_cp111_links_into_hidden_folders_are_not_followed(runner, tmp_path):
    write_tree(tmp_path, {
        "datastreams/web.yaml": WEB_DATASTREAM,
        ".git/config": "[core]\n",
        ".git/refs/x.yaml": WEB_DATASTREAM.replace("Web", "Secret"),
        "datastreams/.drafts/old.yaml": "id: [",
    })
    (tmp_path / "datastreams" / "git.yaml").symlink_to("../.git/config")
    (tmp_path / "datastreams" / "git").symlink_to("../.git", target_is_directory=True)
    (tmp_path / "datastreams" / "draft.yaml").symlink_to(".drafts/old.yaml")
    assert _cp111(runner, tmp_path) == [
        ("datastreams/draft.yaml", "symbolic link points into a hidden folder (to 'datastreams/.drafts/old.yaml')", 1, 1),
        ("datastreams/git", "symbolic link points into a hidden folder (to '.git')", 1, 1),
        ("datastreams/git.yaml", "symbolic link points into a hidden folder (to '.git/config')", 1, 1),
    ]


def test_cp111_dangling_and_looping_links(runner, tmp_path):
    write_tree(tmp_path, {"datastreams/web.yaml": WEB_DATASTREAM})
    folder = tmp_path / "datastreams"
    (folder / "gone.yaml").symlink_to("missing.yaml")
    (folder / "gone").symlink_to("missing", target_is_directory=True)
    (folder / "a.yaml").symlink_to("b.yaml")
    (folder / "b.yaml").symlink_to("a.yaml")
    (folder / "self.yaml").symlink_to("self.yaml")
    (folder / "through-a-file.yaml").symlink_to("web.yaml/x.yaml")
    found = _cp111(runner, tmp_path)
    assert [(f, m.split(" (")[0]) for f, m, _, _ in found] == [
        ("datastreams/a.yaml", "symbolic link loops"),
        ("datastreams/b.yaml", "symbolic link loops"),
        ("datastreams/gone", "dangling symbolic link"),
        ("datastreams/gone.yaml", "dangling symbolic link"),
        ("datastreams/self.yaml", "symbolic link loops"),
        ("datastreams/through-a-file.yaml", "dangling symbolic link"),
    ]


def _run_cli(root: Path, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """validate in a child process: a hang or a crash of the interpreter fails the test, not pytest."""
    return subprocess.run(
        [sys.executable, "-m", "cpcompile", "validate", str(root), *args],
        capture_output=True, text=True, timeout=timeout, check=False,
    )


def _special_files(folder: Path) -> list[str]:
    """A FIFO, a socket and (where allowed) a device in ``folder``; their names."""
    import socket
    import stat as st

    os.mkfifo(folder / "fifo.yaml")
    os.mkfifo(folder / "pipe.txt")
    names = ["fifo.yaml", "pipe.txt"]
    with socket.socket(socket.AF_UNIX) as sock:
        try:
            sock.bind(str(folder / "sock.yaml"))
            names.append("sock.yaml")
        except OSError:  # path too long for a socket address
            pass
    try:
        os.mknod(folder / "null.yaml", 0o600 | st.S_IFCHR, os.makedev(1, 3))
        names.append("null.yaml")
    except (OSError, AttributeError):  # not root, or a container that forbids it
        pass
    return names


def test_cp116_fifos_sockets_and_devices_are_not_read_and_do_not_hang(tmp_path):
    write_tree(tmp_path, {"datastreams/web.yaml": WEB_DATASTREAM})
    names = _special_files(tmp_path / "datastreams")
    (tmp_path / "datastreams" / "to-fifo.yaml").symlink_to("fifo.yaml")
    done = _run_cli(tmp_path, "--format", "json")
    assert done.returncode == 0, done.stderr  # warnings only
    report = json.loads(done.stdout)
    assert [(d["code"], d["severity"], d["file"], d["line"], d["col"]) for d in report["diagnostics"]] == sorted(
        ("CP116", "warning", f"datastreams/{name}", 1, 1) for name in [*names, "to-fifo.yaml"]
    )
    assert "not read: it is a named pipe (FIFO), not a regular file" in done.stdout
    assert _run_cli(tmp_path, "--strict").returncode == 1


def test_cp116_a_fifo_swapped_in_after_the_check_is_not_read(tmp_path):
    # The entry looked like a regular file when it was checked and is a FIFO when it is opened.
    write_tree(tmp_path, {"datastreams/web.yaml": WEB_DATASTREAM})
    os.mkfifo(tmp_path / "datastreams" / "swapped.yaml")
    script = (
        "import os, stat, sys\n"
        "from cpcompile import sources\n"
        "real_lstat = os.lstat\n"
        "def lying_lstat(path, *a, **k):\n"
        "    st = real_lstat(path, *a, **k)\n"
        "    if str(path).endswith('swapped.yaml'):\n"
        "        return os.stat_result((stat.S_IFREG | 0o644, *st[1:]))\n"
        "    return st\n"
        "sources.os.lstat = lying_lstat\n"
        "from cpcompile.cli import main\n"
        "sys.argv = ['cpcompile', 'validate', sys.argv[1], '--format', 'json']\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    assert [(d["code"], d["file"]) for d in json.loads(done.stdout)["diagnostics"]] == [
        ("CP116", "datastreams/swapped.yaml")
    ]


def test_file_names_with_newlines_and_control_characters_are_kept(runner, tmp_path):
    names = ["a\nb.yaml", "\x1b[31mred.yaml", "tab\there.yaml", "\u2028.yaml"]
    write_tree(tmp_path, {f"datastreams/{name}": "id: [\n" for name in names})
    result = _validate(runner, tmp_path, "--format", "json")
    assert result.exit_code == 1, result.output
    assert sorted(d["file"] for d in _report(result)["diagnostics"]) == sorted(f"datastreams/{n}" for n in names)
    for fmt in ("text", "github"):
        assert _validate(runner, tmp_path, "--format", fmt).exit_code == 1


def test_a_file_name_that_is_not_utf8_is_cp105_and_not_read(runner, tmp_path):
    write_tree(tmp_path, {"datastreams/web.yaml": WEB_DATASTREAM})
    with open(os.path.join(os.fsencode(tmp_path), b"datastreams", b"caf\xe9.yaml"), "wb") as f:
        f.write(WEB_DATASTREAM.encode())
    for command in ("validate", "build"):
        result = runner.invoke(cli, [command, str(tmp_path), "--format", "json"])
        assert result.exit_code == 1, result.output
        assert [(d["code"], d["file"]) for d in _report(result)["diagnostics"]] == [
            ("CP105", "datastreams/caf\\xe9.yaml")
        ]
    assert not (tmp_path / "build").exists()


# ------------------------------------------------------------------- project settings file


def _settings_tree(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    write_tree(root, {"datastreams/web.yaml": WEB_DATASTREAM, "datastreams/notes.txt": "x"})
    return root


def test_the_settings_file_is_read_from_the_root(runner, tmp_path):
    root = _settings_tree(tmp_path)
    found = sources.discover(root)
    assert found.settings is None
    (root / "cpcompile.yaml").write_text("diagnostics:\n  CP112: off\n")
    found = sources.discover(root)
    assert found.settings is not None
    assert (found.settings.relpath, found.settings.kind) == ("cpcompile.yaml", sources.Kind.SETTINGS)
    assert [f.relpath for f in found.files] == ["datastreams/web.yaml"]  # files: config only
    assert _validate(runner, root, "--strict").exit_code == 0


def test_a_settings_link_inside_the_root_is_followed(runner, tmp_path):
    root = _settings_tree(tmp_path)
    write_tree(root, {"ci/cpcompile.yaml": "diagnostics:\n  CP112: off\n"})
    (root / "cpcompile.yaml").symlink_to("ci/cpcompile.yaml")
    assert sources.discover(root).settings is not None
    assert _validate(runner, root, "--strict").exit_code == 0


@pytest.mark.parametrize("kind", ["outside", "hidden", "dangling", "loop"])
def test_cp111_bad_settings_link(runner, tmp_path, kind):
    root = _settings_tree(tmp_path)
    write_tree(tmp_path, {"elsewhere.yaml": "diagnostics:\n  CP112: off\n"})
    write_tree(root, {".github/cpcompile.yaml": "diagnostics:\n  CP112: off\n"})
    target = {
        "outside": "../elsewhere.yaml", "hidden": ".github/cpcompile.yaml", "dangling": "nothing.yaml",
        "loop": "cpcompile.yaml",
    }[kind]
    (root / "cpcompile.yaml").symlink_to(target)
    result = _validate(runner, root, "--format", "json")
    assert result.exit_code == 1
    report = _report(result)
    assert [(d["code"], d["file"], d["line"], d["col"]) for d in report["diagnostics"]] == [
        ("CP111", "cpcompile.yaml", 1, 1), ("CP112", "datastreams/notes.txt", 1, 1),
    ]


def test_a_settings_fifo_is_cp116_and_does_not_hang(tmp_path):
    root = _settings_tree(tmp_path)
    os.mkfifo(root / "cpcompile.yaml")
    done = _run_cli(root, "--format", "json")
    assert done.returncode == 0, done.stderr
    assert [(d["code"], d["file"]) for d in json.loads(done.stdout)["diagnostics"]] == [
        ("CP116", "cpcompile.yaml"), ("CP112", "datastreams/notes.txt"),
    ]


@pytest.mark.parametrize(
    ("content", "code"),
    [(b"diagnostics:\n  CP112: \xff\n", "CP105"), (b"#" * (4 * 1024 * 1024 + 1), "CP110")],
    ids=["not-utf8", "too-large"],
)
def test_an_unreadable_settings_file_is_reported(runner, tmp_path, content, code):
    root = _settings_tree(tmp_path)
    (root / "cpcompile.yaml").write_bytes(content)
    result = _validate(runner, root, "--format", "json")
    assert result.exit_code == 1
    assert [(d["code"], d["file"]) for d in _report(result)["diagnostics"]] == [
        (code, "cpcompile.yaml"), ("CP112", "datastreams/notes.txt"),
    ]


# ------------------------------------------------------------------------- hostile YAML


def test_billion_laughs_is_refused_quickly(runner, tmp_path):
    # 30 levels of 30 aliases each: 30^30 nodes if anything expanded it
    lines = ["a0: &a0 [" + ", ".join(["lol"] * 30) + "]"]
    for i in range(1, 30):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 30) + "]")
    write_tree(tmp_path, {"datastreams/web.yaml": "\n".join(lines) + "\n"})
    started = time.monotonic()
    result = _validate(runner, tmp_path, "--format", "json")
    assert time.monotonic() - started < 5
    assert result.exit_code == 1
    assert _codes(result) == ["CP107"]


@pytest.mark.parametrize(
    ("levels", "opener"), [(40, "["), (2_000, "["), (100_000, "["), (100_000, "{a: ")], ids=["40", "2000", "100000", "mappings"]
)
def test_deep_nesting_after_a_trailing_tab_is_cp109_not_a_crash(tmp_path, levels, opener):
    # A tab at the end of a line made the old depth check (a second, pure-Python parser) give up,
    # while the C parser went on: 40 levels were not reported, 2,000 were an internal error and
    # 100,000 killed the interpreter (SIGSEGV). Run in a child process, so a crash fails the test.
    closer = "]" if opener == "[" else "}"
    text = destination() + "description: d\t\n" + "x: " + opener * levels + closer * levels + "\n"
    write_tree(tmp_path, {"destinations/a.yaml": text})
    started = time.monotonic()
    done = _run_cli(tmp_path, "--format", "json")
    assert time.monotonic() - started < 20
    assert done.returncode == 1, f"exit {done.returncode}: {done.stderr[-2000:]}"
    line = text.count("\n", 0, text.index("x: ")) + 1
    col = 4 + (yamlsrc.MAX_DEPTH - 1) * len(opener)
    assert [(d["code"], d["file"], d["line"], d["col"]) for d in json.loads(done.stdout)["diagnostics"]] == [
        ("CP109", "destinations/a.yaml", line, col)
    ]


@pytest.mark.parametrize("levels", [40, 100_000])
def test_compact_nesting_after_an_explicit_value_indicator_is_cp109_not_a_crash(tmp_path, levels):
    # ": - - - x" nests a list per "- " on one line; the cheap depth bound did not count the ':'
    # and let 100,000 levels through to the composer (SIGSEGV).
    write_tree(tmp_path, {"datastreams/web.yaml": WEB_DATASTREAM + "? k\n: " + "- " * levels + "x\n"})
    done = _run_cli(tmp_path, "--format", "json")
    assert done.returncode == 1, f"exit {done.returncode}: {done.stderr[-2000:]}"
    assert [(d["code"], d["line"], d["col"]) for d in json.loads(done.stdout)["diagnostics"]] == [
        ("CP109", 7, 3 + 2 * (yamlsrc.MAX_DEPTH - 1))
    ]


def test_yaml_1_3_directive_with_deep_nesting_is_a_located_error(runner, tmp_path):
    write_tree(tmp_path, {"datastreams/web.yaml": "%YAML 1.3\n---\n" + WEB_DATASTREAM + "x: " + "[" * 40 + "]" * 40 + "\n"})
    result = _validate(runner, tmp_path)
    assert (result.exit_code, result.stderr) == (1, "")
    assert result.stdout.startswith(
        "datastreams/web.yaml:1:1: error CP101 YAML syntax error: %YAML 1.3 is not supported\n"
        "    hint: cpcompile reads YAML 1.2: write '%YAML 1.2', or delete the %YAML line\n"
    )


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("id: " + "9" * 5_000 + "\nname: Web\nsandbox: prod\n", (1, 5)),
        ("id: 0x" + "f" * 5_000 + "\nname: Web\nsandbox: prod\n", (1, 5)),
        ("name: Web\nsandbox: [" + "9" * 5_000 + "]\n", (2, 11)),
        ("name: Web\n? " + "9" * 5_000 + "\n: key\n", (2, 3)),
        ("name: Web\nsandbox: !!int " + "9" * 5_000 + "\n", (2, 10)),
    ],
    ids=["value", "hex", "in-a-list", "key", "tagged"],
)
def test_cp115_a_number_with_thousands_of_digits_is_located_not_a_crash(runner, tmp_path, text, position):
    write_tree(tmp_path, {"datastreams/web.yaml": text})
    result = _validate(runner, tmp_path, "--format", "json")
    assert (result.exit_code, result.stderr) == (1, ""), result.stderr
    assert [(d["code"], d["line"], d["col"]) for d in _report(result)["diagnostics"]] == [("CP115", *position)]
    assert _report(result)["diagnostics"][0]["message"] == "number with 5,000 digits; a config number has at most 64"


@pytest.mark.parametrize("number", ["1e99999", "-1e99999", "1e-99999", "9" * 64 + "e99999", ".inf"])
def test_floats_with_huge_exponents_are_ordinary_type_errors(runner, tmp_path, number):
    write_tree(tmp_path, {"datastreams/web.yaml": WEB_DATASTREAM.replace("sandbox: prod", f"sandbox: {number}")})
    for fmt in ("text", "json", "github"):
        result = _validate(runner, tmp_path, "--format", fmt)
        assert (result.exit_code, result.stderr) == (1, ""), result.stderr
    assert _codes(_validate(runner, tmp_path, "--format", "json")) == ["CP121"]


@pytest.mark.parametrize(
    ("flow", "expected_hint"),
    [
        ("marketing_actions: [https://a.example]", "write \"https://a.example\""),
        ("attributes: [{source: person.name, target: http://x.org}]", "write \"http://x.org\""),
        ("attributes: [{source: person.name, target: /p?x=1}]", "write \"/p?x=1\""),
        ("audiences: [{id: a0000000-0000-4000-8000-000000000001, start: 2026-12-01T08:00:00Z}]",
         "write \"2026-12-01T08:00:00Z\""),
    ],
    ids=["url-in-list", "url-in-mapping", "query-in-mapping", "instant-in-mapping"],
)
def test_colon_or_question_mark_in_flow_says_exactly_what_to_write(runner, tmp_path, flow, expected_hint):
    write_tree(tmp_path, {"datastreams/web.yaml": WEB_DATASTREAM, "destinations/home.yaml": destination(audiences=0) + flow + "\n"})
    result = _validate(runner, tmp_path, "--format", "json")
    (d,) = _report(result)["diagnostics"]
    assert (d["code"], d["file"], d["line"]) == ("CP101", "destinations/home.yaml", 5)
    assert d["hint"].startswith("inside [ ] or { }, quote a value that contains ")
    assert d["hint"].endswith(expected_hint)
    # writing what the hint says makes the file readable YAML (a URL is no marketing action,
    # CP182; an audience without a catalog is a CP147 warning)
    fixed = flow.replace(expected_hint.removeprefix("write ").strip('"'), expected_hint.removeprefix("write "))
    write_tree(tmp_path, {"destinations/home.yaml": destination(audiences=0) + fixed + "\n"})
    codes = _codes(_validate(runner, tmp_path, "--format", "json"))
    assert codes == {"marketing_actions": ["CP182"], "audiences": ["CP147"]}.get(flow.split(":")[0], []), codes


def test_a_tab_on_a_blank_line_says_delete_it(runner, tmp_path):
    write_tree(tmp_path, {"datastreams/web.yaml": WEB_DATASTREAM.replace("name: Web\n", "name: Web\n\t\n")})
    result = _validate(runner, tmp_path)
    assert result.stdout.startswith(
        "datastreams/web.yaml:3:1: error CP102 tab character on an otherwise blank line\n"
        "    hint: a tab on an otherwise blank line: delete it\n"
    )


def test_str_tagged_keys_and_non_specific_tagged_values_are_strings(runner, tmp_path):
    text = WEB_DATASTREAM.replace("name: Web", "!!str name: ! 12").replace("sandbox: prod", "sandbox: ! true")
    write_tree(tmp_path, {"datastreams/web.yaml": text})
    result = _validate(runner, tmp_path)
    assert (result.exit_code, result.stdout) == (0, "0 errors, 0 warnings in 1 file checked\n")


@pytest.mark.parametrize("value", ["!!int abc", "!!float abc", '!!int ""', "!!int 0b2"])
def test_explicit_standard_tag_with_bad_content_is_a_diagnostic(runner, tmp_path, value):
    write_tree(tmp_path, {"datastreams/web.yaml": f"id: {value}\nname: Web\nsandbox: prod\n"})
    result = _validate(runner, tmp_path)
    assert result.exit_code == 1, result.stderr


def test_undecodable_file_counts_as_checked(runner):
    result = _validate(runner, CASES_DIR / "invalid" / "cp105-not-utf8")
    assert result.stdout.endswith("1 error, 0 warnings in 1 file checked; cross-file checks skipped for 1 file with errors\n")


def test_every_problem_of_every_file_in_one_run(runner):
    report = _report(_validate(runner, MANY, "--format", "json"))
    files = {d["file"] for d in report["diagnostics"]}
    assert len(files) == 7  # prod.yaml, notes.txt, and five destinations
    assert sorted(set(_codes(_validate(runner, MANY, "--format", "json")))) == [
        "CP102", "CP112", "CP122", "CP126", "CP131", "CP132", "CP134", "CP135", "CP140", "CP142",
    ]


def test_runs_are_identical(runner):
    first = _validate(runner, MANY, "--format", "json").stdout
    assert all(_validate(runner, MANY, "--format", "json").stdout == first for _ in range(3))


def test_empty_config_folder_is_clean(runner, tmp_path):
    (tmp_path / "datastreams").mkdir()
    result = _validate(runner, tmp_path)
    assert (result.exit_code, result.stdout) == (0, "0 errors, 0 warnings in 0 files checked\n")


def test_dot_folders_and_dot_files_are_skipped(runner, tmp_path):
    write_tree(tmp_path, {
        "datastreams/web.yaml": WEB_DATASTREAM,
        "datastreams/.web.yaml.swp": b"\x00\xff",
        "datastreams/.drafts/broken.yaml": "id: [",
    })
    result = _validate(runner, tmp_path)
    assert (result.exit_code, result.stdout) == (0, "0 errors, 0 warnings in 1 file checked\n")



@pytest.mark.parametrize("command", ["validate", "build"])
def test_a_root_without_config_folders_is_a_usage_error(runner, tmp_path, command):
    (tmp_path / "notes.txt").write_text("not a config repository")
    result = runner.invoke(cli, [command, str(tmp_path)])
    assert result.exit_code == 2
    assert "holds none of datastreams/, destinations/, audiences/" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["serve", "--help"]])
def test_quick_commands_import_nothing_heavy(args: list[str]) -> None:
    # every pre-commit run and every CI step pays for what the command line imports first
    import subprocess
    import sys

    probe = (
        "import runpy, sys\n"
        f"sys.argv = ['cpcompile', *{args!r}]\n"
        "try:\n    runpy.run_module('cpcompile', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('pydantic', 'asyncio', 'traceback', 'granian', 'orjson', 'ruamel.yaml') if m in sys.modules]\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in done.stderr, done.stderr
