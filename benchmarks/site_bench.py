"""How long ``cpcompile site`` takes on a large tree, relative to one cold build of the same tree.

    python benchmarks/site_bench.py [--size xl] [--seed 7] [--repeat 2]

Generates a synthetic tree (benchmarks/generate.py) into a temporary directory, then, in this
process, alternating so that other work on the machine weighs on both alike, each the best of
--repeat runs:

1. cold build: ``cpcompile.build.build(root, out, cache_dir=None)``, what
   ``cpcompile build --no-cache`` does;
2. the site: ``cpcompile.site.make_site(root, out)``, what ``cpcompile site --out DIR`` does
   (validate, resolve, render every page, write them into a new folder and rename it).

Then one more site run timed stage by stage, and the size of what it wrote. Exit status 1 if
the tree has errors or the site is missing a page.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # benchmark the checkout, installed or not
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from _floor import best_of, generate_tree, iter_yaml_files, peak_rss_mib  # noqa: E402
from generate import SIZES  # noqa: E402


def _stages(root: Path, out: Path) -> tuple[list[tuple[str, float]], int, int]:
    """One site run, stage by stage: (stage, seconds), pages, bytes."""
    from cpcompile.gcpause import paused_gc
    from cpcompile.site import render_pages, site_model, write_site
    from cpcompile.validate import validate_tree

    times = []
    start = time.perf_counter()
    result = validate_tree(root)
    times.append(("validate", time.perf_counter() - start))
    with paused_gc():
        start = time.perf_counter()
        model = site_model(result.project, result.files_checked)
        times.append(("resolve the catalog, draw the pictures", time.perf_counter() - start))
        start = time.perf_counter()
        pages = render_pages(model)
        times.append(("render the pages (jinja2)", time.perf_counter() - start))
    start = time.perf_counter()
    write_site(pages, out)
    times.append(("write them, rename the folder", time.perf_counter() - start))
    return times, len(pages), sum(len(p) for p in pages.values())


def run(work: Path, size: str, seed: int, repeat: int) -> int:
    from cpcompile.build import build
    from cpcompile.site import make_site

    root = work / "tree"
    gen_seconds = generate_tree(root, size, seed)
    files = iter_yaml_files(root)
    total_bytes = sum(p.stat().st_size for p in files)
    holder: dict[str, object] = {}

    def cold() -> None:
        holder["build"] = build(root, work / "build", cache_dir=None)

    def site() -> None:
        holder["site"] = make_site(root, work / "site")

    build_s = site_s = float("inf")
    for _ in range(repeat):
        build_s = min(build_s, best_of(1, cold))
        site_s = min(site_s, best_of(1, site))
    model = getattr(holder["site"], "model", None)
    if getattr(holder["build"], "revision", None) is None or model is None:
        print("site_bench: the generated tree has errors; nothing was built", file=sys.stderr)
        return 1
    written = sum(1 for p in (work / "site").rglob("*.html"))
    expected = 2 + len(model.destinations) + len(model.audiences)
    holder.clear()  # the stage run starts from the same heap as the timed runs did
    gc.collect()
    stages, pages, page_bytes = _stages(root, work / "site-stages")

    print(f"site benchmark: size {size}, seed {seed}; best of {repeat}, Python {sys.version.split()[0]}")
    print(f"  {len(files):,} files, {total_bytes / 1e6:.1f} MB of config; generated in {gen_seconds:.1f} s")
    print(f"  {'step':<44}{'seconds':>9}{'x build':>9}")
    print(f"  {'cold build, no cache':<44}{build_s:>9.3f}{1.0:>9.3f}")
    print(f"  {'site':<44}{site_s:>9.3f}{site_s / build_s:>9.3f}")
    print("  one more site run, by stage:")
    for stage, seconds in stages:
        print(f"    {stage:<42}{seconds:>9.3f}{seconds / build_s:>9.3f}")
    print(f"  {pages:,} pages ({len(model.destinations):,} destinations, {len(model.audiences):,} audiences), "
          f"{page_bytes / 1e6:.1f} MB; index.html {(work / 'site/index.html').stat().st_size / 1e6:.1f} MB")
    print(f"  peak RSS {peak_rss_mib():.0f} MiB")
    if written != expected:
        print(f"site_bench: {written} pages written, expected {expected}", file=sys.stderr)
        return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="xl")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="site-bench-") as work:
        return run(Path(work), args.size, args.seed, args.repeat)


if __name__ == "__main__":
    sys.exit(main())
