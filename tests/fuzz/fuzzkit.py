"""Strategies and checks shared by the property tests (and the atheris targets).

Generators start from real inputs (the example config, the golden cases, a built artifact)
and damage them the way hostile or careless authors do: flipped bits, inserted control
characters and YAML/JSON syntax, deep brackets, huge numbers, odd Unicode, wrong types.
The checks are the guarantees of docs/security.md, phrased so that a failure names the input.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import sys
import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

from hypothesis import settings
from hypothesis import strategies as st

REPO_ROOT = Path(__file__).resolve().parents[2]
CASES_DIR = REPO_ROOT / "tests" / "cases"
CONFIG_DIRS = ("datastreams", "destinations", "audiences", "policies")
SETTINGS_FILE = "cpcompile.yaml"


def budget(examples: int) -> int:
    """``examples`` at the default profile's 100, scaled by the loaded profile (conftest.py)."""
    return max(1, examples * settings.default.max_examples // 100)


def copy_example(dst: Path) -> Path:
    for folder in CONFIG_DIRS:
        shutil.copytree(REPO_ROOT / folder, dst / folder)
    return dst


# --- seeds -----------------------------------------------------------------------------------


def _tree_of(root: Path) -> dict[str, bytes]:
    files = {}
    for folder in (*CONFIG_DIRS, SETTINGS_FILE):
        top = root / folder
        paths = [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file()) if top.is_dir() else []
        for path in paths:
            if not path.is_symlink():
                files[path.relative_to(root).as_posix()] = path.read_bytes()
    return files


def seed_trees() -> dict[str, dict[str, bytes]]:
    """The example config and every committed golden case, as ``{relpath: bytes}``."""
    trees = {"example": _tree_of(REPO_ROOT)}
    for case in sorted(p for p in CASES_DIR.glob("*/*") if p.is_dir()):
        tree = _tree_of(case)
        if tree:
            trees[case.relative_to(CASES_DIR).as_posix()] = tree
    return trees


SEEDS = seed_trees()

# Pieces hostile or careless authors put into files: control characters (terminal escapes,
# NUL, DEL, C1), line and paragraph separators, bidi overrides, GitHub workflow commands,
# YAML syntax (tags, anchors, aliases, merge keys, directives, documents, flow brackets),
# numbers Python cannot print, and bytes that are not UTF-8.
TOKENS: list[bytes] = [
    t.encode("utf-8", "surrogatepass") if isinstance(t, str) else t
    for t in [
        "\t", "\x00", "\x1b[1m", "\x1b]0;title\x07", "\x07", "\x08", "\x0b", "\x0c", "\x7f", "\x85",
        "\x9b", "\u2028", "\u2029", "\ufeff", "\u202e", "\u200b", "\r", "\r\n", "\n", "\n\n",
        "::error file=x.yaml,line=1::injected", "\n::warning::injected", "%0A::error::x", "%", ",", ":",
        ": ", "- ", "? ", "[" * 40, "{" * 40, "]", "}", "[[{[{", "&a ", "*a", "&a [1] \nb: *a",
        "<<: *a", "!!binary ", "!!python/object/apply:os.system ['true'] ", "!custom ", "!!int ",
        "!!float ", "!!str ", "!!bool ", "!!null ", "!!timestamp ", "!!map ", "!!seq ", "!<tag:x> ",
        "%YAML 1.1\n---\n", "%TAG ! tag:example.com,2000:\n---\n", "---\n", "...\n", "9" * 70,
        "9" * 5000, "-" + "1" * 65, "1e999", "-.inf", ".nan", "0x" + "f" * 80, "0o777", "0b101",
        "1_000", "2026-02-30", "2026-12-01T00:00:00+25:00", "9999-12-31T23:59:59-23:59", "0001-01-01",
        '"', "'", "#", "|", ">-\n", "\\", '"\\ud800"', '"\\x1b[31m"', '"\\U0010ffff"', '"\\0"',
        "\U0001f600", "e\u0301", "\U000e0041", "\uff41", "\u0130", "\u00df", "\u00b2", "\u0663",
        "\udcff", "x" * 300, "  ", "\n  - id: ", "\naudiences:\n  - id: x\n",
    ]
] + [b"\xff", b"\xfe\xff", b"\xed\xa0\x80", b"\xc0\x80", b"\xe2\x80", b"\x80"]

# Values of the right and wrong types for config fields.
_KNOWN_VALUES = [
    "0f3a6c1e-2b7d-4e59-9c3a-1d2e3f4a5b6c", "7bb4cb8d-8c2e-4450-871d-b7824f547111",
    "399eb3e7-3d50-47d3-ad30-a5ad99e8ab77", "5b0c1e7e-2d3f-4a5b-9c6d-7e8f9a0b1c2d",
    "web-prod", "web-staging", "prod", "stage", "ups", "CustomerAudienceUpload", "edge",
    "streaming", "batch", "mixed", "authenticated-only", "dataset-precedence", "timestamp-ordered",
    "onsitePersonalization", "personalizationAlias", "person.name.firstName", "firstName",
    "2026-12-01", "2027-01-31T12:00:00Z", "off", "warning", "error", "CP134", "CP101", "CP999",
]


def _field_names() -> list[str]:
    from pydantic import BaseModel
    from pydantic.dataclasses import is_pydantic_dataclass

    from cpcompile import model

    names = {"diagnostics", "segmentMembership"}
    for value in vars(model).values():
        if isinstance(value, type) and issubclass(value, BaseModel):
            names.update(value.model_fields)
        elif isinstance(value, type) and is_pydantic_dataclass(value):
            names.update(value.__pydantic_fields__)
    return sorted(names)


FIELD_NAMES = _field_names()

odd_text = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from("\t\r\n\x00\x1b\x7f\x85\x9b\u2028\u2029\u202e\ufeff:,%#&*!|>'\"[]{}"),
    ),
    max_size=24,
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([2**63, -(2**63) - 1, 10**64, 10**65, -(10**80)]),
    st.floats(),
    odd_text,
    st.sampled_from(_KNOWN_VALUES),
    st.dates(),
    st.datetimes(timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=-23, minutes=-59))])),
)
keys = st.one_of(st.sampled_from(FIELD_NAMES), odd_text)
config_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=12,
)


# --- byte mutations ----------------------------------------------------------------------------


@st.composite
def mutated_bytes(draw: st.DrawFn, data: bytes, tokens: list[bytes] = TOKENS, others: list[bytes] = ()) -> bytes:
    """``data`` after one to four byte-level mutations."""
    for _ in range(draw(st.integers(1, 4))):
        n = len(data)
        at = draw(st.integers(0, n))
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "duplicate", "splice", "replace"]))
        if op == "flip" and n:
            i = min(at, n - 1)
            data = data[:i] + bytes([data[i] ^ (1 << draw(st.integers(0, 7)))]) + data[i + 1 :]
        elif op == "insert":
            data = data[:at] + draw(st.sampled_from(tokens)) * draw(st.sampled_from([1, 1, 2, 50])) + data[at:]
        elif op == "delete":
            data = data[:at] + data[at + draw(st.integers(1, 16)) :]
        elif op == "truncate":
            data = data[:at]
        elif op == "duplicate":
            end = draw(st.integers(at, n))
            data = data[:end] + data[at:end] + data[end:]
        elif op == "splice" and others:
            other = draw(st.sampled_from(others))
            start = draw(st.integers(0, len(other)))
            data = data[:at] + other[start : start + draw(st.integers(0, 200))] + data[at:]
        elif op == "replace":
            data = data[:at] + draw(st.binary(max_size=8)) + data[at + draw(st.integers(0, 8)) :]
    return data


# --- structural mutations of plain data -------------------------------------------------------


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(_paths(v, (*prefix, i)))
    return out


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


@st.composite
def mutated_data(draw: st.DrawFn, data: Any, values: st.SearchStrategy[Any], new_keys: st.SearchStrategy[Any]) -> Any:
    """A deep copy of ``data`` with one to three values replaced, keys added or removed,
    list items duplicated or dropped; ``()`` in the result's path means the whole document."""
    data = json.loads(json.dumps(data, default=str))  # a private copy; dates become strings
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(data)))
        target = _get(data, path)
        op = draw(st.sampled_from(["replace", "add", "delete", "duplicate"]))
        if op == "replace" or not isinstance(target, (dict, list)) or not path and op == "delete":
            if not path:
                data = draw(values)
                continue
            _get(data, path[:-1])[path[-1]] = draw(values)
        elif op == "add" and isinstance(target, dict):
            target[draw(new_keys)] = draw(values)
        elif op == "add":
            target.insert(draw(st.integers(0, len(target))), draw(values))
        elif op == "delete" and target:
            key = draw(st.sampled_from(list(target.keys()) if isinstance(target, dict) else range(len(target))))
            del target[key]
        elif op == "duplicate" and isinstance(target, list) and target:
            target.append(copy.deepcopy(draw(st.sampled_from(target))))
    return data


@st.composite
def planted(draw: st.DrawFn, data: Any, value: Any) -> Any:
    """``data`` (changed in place) with ``value`` at a random place below the top."""
    paths = [p for p in _paths(data) if p]
    if paths:
        path = draw(st.sampled_from(paths))
        _get(data, path[:-1])[path[-1]] = value
    return data


# --- config trees ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    """A symbolic link in a generated tree, to ``target`` (relative to the link's folder)."""

    target: str


@dataclass(frozen=True)
class ConfigTree:
    """A seed tree and what was changed in it; the repr (what a failing test prints) shows
    only the changes."""

    seed: str
    changes: dict[str, "bytes | Link"]

    def files(self) -> dict[str, "bytes | Link"]:
        return {**SEEDS[self.seed], **self.changes}

    def __repr__(self) -> str:
        return f"ConfigTree(seed={self.seed!r}, changes={self.changes!r})"

_LINK_TARGETS = [
    "/etc/hostname", "/nonexistent/file.yaml", "missing.yaml", "../../outside.yaml", "../.git/config",
    "../datastreams/web-prod.yaml", "../datastreams", "..", ".", "loop.yaml",
]
file_names = st.tuples(
    st.text(
        alphabet=st.characters(codec="utf-8", exclude_characters="/\x00"), min_size=1, max_size=24
    ).filter(lambda s: s not in (".", "..")),
    st.sampled_from([".yaml", ".yml", ".YAML", "", ".txt", ".yaml~", ".yaml\n"]),
).map("".join).filter(lambda s: len(s.encode("utf-8")) < 200)


def _yaml_dump(value: Any) -> bytes:
    import io

    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.allow_unicode = True
    out = io.StringIO()
    yaml.dump(value, out)
    return out.getvalue().encode("utf-8", "surrogatepass")


def _yaml_load(data: bytes) -> Any:
    from ruamel.yaml import YAML

    if b"&" in data:  # anchors: loading a billion-laughs seed as data would expand it here
        return None
    try:
        return YAML(typ="safe", pure=True).load(data.decode("utf-8"))
    except Exception:  # noqa: BLE001 - a seed that is broken on purpose: no structure to mutate
        return None


@st.composite
def config_trees(draw: st.DrawFn) -> ConfigTree:
    """A config tree from a seed, with files mutated as bytes or as data, new files with odd
    names, symbolic links, and a project settings file."""
    seed = draw(st.sampled_from(sorted(SEEDS)))
    tree: dict[str, bytes | Link] = dict(SEEDS[seed])
    all_files = [content for files in SEEDS.values() for content in files.values()]
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["bytes", "bytes", "data", "data", "new-file", "link", "settings"]))
        names = sorted(p for p, c in tree.items() if isinstance(c, bytes))
        if op in ("bytes", "data") and names:
            name = draw(st.sampled_from(names))
            content = tree[name]
            assert isinstance(content, bytes)
            parsed = _yaml_load(content) if op == "data" else None
            if parsed is not None:
                tree[name] = _yaml_dump(draw(mutated_data(parsed, config_values, keys)))
            else:
                tree[name] = draw(mutated_bytes(content, others=all_files))
        elif op in ("new-file", "bytes", "data"):
            folder = draw(st.sampled_from(CONFIG_DIRS))
            sub = draw(st.one_of(st.just(""), file_names.map(lambda s: s + "/")))
            tree[f"{folder}/{sub}{draw(file_names)}"] = draw(
                st.one_of(config_values.map(_yaml_dump), st.sampled_from(all_files))
            )
        elif op == "link":
            folder = draw(st.sampled_from(CONFIG_DIRS))
            tree[f"{folder}/{draw(st.sampled_from(['loop.yaml', 'linked.yaml', 'linked']))}"] = Link(
                draw(st.sampled_from(_LINK_TARGETS))
            )
        else:
            codes = st.one_of(st.sampled_from(["CP134", "CP145", "CP147", "CP101", "CP999", "cp134", "CP1340"]), odd_text)
            levels = st.one_of(st.sampled_from(["off", "warning", "error", "info", "OFF"]), scalars)
            settings_doc = draw(
                st.one_of(
                    st.dictionaries(codes, levels, max_size=4).map(lambda d: {"diagnostics": d}),
                    config_values,
                )
            )
            tree[SETTINGS_FILE] = draw(st.one_of(st.just(_yaml_dump(settings_doc)), mutated_bytes(_yaml_dump(settings_doc))))
    return ConfigTree(seed, {k: v for k, v in tree.items() if SEEDS[seed].get(k) != v})


def write_tree(root: Path, tree: ConfigTree) -> None:
    for folder in CONFIG_DIRS:
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / ".git").mkdir(exist_ok=True)
    (root / ".git" / "config").write_text("[core]\n\tbare = false\n")
    for relpath, content in tree.files().items():
        path = root / relpath
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, Link):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                elif path.exists() or path.is_symlink():
                    path.unlink()
                os.symlink(content.target, path)
            else:
                path.write_bytes(content)
        except (IsADirectoryError, NotADirectoryError, FileExistsError):
            pass  # a generated name collides with a folder or file already written


# --- checks on validate's output --------------------------------------------------------------

_ANNOTATION = re.compile(r"::(error|warning) file=[^\n,:]*,line=[1-9][0-9]*,col=[1-9][0-9]*,title=CP[0-9]{3}::.*")


def _control_characters(text: str) -> list[str]:
    return sorted({c for c in text if c != "\n" and unicodedata.category(c) == "Cc"})


def check_cli_output(fmt: str, result: Any) -> None:
    """No crash, a parseable report, nothing a CI log reader would take for a command or an
    escape sequence."""
    context = f"format {fmt}, exit {result.exit_code}\nstdout:\n{result.stdout[:3000]}\nstderr:\n{result.stderr[:3000]}"
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"uncaught {result.exception!r}\n{context}") from result.exception
    assert result.exit_code in (0, 1), context
    for name, stream in (("stdout", result.stdout), ("stderr", result.stderr)):
        assert not _control_characters(stream), f"raw control characters {_control_characters(stream)}\n{context}"
        for line in stream.splitlines():
            if line.startswith("::"):
                assert fmt == "github" and name == "stdout", f"line {line!r} is a workflow command\n{context}"
                assert _ANNOTATION.fullmatch(line), f"not a well-formed annotation: {line!r}\n{context}"
    if fmt == "github":
        assert all(_ANNOTATION.fullmatch(line) for line in result.stdout.splitlines()), context
    if fmt == "json":
        document = json.loads(result.stdout)
        assert set(document["summary"]) == {"errors", "warnings", "files", "skipped_cross_file"}, context
        assert (result.exit_code == 1) == (document["summary"]["errors"] > 0), context
        for d in document["diagnostics"]:
            assert re.fullmatch(r"CP[0-9]{3}", d["code"]) and d["severity"] in ("error", "warning"), d
            assert type(d["line"]) is int and d["line"] >= 1 and type(d["col"]) is int and d["col"] >= 1, d


def check_located(root: Path, result: Any) -> None:
    """Every diagnostic points into the file it names: a line that exists (lines as git and
    GitHub count them, split at LF) and a column at most one past that line's end."""
    for d in json.loads(result.stdout)["diagnostics"]:
        rel = d["file"]
        assert not rel.startswith("/") and ".." not in rel.split("/"), d
        path = root / rel
        if not path.is_file():  # a link that is not followed, a folder: the whole entry
            assert (d["line"], d["col"]) == (1, 1), d
            continue
        lines = path.read_bytes().split(b"\n")
        assert d["line"] <= len(lines), f"{d} is past the last line ({len(lines)})"
        # columns count characters; a line's byte length bounds them from above
        assert d["col"] <= len(lines[d["line"] - 1]) + 1, f"{d} is past the end of {lines[d['line'] - 1]!r}"


# --- artifacts -------------------------------------------------------------------------------


def canonical(value: Any) -> bytes:
    """docs/artifact.md's canonical JSON, written out here rather than imported from cpcompile."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode(
        "utf-8", "surrogatepass"
    )


DEEP = "\x00deep\x00"


@contextmanager
def default_recursion_limit() -> Iterator[None]:
    """Run with CPython's default recursion limit, as a service does. Hypothesis raises the
    limit by a few thousand while it runs a test, which would hide the inputs that exhaust the
    stack of a real process (nesting near 1000 levels)."""
    saved = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    try:
        yield
    finally:
        sys.setrecursionlimit(saved)


def deep_json(depth: int, kind: str) -> bytes:
    return (b"[" * depth + b"]" * depth) if kind == "list" else (b'{"a":' * depth + b"{}" + b"}" * depth)


def lookup_exercise(artifact: Any, body: Any) -> None:
    """Lookups of every known datastream with every audience ID the body lists, as lists and
    as membership maps, at several times, with attributes: all must give JSON payloads."""
    ids: set[str] = {"399eb3e7-3d50-47d3-ad30-a5ad99e8ab77", "8c2d4f61-5a7e-4b3c-9d1e-2f3a4b5c6d7e"}
    namespaces: set[str] = {"ups", "CustomerAudienceUpload"}
    datastreams = body.get("datastreams") if isinstance(body, dict) else None
    for entry in (datastreams or {}).values() if isinstance(datastreams, dict) else ():
        audiences = entry.get("audiences") if isinstance(entry, dict) else None
        if isinstance(audiences, dict):
            ids.update(k for k in audiences if isinstance(k, str))
            namespaces.update(a["namespace"] for a in audiences.values() if isinstance(a, dict) and isinstance(a.get("namespace"), str))
    attributes = {"person": {"name": {"firstName": "Ada"}}, "homeAddress": {"city": "Bern"}}
    for datastream_id in (*artifact.datastream_ids, "unknown"):
        for memberships in (sorted(ids), {ns: {i: {"status": "realized"} for i in ids} for ns in namespaces}):
            for now in (None, 0, -(2**40), 1_798_761_600, 2**62, datetime(2026, 12, 24, tzinfo=timezone.utc)):
                for authenticated in (False, True):
                    payload = artifact.lookup(
                        datastream_id, memberships, now=now, attributes=attributes, authenticated=authenticated
                    )
                    check_payload(payload)


def check_payload(payload: Any) -> None:
    assert isinstance(payload, list), payload
    json.dumps(payload, allow_nan=False)
    for item in payload:
        assert item["type"] == "profileLookup" and isinstance(item["segments"], list), item


# lookup inputs -------------------------------------------------------------------------------

NOW_TEXTS = [
    "2026-12-24", "2026-12-24T18:00:00Z", "2026-12-24T18:00:00+23:59", "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-23:59", "1798761600", "9" * 30, "9" * 5000, "\u00b2", "\u0663\u0663", "\uff11",
    "-1", "1e9", "nan", "inf", "", " ", "2026-13-01", "2026-12-24T25:00", "2026-12-24\x00", "\udcff",
]

