"""The floor every benchmark is measured against, and small timing helpers.

The floor is the time ruamel.yaml's C parser (``YAML(typ="safe", pure=False)``, i.e. libyaml
via ruamel.yaml.clib) takes to read and ``load`` every config file of a tree, with no model, no
checks and no cross-references. Any YAML config tool has to pay at least this; reporting a
benchmark as a ratio to a floor measured in the same run makes figures comparable across
machines and runs.
"""

from __future__ import annotations

import gc
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent

CONFIG_SUBDIRS = ("datastreams", "destinations", "audiences")
YAML_SUFFIXES = (".yaml", ".yml")


def iter_yaml_files(root: str | Path) -> list[Path]:
    """Every *.yaml / *.yml file under the config subdirectories of ``root``, sorted."""
    root = Path(root)
    found: list[Path] = []
    for sub in CONFIG_SUBDIRS:
        d = root / sub
        if d.is_dir():
            found.extend(p for p in d.rglob("*") if p.suffix in YAML_SUFFIXES and p.is_file())
    return sorted(found)


def best_of(n: int, fn: Callable[[], object]) -> float:
    """Minimum wall-clock seconds of ``n`` calls of ``fn``, with a full GC between calls."""
    if n < 1:
        raise ValueError("n must be at least 1")
    best = float("inf")
    for _ in range(n):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def c_safe_yaml():  # -> ruamel.yaml.YAML
    """A ``YAML(typ="safe", pure=False)`` that is guaranteed to use the C parser."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=False)
    parser = getattr(yaml, "Parser", None)
    assert parser is not None and parser.__name__ == "CParser", (
        f"ruamel.yaml is not using its C parser (got {parser!r}); install ruamel.yaml.clib"
    )
    return yaml


def load_all(files: list[Path], yaml=None) -> int:
    """Read (as UTF-8 text) and safe-load every file; returns the number of documents."""
    yaml = yaml if yaml is not None else c_safe_yaml()
    load = yaml.load
    n = 0
    for path in files:
        load(path.read_text(encoding="utf-8"))
        n += 1
    return n


def ruamel_c_safe_load_seconds(root: str | Path, repeat: int = 1) -> float:
    """Best-of-``repeat`` seconds to read and C-safe-load every config file under ``root``.

    Files are listed outside the timed region; reading them as text is inside it.
    """
    files = iter_yaml_files(root)
    if not files:
        raise FileNotFoundError(f"no config files under {root}")
    yaml = c_safe_yaml()
    return best_of(repeat, lambda: load_all(files, yaml))


def rss_mib(ru_maxrss: int) -> float:
    """A ``ru_maxrss`` in MiB (Linux reports KiB, macOS bytes)."""
    return ru_maxrss / (1024 * 1024) if sys.platform == "darwin" else ru_maxrss / 1024


def peak_rss_mib() -> float:
    """This process's high-water mark of resident memory."""
    return rss_mib(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def generate_tree(root: Path, size: str, seed: int) -> float:
    """Write a synthetic tree with generate.py in a subprocess (so that generating does not
    inflate this process's peak RSS); returns the seconds it took."""
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, str(HERE / "generate.py"), str(root), "--size", size, "--seed", str(seed)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - t0
