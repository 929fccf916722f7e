"""How the cost per mapping changes from size s to xl: validate, cold build and peak memory.

    python benchmarks/scaling_bench.py [--sizes s,m,l,xl] [--seed 7] [--repeat 1]

For each size, generates the tree (benchmarks/generate.py) into a temporary directory, then runs
each step in a fresh subprocess, so that each peak RSS is that step's own:

* floor: PyYAML's CSafeLoader loading every config file, the collector paused
  (benchmarks/_floor.py; ruamel's C safe_load when PyYAML is missing);
* ``cpcompile.validate.validate_tree(root)``;
* ``cpcompile.build.build(root, out, cache_dir=None)``, a cold build.

Each time is the best of --repeat runs. Printed per size: seconds, microseconds per mapping,
the ratio to the floor, and how much the cost per mapping grew from the previous size (1.00
means linear; the generated trees keep every sandbox alike from m up, so a growth is the
code's). Peak RSS is printed in MiB, and what the step added to its process (its peak less the
interpreter's and the imports') in bytes per mapping. validate_bench.py and build_bench.py run
their step here too, for a peak RSS of its own.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for path in (str(REPO), str(HERE)):
    if path not in sys.path:
        sys.path.insert(0, path)

from _floor import Floor, best_of, generate_tree  # noqa: E402
from _floor import peak_rss_mib  # noqa: E402
from generate import SIZES, counts_for  # noqa: E402

STEPS = ("floor", "validate", "build")


def child(step: str, root: Path, repeat: int) -> dict[str, object]:
    """Run one step in this (fresh) process; its figures as a dict. ``base``: the peak RSS
    before the step (interpreter and imports), ``rss``: after it."""
    if step == "floor":
        base = peak_rss_mib()
        floor = Floor(root, repeat)
        return {
            "seconds": floor.seconds, "floor": floor.name, "skipped": floor.skipped, "base": base, "rss": peak_rss_mib()
        }
    if step == "validate":
        from cpcompile.validate import validate_tree

        holder: dict[str, object] = {}
        base = peak_rss_mib()

        def validate() -> None:
            holder["result"] = None
            holder["result"] = validate_tree(root)

        seconds = best_of(repeat, validate)
        result = holder["result"]
        errors = sum(d.is_error for d in result.diagnostics)  # type: ignore[attr-defined]
        mappings = sum(len(e.model.audiences) for e in result.project.destinations)  # type: ignore[attr-defined]
        return {"seconds": seconds, "errors": errors, "base": base, "rss": peak_rss_mib(), "mappings": mappings}
    from cpcompile.build import build

    with tempfile.TemporaryDirectory(prefix="cpcompile-scaling-out-") as out:
        built: dict[str, object] = {}
        base = peak_rss_mib()

        def cold() -> None:
            built["outcome"] = None
            built["outcome"] = build(root, Path(out), cache_dir=None)

        seconds = best_of(repeat, cold)
        outcome = built["outcome"]
        errors = 0 if outcome.revision else 1  # type: ignore[attr-defined]
        mappings = outcome.manifest["counts"]["mappings"] if outcome.manifest else 0  # type: ignore[attr-defined]
    return {"seconds": seconds, "errors": errors, "base": base, "rss": peak_rss_mib(), "mappings": mappings}


def memory_line(step: str, figures: dict[str, object], target_mib: float) -> str:
    """One step's peak RSS in its own process against its target, and the bytes per mapping of
    what the step added to the process (its peak less the interpreter's and the imports')."""
    rss, base = float(figures["rss"]), float(figures["base"])  # type: ignore[arg-type]
    mappings = int(figures.get("mappings") or 0)  # type: ignore[call-overload]
    verdict = "ok" if rss <= target_mib else f"OVER target {target_mib:.0f}"
    per = f", {(rss - base) * 1024 * 1024 / mappings:,.0f} bytes per mapping above start-up" if mappings else ""
    return f"peak RSS of {step} in its own process: {rss:,.0f} MiB (target <= {target_mib:.0f}: {verdict}){per} ({base:,.0f} MiB)"


def run_step(step: str, root: Path, repeat: int) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, __file__, "--child", step, "--root", str(root), "--repeat", str(repeat)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Cost per mapping from size s to xl.")
    p.add_argument("--sizes", default=",".join(SIZES), help="comma-separated sizes (default s,m,l,xl)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--repeat", type=int, default=1, help="runs per step; the best counts (default 1)")
    p.add_argument("--child", choices=STEPS, help=argparse.SUPPRESS)
    p.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.root, args.repeat)))
        return 0
    sizes = [s for s in args.sizes.split(",") if s]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        p.error(f"unknown sizes {unknown}; expected some of {', '.join(SIZES)}")

    print(f"scaling benchmark: seed {args.seed}, best of {args.repeat}, Python {sys.version.split()[0]}")
    print(
        f"  {'size':<5}{'step':<10}{'mappings':>10}{'seconds':>10}{'µs/mapping':>12}"
        f"{'x floor':>9}{'growth':>8}{'peak RSS':>11}{'B/mapping':>11}"
    )
    previous: dict[str, float] = {}
    failed = False
    floor_note = ""
    for size in sizes:
        mappings = counts_for(size).mappings
        with tempfile.TemporaryDirectory(prefix=f"cpcompile-scaling-{size}-") as tmp:
            root = Path(tmp)
            generate_tree(root, size, args.seed)
            figures = {step: run_step(step, root, args.repeat) for step in STEPS}
        floor_s = float(figures["floor"]["seconds"])  # type: ignore[arg-type]
        if figures["floor"]["skipped"]:
            floor_note = f"  floor: PyYAML CSafeLoader skipped: {figures['floor']['skipped']}; ruamel's C safe_load instead"
        for step in STEPS:
            f = figures[step]
            seconds = float(f["seconds"])  # type: ignore[arg-type]
            per = seconds / mappings * 1e6
            growth = f"{per / previous[step]:>8.2f}" if step in previous else f"{'':>8}"
            previous[step] = per
            rss, base = float(f["rss"]), float(f["base"])  # type: ignore[arg-type]
            failed = failed or bool(f.get("errors"))
            print(
                f"  {size:<5}{step:<10}{mappings:>10,}{seconds:>10.3f}{per:>12.2f}"
                f"{seconds / floor_s:>9.2f}{growth}{rss:>8,.0f} MiB{(rss - base) * 1024 * 1024 / mappings:>11,.0f}"
            )
    if floor_note:
        print(floor_note)
    print("  growth: µs per mapping / the same at the previous size (1.00 = linear)")
    print("  peak RSS: each step's own process (interpreter and imports included); B/mapping: bytes per")
    print("  mapping of what the step added to it (its peak less the interpreter's and the imports')")
    if failed:
        print("scaling_bench: a tree had errors or a build failed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
