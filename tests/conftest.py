"""Shared test helpers: config trees written into tmp_path, the command line, the environment
every test starts from, and the generated golden cases."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Callable, Mapping

import pytest
from click.testing import CliRunner, Result

from cpcompile.cli import cli

CASES_DIR = Path(__file__).resolve().parent / "cases"
REPO_ROOT = CASES_DIR.parent.parent


CONFIG_DIRS = ("datastreams", "destinations", "audiences", "policies")


def example_files() -> list[Path]:
    """The repository's example config files, relative to the repository."""
    return sorted(p.relative_to(REPO_ROOT) for d in CONFIG_DIRS for p in (REPO_ROOT / d).glob("*.yaml"))


def copy_example(dst: Path, *, seed: int | None = None, via_rename: bool = False) -> Path:
    """Copy the repository's example config into ``dst`` and return ``dst``. With ``seed`` the
    files (and so the folders) are created in a shuffled order; with ``via_rename`` each is
    written elsewhere and renamed into place, as editors and git checkouts do."""
    files = example_files()
    if seed is not None:
        random.Random(seed).shuffle(files)
    dst.mkdir(parents=True, exist_ok=True)
    for rel in files:
        target = dst / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if via_rename:
            staging = dst / f"incoming-{rel.name}"
            staging.write_bytes((REPO_ROOT / rel).read_bytes())
            os.rename(staging, target)
        else:
            target.write_bytes((REPO_ROOT / rel).read_bytes())
    return dst


def run(*args: object, env: Mapping[str, str] | None = None) -> Result:
    """``cpcompile ARGS`` through click's runner (paths may be given as Path)."""
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


def edit(path: Path, old: str, new: str) -> None:
    """Replace the first ``old`` in the file at ``path``, which must hold it."""
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def dir_state(directory: Path) -> dict[str, tuple[bytes, int, int]]:
    """Content, mtime and inode of every entry of ``directory`` (hidden temp files included),
    to show that a command left it untouched."""
    out = {}
    for name in sorted(os.listdir(directory)):
        st = os.stat(directory / name)
        out[name] = ((directory / name).read_bytes(), st.st_mtime_ns, st.st_ino)
    return out


def write_tree(root: Path, files: Mapping[str, str | bytes]) -> Path:
    """Write ``{"destinations/a.yaml": "..."}`` under ``root`` and return ``root``."""
    for relpath, content in files.items():
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return root


def uuid(prefix: str, n: int) -> str:
    """A readable, valid UUID: ``uuid("a0", 7)`` is ``a0000000-0000-4000-8000-000000000007``."""
    return f"{prefix:0<8}-0000-4000-8000-{n:012d}"


DATASTREAM_ID = uuid("d5", 1)
WEB_DATASTREAM = f"""\
id: {DATASTREAM_ID}
name: Web
sandbox: prod
edge_segmentation: true
personalization_destinations: true
"""


def catalog(count: int, *, evaluation: str = "batch", policy_name: str = "Edge") -> str:
    """A prod catalog of ``count`` audiences (a0…01 on), all on its one active-on-edge merge policy."""
    policy = uuid("3e", 1)
    audiences = "".join(
        f"  - id: {uuid('a0', i)}\n    name: Audience {i}\n    merge_policy: {policy}\n    evaluation: {evaluation}\n"
        for i in range(1, count + 1)
    )
    return (
        f"sandbox: prod\nmerge_policies:\n  - id: {policy}\n    name: {policy_name}\n"
        f"    active_on_edge: true\naudiences:\n{audiences}"
    )


def destination(n: int = 1, *, alias: str = "homeBanner", datastream: str = "web", audiences: int = 1) -> str:
    items = "".join(f"  - id: {uuid('a0', i)}\n" for i in range(1, audiences + 1))
    return (
        f"id: {uuid('de', n)}\nname: Destination {n}\nalias: {alias}\ndatastream: {datastream}\n"
        + (f"audiences:\n{items}" if items else "")
    )


# Guardrail cases need hundreds of entries; they are generated rather than committed. Each one
# is listed by the case test next to the committed cases, as if it were a directory in cases/.
def _too_many_audiences(root: Path) -> None:
    write_tree(root, {"datastreams/web.yaml": WEB_DATASTREAM, "destinations/home.yaml": destination(audiences=251)})


def _too_many_edge_audiences(root: Path) -> None:
    audiences = "".join(
        f"  - id: {uuid('a0', i)}\n    name: Edge audience {i}\n    evaluation: edge\n" for i in range(1, 152)
    )
    write_tree(root, {"audiences/prod.yaml": f"sandbox: prod\naudiences:\n{audiences}"})


GENERATED_CASES: dict[str, Callable[[Path], None]] = {
    "invalid/cp151-too-many-audiences-warning": _too_many_audiences,
    "invalid/cp153-too-many-edge-audiences-warning": _too_many_edge_audiences,
}


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's own default cache directory (CPCOMPILE_CACHE_DIR, outside any config root)."""
    monkeypatch.setenv("CPCOMPILE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(autouse=True, scope="session")
def _clean_environment(tmp_path_factory):
    """What the command line reads from the environment, the same for every test wherever it
    runs: `cpcompile build` caches in ~/.cache/cpcompile by default, so the tests use a directory
    of their own instead; never a CPCOMPILE_CACHE_KEY, and no SOURCE_DATE_EPOCH (a CI that
    exports it would change every manifest)."""
    names = ("CPCOMPILE_CACHE_DIR", "CPCOMPILE_CACHE_KEY", "SOURCE_DATE_EPOCH")
    saved = {name: os.environ.get(name) for name in names}
    os.environ["CPCOMPILE_CACHE_DIR"] = str(tmp_path_factory.mktemp("cpcompile-cache"))
    os.environ.pop("CPCOMPILE_CACHE_KEY", None)
    os.environ.pop("SOURCE_DATE_EPOCH", None)
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
