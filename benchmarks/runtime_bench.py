"""Benchmark the runtime on an xl-sized artifact: lookup latency, load time, import time.

    python benchmarks/runtime_bench.py [--artifact build/artifact.json] [--profiles 2000]

Without ``--artifact`` it synthesizes the body directly (no compiler involved): 200
datastreams, 2,000 destinations (10 per datastream, 10 % with attribute mappings), 20,000
audiences (5 % in the CustomerAudienceUpload namespace) and 200,000 mappings (100 audiences
per destination, 10 % with a time window).

Times are CPU time of this process (``time.process_time``), so that other processes on a
shared machine disturb them less; every figure is printed next to a floor measured in the same
run on the same data:

* lookup vs ``floor``: for the same datastream and profile, ``bare = {datastream: {audience:
  tuple of destination indexes}}`` built once from the body (windows ignored), and
  ``[d for s in profile for d in bare[ds].get(s, ())]`` inside a function called like
  ``lookup``. It only finds which destinations the profile hits: no windows, no namespaces, no
  grouping or sorting, no payload objects. Target: lookup <= 1.5x floor.
* ``loads(data)`` vs ``json.loads(data)`` of the same bytes (garbage collector in its default
  state, as an application would call it). Target <= 1.3x. The part of ``loads`` that checks
  the file is canonical (one ``canonical_json`` of the decoded document) is printed too. ``loads`` pauses the collector while
  it decodes and then scans the new objects once (``gc.collect(1)``), so two more floors are
  printed: json.loads with the collector paused and the same scan (like for like), and without
  the scan (whose cost then falls on whatever allocates next, outside the timing).
* ``python -X importtime -c "import cpcompile.runtime"``: total for the import, with bytecode
  cached (the deployed case; the repo sets PYTHONDONTWRITEBYTECODE, so a temporary
  PYTHONPYCACHEPREFIX is used) and without. Target <= 15 ms.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any, Callable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from cpcompile import runtime  # noqa: E402
from cpcompile.artifact_format.document import canonical_json, make_document  # noqa: E402

WINDOW = (1764547200, 1769904000)  # 2025-12-01 .. 2026-02-01


# --- the artifact ------------------------------------------------------------------------------


def synthesize_body(seed: int = 7) -> dict[str, Any]:
    rng = random.Random(seed)

    def new_id() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    audiences = [new_id() for _ in range(20_000)]
    namespace = {a: "CustomerAudienceUpload" if rng.random() < 0.05 else "ups" for a in audiences}
    datastreams = {}
    for ds in range(200):
        destinations = []
        for d in range(10):
            destination: dict[str, Any] = {
                "alias": f"alias-{ds:03d}-{d}",
                "destinationId": new_id(),
            }
            if rng.random() < 0.1:
                destination["attributes"] = [
                    {"source": "homeAddress.countryCode", "target": "countryCode"},
                    {"source": "person.name.firstName", "target": "firstName"},
                ]
            destinations.append(destination)
        index: dict[str, Any] = {}
        for d in range(10):
            for audience in rng.sample(audiences, 100):
                mapping: dict[str, int] = {"destination": d}
                if rng.random() < 0.1:
                    mapping["start"], mapping["end"] = WINDOW
                if audience not in index:
                    index[audience] = {"mappings": [], "namespace": namespace[audience]}
                index[audience]["mappings"].append(mapping)
        datastreams[new_id()] = {"access": "mixed", "audiences": index, "destinations": destinations}
    return {"datastreams": datastreams}


# --- timing helpers ----------------------------------------------------------------------------


def median_ms(action: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        gc.collect()
        start = time.process_time()
        result = action()
        times.append(time.process_time() - start)
        del result
    return statistics.median(times) * 1000


def per_call_us(call: Callable[[str, Any], object], ds: str, profile: Any, reps: int) -> float:
    start = time.process_time_ns()
    for _ in range(reps):
        call(ds, profile)
    return (time.process_time_ns() - start) / reps / 1000


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


# --- measurements ------------------------------------------------------------------------------


def bench_load(data: bytes, runs: int) -> dict[str, float]:
    def json_paused(settle: bool) -> object:
        gc.disable()
        try:
            result = json.loads(data)
        finally:
            gc.enable()
        if settle:
            gc.collect(1)  # what runtime.loads does after decoding
        return result

    runtime.loads(data)  # warm up: first-use imports (json, hashlib)
    decoded = json.loads(data)
    return {
        "canonical re-encoding": median_ms(lambda: canonical_json(decoded), runs),
        "loads": median_ms(lambda: runtime.loads(data), runs),
        "json.loads": median_ms(lambda: json.loads(data), runs),
        "json.loads, gc paused, settled": median_ms(lambda: json_paused(True), runs),
        "json.loads, gc paused": median_ms(lambda: json_paused(False), runs),
    }


def bench_msgpack_load(document: dict[str, Any]) -> float | None:
    try:
        import msgpack
    except ImportError:
        return None
    packed = msgpack.packb(json.loads(canonical_json(document)), use_bin_type=True)
    return median_ms(lambda: runtime.loads(packed, encoding="msgpack"), 3)


def bench_lookup(
    artifact: runtime.Artifact, body: dict[str, Any], profiles: int, reps: int, seed: int
) -> dict[str, dict[str, float]]:
    bare = {
        ds: {a: tuple(m["destination"] for m in v["mappings"]) for a, v in e["audiences"].items()}
        for ds, e in body["datastreams"].items()
    }

    def floor(ds: str, profile: list[str]) -> list[int]:
        index = bare[ds]
        return [d for s in profile for d in index.get(s, ())]

    lookup = artifact.lookup
    rng = random.Random(seed)
    datastreams = [ds for ds, e in body["datastreams"].items() if e["audiences"]]
    all_audiences = sorted({a for e in body["datastreams"].values() for a in e["audiences"]})

    def uniform(ds: str) -> list[str]:
        return rng.sample(all_audiences, min(50, len(all_audiences)))

    def dense(ds: str) -> list[str]:
        mapped = sorted(body["datastreams"][ds]["audiences"])
        return rng.sample(mapped, min(50, len(mapped)))

    results = {}
    for mix, make in (("uniform", uniform), ("dense", dense)):
        ours, theirs, as_map, upper, hits = [], [], [], [], []
        for _ in range(profiles):
            ds = rng.choice(datastreams)
            profile = make(ds)
            membership_map = {"ups": {a: {"status": "realized"} for a in profile}}
            # interleaved, so that noise from other processes hits both alike
            ours.append(per_call_us(lookup, ds, profile, reps))
            theirs.append(per_call_us(floor, ds, profile, reps))
            as_map.append(per_call_us(lookup, ds, membership_map, reps))
            upper.append(per_call_us(lookup, ds, [a.upper() for a in profile], reps))
            hits.append(sum(len(item["segments"]) for item in lookup(ds, profile)))
        results[mix] = {
            "p50": percentile(ours, 50),
            "p99": percentile(ours, 99),
            "floor p50": percentile(theirs, 50),
            "floor p99": percentile(theirs, 99),
            "map p50": percentile(as_map, 50),
            "upper p50": percentile(upper, 50),
            "segments": statistics.mean(hits),
        }
    return results


def importtime_ms(statement: str, cached: bool, runs: int = 7) -> float:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    flags = []
    with tempfile.TemporaryDirectory() as cache:
        if cached:
            env["PYTHONPYCACHEPREFIX"] = cache
        else:
            flags = ["-B"]
            env["PYTHONPYCACHEPREFIX"] = os.path.join(cache, "never-written")
        baseline = _top_level_imports(flags, "pass", env)
        if cached:
            _top_level_imports(flags, statement, env)  # writes the bytecode
        totals = []
        for _ in range(runs):
            imports = _top_level_imports(flags, statement, env)
            totals.append(sum(us for name, us in imports.items() if name not in baseline) / 1000)
    return statistics.median(totals)


def _top_level_imports(flags: list[str], statement: str, env: dict[str, str]) -> dict[str, int]:
    """Module -> cumulative µs, for the imports not nested in another one."""
    result = subprocess.run(
        [sys.executable, *flags, "-X", "importtime", "-c", statement],
        capture_output=True, text=True, env=env, cwd=ROOT, check=True,
    )
    imports = {}
    for line in result.stderr.splitlines():
        parts = line.split("|")  # "import time: <self> | <cumulative> | <indent><name>"
        if not line.startswith("import time:") or len(parts) != 3 or "cumulative" in parts[1]:
            continue
        name = parts[2][1:]
        if not name.startswith(" "):  # nested imports are indented
            imports[name] = int(parts[1])
    return imports


# --- report ------------------------------------------------------------------------------------


def print_artifact(source: str, data: bytes, body: dict[str, Any]) -> None:
    entries = body["datastreams"].values()
    mappings = sum(len(v["mappings"]) for e in entries for v in e["audiences"].values())
    destinations = sum(len(e["destinations"]) for e in entries)
    print(
        f"artifact: {source}, {len(data) / 1e6:.1f} MB, {len(body['datastreams'])} datastreams, "
        f"{destinations} destinations, {mappings} mappings"
    )
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus")


def print_load(load: dict[str, float], runs: int, msgpack_ms: float | None) -> None:
    print(f"\nload (CPU ms, median of {runs})")
    print(f"  {'runtime.loads':31s} {load['loads']:8.1f}")
    print(
        f"  {'  of which canonical check':31s} {load['canonical re-encoding']:8.1f}"
        "   (canonical_json of the decoded document, compared with the file)"
    )
    for name in ("json.loads", "json.loads, gc paused, settled", "json.loads, gc paused"):
        target = "  (target <= 1.3)" if name == "json.loads" else ""
        print(f"  {name:31s} {load[name]:8.1f}   ratio {load['loads'] / load[name]:.2f}{target}")
    if msgpack_ms is not None:
        print(f"  {'runtime.loads(msgpack)':31s} {msgpack_ms:8.1f}   (re-encodes the body as JSON)")


def print_lookups(lookups: dict[str, dict[str, float]], args: argparse.Namespace) -> None:
    print(
        f"\nlookup, 50-membership profiles ({args.profiles} per mix, {args.reps} calls each, "
        "CPU µs per call)"
    )
    for mix, r in lookups.items():
        print(
            f"  {mix:8s} lookup p50 {r['p50']:6.2f} p99 {r['p99']:6.2f}"
            f" | floor p50 {r['floor p50']:6.2f} p99 {r['floor p99']:6.2f}"
            f" | ratio p50 {r['p50'] / r['floor p50']:.2f} p99 {r['p99'] / r['floor p99']:.2f}"
            f" | as segmentMembership map p50 {r['map p50']:6.2f}"
            f" | IDs in upper case p50 {r['upper p50']:6.2f}"
            f" | {r['segments']:.1f} segments/answer"
        )
    print("  uniform: 50 IDs drawn from all audiences; dense: 50 IDs all mapped on the datastream")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--artifact", help="an artifact.json to use instead of a synthetic one")
    parser.add_argument("--profiles", type=int, default=2000, help="profiles per mix")
    parser.add_argument("--reps", type=int, default=20, help="calls per profile and timing")
    parser.add_argument("--load-runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    started = time.perf_counter()
    if args.artifact:
        with open(args.artifact, "rb") as f:
            data = f.read()
        document = json.loads(data)
        source = args.artifact
    else:
        document = make_document(synthesize_body(args.seed))
        data = canonical_json(document)
        source = "synthetic"
    body = document["body"]
    print_artifact(source, data, body)

    load = bench_load(data, args.load_runs)
    print_load(load, args.load_runs, bench_msgpack_load(document))

    artifact = runtime.loads(data)
    gc.collect()
    print_lookups(bench_lookup(artifact, body, args.profiles, args.reps, args.seed), args)

    print("\nimport (python -X importtime, median of 7)")
    cached = importtime_ms("import cpcompile.runtime", cached=True)
    uncached = importtime_ms("import cpcompile.runtime", cached=False)
    first_load = importtime_ms("import cpcompile.runtime, json, hashlib", cached=True)
    print(f"  import cpcompile.runtime              {cached:6.1f} ms  (target <= 15)")
    print(f"  same, no bytecode cache               {uncached:6.1f} ms")
    print(f"  + json, hashlib (paid by first load)  {first_load:6.1f} ms")
    print(f"\ntotal benchmark time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
