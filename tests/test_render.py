"""Output formats neutralise control characters from input, so a config value, key or file name
cannot inject a GitHub Actions workflow command (a line starting with ``::``) into a CI log, nor
hide text behind terminal escapes or bidi controls."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from cpcompile.cli import cli
from cpcompile.render import FORMATS, RENDERERS
from conftest import WEB_DATASTREAM, destination, write_tree

INJECTED = "::error file=README.md::injected"
UNSAFE = [chr(c) for c in (*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029, 0x202E, 0x2066, 0x200F)]


def _value_tree(root: Path) -> None:
    dest = destination().replace("datastream: web", 'datastream: "web-prod\\n' + INJECTED + '"')
    write_tree(root, {"datastreams/web.yaml": WEB_DATASTREAM, "destinations/home.yaml": dest})


def _key_tree(root: Path) -> None:
    write_tree(root, {"datastreams/web.yaml": WEB_DATASTREAM + '"bad\\n' + INJECTED + '": 1\n'})


def _file_name_tree(root: Path) -> None:
    if sys.platform == "win32":
        pytest.skip("file names cannot contain a newline")
    write_tree(root, {"datastreams/web.yaml": WEB_DATASTREAM})
    (root / "datastreams" / f"x\n{INJECTED}.yaml").write_text("id: [\n", encoding="utf-8")


TREES = {"value": _value_tree, "key": _key_tree, "file-name": _file_name_tree}


def _run(runner, root: Path, fmt: str):
    result = runner.invoke(cli, ["validate", str(root), "--format", fmt])
    assert result.exit_code == 1, result.output
    assert result.stderr == ""
    return result.stdout


@pytest.mark.parametrize("tree", TREES)
@pytest.mark.parametrize("fmt", FORMATS)
def test_no_injected_workflow_command(runner, tmp_path, tree, fmt):
    TREES[tree](tmp_path)
    out = _run(runner, tmp_path, fmt)
    assert "injected" in out, "the input shows up (escaped), it is not dropped"
    lines = out.splitlines()
    assert not any(line.startswith("::error file=README.md") for line in lines)
    assert not any(ch in out.replace("\n", "") for ch in UNSAFE)
    if fmt == "github":
        assert all(line.startswith(("::error file=", "::warning file=")) for line in lines)
    else:
        assert not any(line.startswith("::") for line in lines)


@pytest.mark.parametrize("tree", TREES)
def test_text_shows_the_newline_escaped(runner, tmp_path, tree):
    TREES[tree](tmp_path)
    assert "\\n" + INJECTED in _run(runner, tmp_path, "text")


@pytest.mark.parametrize("tree", TREES)
def test_json_keeps_the_exact_value(runner, tmp_path, tree):
    TREES[tree](tmp_path)
    report = json.loads(_run(runner, tmp_path, "json"))
    texts = [v for d in report["diagnostics"] for v in (d["file"], d["message"], d["hint"]) if v]
    assert any("\n" + INJECTED in t for t in texts)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_control_character_is_neutralised(runner, tmp_path, fmt):
    # ESC (terminal escapes), C1 (CSI), U+2028, bidi overrides: all escaped in every format.
    hostile = "".join(ch for ch in UNSAFE if ch not in "\x00\r\t\n")
    dest = destination().replace("datastream: web", "datastream: " + json.dumps("web" + hostile))
    write_tree(tmp_path, {"datastreams/web.yaml": WEB_DATASTREAM, "destinations/home.yaml": dest})
    out = _run(runner, tmp_path, fmt)
    assert not any(ch in out.replace("\n", "") for ch in UNSAFE)
    if fmt == "text":
        assert "\\x1b" in out and "\\u2028" in out and "\\u202e" in out and "\\x9b" in out
    if fmt == "json":
        message = json.loads(out)["diagnostics"][0]["message"]
        assert hostile in message


def test_formats_come_from_one_table():
    assert set(FORMATS) == set(RENDERERS) == {"text", "json", "github", "sarif"}
