"""The floor every YAML benchmark is measured against, and small timing helpers.

The floor is the time PyYAML's ``CSafeLoader`` (libyaml's parser and PyYAML's C-accelerated
safe constructor) takes to read and load every config file of a tree into plain Python data,
with the garbage collector paused as cpcompile pauses it for validating and building: no model,
no checks, no cross-references. It is the fastest general-purpose way to load YAML from Python,
so any YAML config tool pays at least this. PyYAML is a benchmark-only dependency (the project
itself reads YAML with ruamel.yaml); without it, or without libyaml, the floor is skipped with a
message and the ratios fall back to ruamel.yaml's C ``safe_load`` (also GC-paused), which runs
its resolver and constructor in Python and so is a softer floor.

Reporting a benchmark as a ratio to a floor measured in the same run makes figures comparable
across machines and runs.
"""

from __future__ import annotations

import gc
import os
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
    """Minimum wall-clock seconds of ``n`` calls of ``fn``, with a full GC between calls, and
    every file written so far on disk before each: a build fsyncs its outputs, and on ext4 (as
    on most journalling file systems) the first fsync also waits for whatever earlier steps left
    unwritten, such as the tens of MiB a cache fill writes without fsync. Each call pays for its
    own writes only."""
    if n < 1:
        raise ValueError("n must be at least 1")
    best = float("inf")
    for _ in range(n):
        os.sync()
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


def ruamel_c_safe_load_seconds(root: str | Path, repeat: int = 1, paused: bool = True) -> float:
    """Best-of-``repeat`` seconds to read and ruamel-C-safe-load every config file under
    ``root``, the collector paused (unless ``paused=False``) as cpcompile pauses it.

    Files are listed outside the timed region; reading them as text is inside it.
    """
    files = iter_yaml_files(root)
    if not files:
        raise FileNotFoundError(f"no config files under {root}")
    yaml = c_safe_yaml()
    return best_of(repeat, gc_paused(lambda: load_all(files, yaml)) if paused else lambda: load_all(files, yaml))


def gc_paused(fn: Callable[[], object]) -> Callable[[], object]:
    """``fn`` run with the cyclic garbage collector paused (then restored)."""

    def run() -> object:
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return fn()
        finally:
            if was_enabled:
                gc.enable()

    return run


def pyyaml_c_safe_loader():  # -> type[yaml.CSafeLoader] | str
    """PyYAML's ``CSafeLoader``, or the reason it cannot be used (a string)."""
    try:
        import yaml
    except ImportError:
        return "PyYAML is not installed (pip install pyyaml; a benchmark-only dependency)"
    loader = getattr(yaml, "CSafeLoader", None)
    if loader is None or not getattr(yaml, "__with_libyaml__", False):
        return "PyYAML is installed without libyaml, so it has no CSafeLoader (reinstall it with libyaml)"
    return loader


def pyyaml_c_safe_load_seconds(root: str | Path, repeat: int = 1) -> float | str:
    """Best-of-``repeat`` seconds to read and load every config file under ``root`` with
    PyYAML's ``CSafeLoader``, the collector paused; or why it cannot be measured (a string)."""
    loader = pyyaml_c_safe_loader()
    if isinstance(loader, str):
        return loader
    import yaml

    files = iter_yaml_files(root)
    if not files:
        raise FileNotFoundError(f"no config files under {root}")

    def load_all_pyyaml() -> int:
        for path in files:
            yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
        return len(files)

    return best_of(repeat, gc_paused(load_all_pyyaml))


class Floor:
    """The YAML floor of one run: PyYAML's CSafeLoader when available, else ruamel's C
    safe_load; ``lines()`` says which, and why the first was skipped."""

    def __init__(self, root: str | Path, repeat: int) -> None:
        pyyaml = pyyaml_c_safe_load_seconds(root, repeat)
        self.ruamel = ruamel_c_safe_load_seconds(root, repeat)
        self.skipped = pyyaml if isinstance(pyyaml, str) else ""
        self.seconds = self.ruamel if isinstance(pyyaml, str) else pyyaml
        self.name = "ruamel C safe_load, GC paused" if self.skipped else "PyYAML CSafeLoader, GC paused"

    def lines(self, fmt: Callable[[str, float, float], str]) -> list[str]:
        """The floor lines of a report; ``fmt(step, seconds, ratio)`` formats one."""
        out = []
        if self.skipped:
            out.append(f"  floor: PyYAML CSafeLoader skipped: {self.skipped}")
            out.append(fmt("floor: ruamel C safe_load, GC paused", self.ruamel, 1.0))
        else:
            out.append(fmt("floor: PyYAML CSafeLoader, GC paused", self.seconds, 1.0))
            out.append(fmt("  (ruamel C safe_load, GC paused)", self.ruamel, self.ruamel / self.seconds))
        return out


def rss_mib(ru_maxrss: int) -> float:
    """A ``ru_maxrss`` in MiB (Linux reports KiB, macOS bytes)."""
    return ru_maxrss / (1024 * 1024) if sys.platform == "darwin" else ru_maxrss / 1024


def peak_rss_mib() -> float:
    """This process's own high-water mark of resident memory. On Linux, VmHWM: ``ru_maxrss``
    survives exec, so a child started by a large process (validate_bench.py, build_bench.py,
    after their floor) would report the parent's peak as its own."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
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
