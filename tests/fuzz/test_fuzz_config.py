"""Property: any config tree, however broken, gets a report, never a crash or a forged log line.

Trees start from the example config and the golden cases and are damaged as bytes (control
characters, YAML syntax, deep brackets, huge numbers, invalid UTF-8) or as data (values of the
wrong type, unknown keys, odd Unicode), get files with odd names, symbolic links and a project
settings file. Each runs through `cpcompile validate` in all three formats.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import assume, example, given, settings

from cpcompile.cli import cli
from .fuzzkit import ConfigTree, Link, budget, check_cli_output, check_located, config_trees, write_tree

FORMATS = ("text", "json", "github")
_BAD = "destinations/home-personalization.yaml"

# Known members of each class, tried first on every run, then the generated examples.
CRASH_EXAMPLES = [
    ConfigTree("example", {"datastreams/loop.yaml": Link("missing.yaml")}),  # a dangling link
    ConfigTree("example", {"datastreams/\x1b[31m.yaml": b"x: 1\n"}),  # a terminal escape in a name
    ConfigTree("example", {"destinations/a\n::error file=x::forged.yaml": b"x: 1\n"}),
    ConfigTree("example", {_BAD: b"id: " + b"9" * 5000 + b"\n"}),  # int() refuses > 4300 digits
    ConfigTree("example", {_BAD: b"name: \"\\x1b]0;title\\x07\"\nalias: \"\\u2028::error::x\"\n"}),
]
LOCATION_EXAMPLES = [
    ConfigTree("example", {_BAD: "a: b\u2028c: [\n".encode()}),  # U+2028 ends a line for libyaml, not for git
    ConfigTree("example", {_BAD: b"a: 1\r\rb: [\n"}),  # so does a lone CR
    ConfigTree("example", {_BAD: "a: \u0800\nb: x\x0b".encode()}),  # libyaml's reader counts bytes
]


def _validate(root: Path, fmt: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["validate", str(root), "--format", fmt])


def _with_examples(examples: list[ConfigTree]):  # type: ignore[no-untyped-def]
    def decorate(test):  # type: ignore[no-untyped-def]
        for tree in reversed(examples):
            test = example(tree=tree)(test)
        return test

    return decorate


@settings(max_examples=budget(300))
@_with_examples(CRASH_EXAMPLES)
@given(tree=config_trees())
def test_validate_reports_without_crash_or_forged_lines(tree: ConfigTree) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "config"
        write_tree(root, tree)
        for fmt in FORMATS:
            check_cli_output(fmt, _validate(root, fmt))


@settings(max_examples=budget(200))
@_with_examples(LOCATION_EXAMPLES)
@given(tree=config_trees())
def test_every_diagnostic_points_into_its_file(tree: ConfigTree) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "config"
        write_tree(root, tree)
        result = _validate(root, "json")
        assume(result.exit_code in (0, 1))  # crashes are the other test's to report
        check_located(root, result)


def test_generated_keys_include_every_field_of_every_config_entry():
    """Data damage renames and adds keys from the models' fields: a field missing there (as a
    pydantic dataclass's once were) is one the fuzzing never tries to break."""
    from pydantic.dataclasses import is_pydantic_dataclass

    from cpcompile import model
    from .fuzzkit import FIELD_NAMES

    dataclasses = [v for v in vars(model).values() if isinstance(v, type) and is_pydantic_dataclass(v)]
    assert dataclasses, "the check would be empty"
    for cls in dataclasses:
        assert set(cls.__pydantic_fields__) <= set(FIELD_NAMES), cls.__name__
