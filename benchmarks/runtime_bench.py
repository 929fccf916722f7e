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
  ``lookup``, each profile after one untimed call of each (what lookups keep of a datastream
  and an audience on first use is then in place, and both sides start with warm CPU caches).
  It only finds which destinations the profile hits: no windows, no namespaces, no grouping
  or sorting, no payload objects. ``lookup`` (new objects every call) and ``lookup_shared``
  (read-only segments shared between answers) are each measured against it; targets: p50 <=
  1.2x the floor for the uniform (sparse) mix, <= 2.5x for the dense mix.
* ``loads(data)`` vs ``json.loads(data)`` of the same bytes, with the same collector
  treatment: ``loads`` pauses the collector while it works and then moves the new objects to
  the oldest generation (``settle``), so the floor does the same around ``json.loads``.
  Target <= 1.0x. ``loads`` proves the audiences on the bytes and decodes each datastream's on
  its first lookup, so two more lines say what that leaves: ``loads`` followed by one lookup
  on every datastream (everything decoded), and the general path (decode everything, then
  check: what a file the proof cannot take costs). The collector as an application leaves it
  is printed too, for scale. msgpack: ``loads`` of ``artifact.msgpack`` vs of ``artifact.json``
  (target <= 0.6x), and ``msgpack.unpackb`` as its own floor.
* ``python -X importtime -c "import cpcompile.runtime"``: total for the import, with bytecode
  cached (the deployed case; the repo sets PYTHONDONTWRITEBYTECODE, so a temporary
  PYTHONPYCACHEPREFIX is used) and without. Target <= 15 ms.
"""

from __future__ import annotations

import argparse
import gc
import gc as _gc
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
from cpcompile.artifact_format.document import (  # noqa: E402
    canonical_json,
    json_body_bytes,
    make_document,
    read_document,
    revision_of_body_bytes,
)
from cpcompile.runtime._lazy import verify_lazily  # noqa: E402
from cpcompile.runtime._gc import settle  # noqa: E402

WINDOW = (1764547200, 1769904000)  # 2025-12-01 .. 2026-02-01
LOAD_TARGET = 1.0  # runtime.loads / json.loads of the same bytes, same GC treatment
MSGPACK_TARGET = 0.6  # runtime.loads of artifact.msgpack / of artifact.json
SPARSE_TARGET = 1.2  # lookup p50 / floor p50, uniform mix
DENSE_TARGET = 2.5  # lookup p50 / floor p50, dense mix


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


def median_ms(action: Callable[[], object], runs: int, gc: bool = True) -> float:
    """Median CPU ms of ``runs`` calls, each after a full collection; ``gc=False`` runs them
    with the collector paused (for a step that ``runtime.loads`` runs paused)."""
    times = []
    for _ in range(runs):
        _gc.collect()
        if not gc:
            _gc.disable()
        start = time.process_time()
        result = action()
        times.append(time.process_time() - start)
        _gc.enable()
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


def bench_load(data: bytes, packed: bytes | None, runs: int) -> dict[str, float]:
    """``runtime.loads`` and its floors, each in the same GC treatment: the collector paused
    while decoding, then ``settle()``, what ``runtime.loads`` does after decoding."""

    def paused(decode: Callable[[], object]) -> Callable[[], object]:
        def run() -> object:
            gc.disable()
            try:
                result = decode()
            finally:
                gc.enable()
            settle()
            return result

        return run

    runtime.loads(data)  # warm up: first-use imports (json, hashlib, re)
    proven = verify_lazily(data, None, None)
    assert proven is not None, "the artifact is not canonical"
    document = read_document(data)
    body_bytes = json_body_bytes(data, document)

    def loads_then_every_datastream() -> object:
        artifact = runtime.loads(data)
        for datastream_id in artifact.datastream_ids:
            artifact.lookup(datastream_id, ())  # decodes its audiences
        return artifact

    figures = {
        "loads": median_ms(lambda: runtime.loads(data), runs),
        "floor": median_ms(paused(lambda: json.loads(data)), runs),
        "json.loads, collector on": median_ms(lambda: json.loads(data), runs),
        # the steps, each with the collector paused as in runtime.loads
        "proof": median_ms(lambda: verify_lazily(data, None, None), runs, gc=False),
        "revision": median_ms(lambda: revision_of_body_bytes(body_bytes), runs, gc=False),
        "index": median_ms(lambda: runtime.Artifact(*proven), runs, gc=False),
        "general": median_ms(paused(lambda: runtime.Artifact(read_document(data))), runs),
        "every datastream": median_ms(loads_then_every_datastream, runs),
    }
    if packed is not None:
        import msgpack

        runtime.loads(packed, encoding="msgpack")
        figures["msgpack floor"] = median_ms(
            paused(lambda: msgpack.unpackb(packed, raw=False, strict_map_key=True)), runs
        )
        figures["loads msgpack"] = median_ms(lambda: runtime.loads(packed, encoding="msgpack"), runs)
    return figures


def msgpack_bytes(data: bytes) -> bytes | None:
    try:
        from cpcompile.artifact_format.encode import encode_msgpack
    except ImportError:
        return None
    return encode_msgpack(data)


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
    lookup_shared = artifact.lookup_shared
    lookup_bytes = artifact.lookup_bytes

    def dumps(answer: object) -> bytes:
        return json.dumps(answer, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def lookup_then_dumps(ds: str, profile: list[str]) -> bytes:
        return dumps(lookup(ds, profile))

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
        ours, theirs, shared, as_map, upper, hits = [], [], [], [], [], []
        encoded, encoded_floor, dumps_only = [], [], []
        for _ in range(profiles):
            ds = rng.choice(datastreams)
            profile = make(ds)
            membership_map = {"ups": {a: {"status": "realized"} for a in profile}}
            # one untimed call of each first: what a lookup keeps of a datastream and an
            # audience on first use is then in place, as in a service that has been answering
            # for a while, and every side finds the profile's entries in the CPU caches alike
            upper_profile = [a.upper() for a in profile]
            lookup(ds, membership_map)
            lookup(ds, upper_profile)
            lookup_bytes(ds, profile)
            lookup(ds, profile)
            lookup_shared(ds, profile)
            floor(ds, profile)
            # interleaved, so that noise from other processes hits both alike
            ours.append(per_call_us(lookup, ds, profile, reps))
            theirs.append(per_call_us(floor, ds, profile, reps))
            shared.append(per_call_us(lookup_shared, ds, profile, reps))
            as_map.append(per_call_us(lookup, ds, membership_map, reps))
            upper.append(per_call_us(lookup, ds, upper_profile, reps))
            encoded.append(per_call_us(lookup_bytes, ds, profile, reps))
            encoded_floor.append(per_call_us(lookup_then_dumps, ds, profile, reps))
            answer = lookup(ds, profile)
            dumps_only.append(per_call_us(lambda _ds, _p: dumps(answer), ds, profile, reps))
            hits.append(sum(len(item["segments"]) for item in answer))
        results[mix] = {
            "p50": percentile(ours, 50),
            "p99": percentile(ours, 99),
            "floor p50": percentile(theirs, 50),
            "floor p99": percentile(theirs, 99),
            "shared p50": percentile(shared, 50),
            "shared p99": percentile(shared, 99),
            "map p50": percentile(as_map, 50),
            "upper p50": percentile(upper, 50),
            "segments": statistics.mean(hits),
            "bytes p50": percentile(encoded, 50),
            "bytes p99": percentile(encoded, 99),
            "lookup+dumps p50": percentile(encoded_floor, 50),
            "dumps p50": percentile(dumps_only, 50),
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


def print_load(load: dict[str, float], runs: int) -> None:
    floor = load["floor"]
    print(f"\nload (CPU ms, median of {runs}; x: ratio to the floor of the same encoding)")
    print(f"  {'floor: json.loads, same GC treatment':44s} {floor:7.1f}   x 1.00")
    ratio = load["loads"] / floor
    verdict = "ok" if ratio <= LOAD_TARGET else "over"
    print(f"  {'runtime.loads (JSON)':44s} {load['loads']:7.1f}   x {ratio:.2f}  target <= {LOAD_TARGET}: {verdict}")
    for step, what in (
        ("proof", "canonical form and shape on the bytes, the rest decoded; with the revision"),
        ("revision", "sha256 of the body's bytes"),
        ("index", "index of everything but the audiences"),
    ):
        print(f"  {'  of which ' + step:44s} {load[step]:7.1f}   x {load[step] / floor:.2f}  ({what})")
    every = load["every datastream"]
    print(
        f"  {'loads, then one lookup on every datastream':44s} {every:7.1f}   x {every / floor:.2f}"
        "  (each decodes its audiences: the cost of the whole file)"
    )
    general = load["general"]
    print(
        f"  {'general path: read_document + Artifact':44s} {general:7.1f}   x {general / floor:.2f}"
        "  (decode all, check; what a file the proof cannot take costs)"
    )
    on = load["json.loads, collector on"]
    print(f"  {'json.loads, collector as by default':44s} {on:7.1f}   (runtime.loads / it: {load['loads'] / on:.2f})")
    if "loads msgpack" in load:
        mfloor = load["msgpack floor"]
        print(f"  {'floor: msgpack.unpackb, same GC treatment':44s} {mfloor:7.1f}   x 1.00")
        ratio = load["loads msgpack"] / load["loads"]
        verdict = "ok" if ratio <= MSGPACK_TARGET else "over"
        print(
            f"  {'runtime.loads (msgpack)':44s} {load['loads msgpack']:7.1f}   x {load['loads msgpack'] / mfloor:.2f}"
            f"; / JSON load {ratio:.2f}  target <= {MSGPACK_TARGET}: {verdict}"
        )
    else:
        print("  msgpack: skipped (the msgpack package is not installed)")


def print_lookups(lookups: dict[str, dict[str, float]], args: argparse.Namespace) -> None:
    print(
        f"\nlookup, 50-membership profiles ({args.profiles} per mix, {args.reps} calls each, "
        "CPU µs per call)"
    )
    targets = {"uniform": SPARSE_TARGET, "dense": DENSE_TARGET}
    for mix, r in lookups.items():
        ratio = r["p50"] / r["floor p50"]
        verdict = "ok" if ratio <= targets[mix] else "over"
        print(
            f"  {mix:8s} lookup p50 {r['p50']:6.2f} p99 {r['p99']:6.2f}"
            f" | floor p50 {r['floor p50']:6.2f} p99 {r['floor p99']:6.2f}"
            f" | ratio p50 {ratio:.2f} (target <= {targets[mix]}: {verdict}) p99 {r['p99'] / r['floor p99']:.2f}"
            f" | {r['segments']:.1f} segments/answer"
        )
        ratio = r["shared p50"] / r["floor p50"]
        verdict = "ok" if ratio <= targets[mix] else "over"
        print(
            f"  {'':8s} lookup_shared p50 {r['shared p50']:6.2f} p99 {r['shared p99']:6.2f}"
            f" | ratio p50 {ratio:.2f} (target <= {targets[mix]}: {verdict}) p99 {r['shared p99'] / r['floor p99']:.2f}"
            "  (segments shared, read-only)"
        )
        print(
            f"  {'':8s} as segmentMembership map p50 {r['map p50']:6.2f}"
            f" | IDs in upper case p50 {r['upper p50']:6.2f}"
        )
        print(
            f"  {'':8s} lookup_bytes p50 {r['bytes p50']:6.2f} p99 {r['bytes p99']:6.2f}"
            f" | json.dumps(lookup(...)) p50 {r['lookup+dumps p50']:6.2f}"
            f" (ratio {r['bytes p50'] / r['lookup+dumps p50']:.2f})"
            f" | json.dumps of the answer alone p50 {r['dumps p50']:6.2f}"
            f" | lookup_bytes / floor {r['bytes p50'] / r['floor p50']:.2f}"
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

    load = bench_load(data, msgpack_bytes(data), args.load_runs)
    print_load(load, args.load_runs)

    artifact = runtime.loads(data)
    gc.collect()
    print_lookups(bench_lookup(artifact, body, args.profiles, args.reps, args.seed), args)

    print("\nimport (python -X importtime, median of 7)")
    cached = importtime_ms("import cpcompile.runtime", cached=True)
    uncached = importtime_ms("import cpcompile.runtime", cached=False)
    first_load = importtime_ms("import cpcompile.runtime, json, hashlib, re", cached=True)
    print(f"  import cpcompile.runtime              {cached:6.1f} ms  (target <= 15)")
    print(f"  same, no bytecode cache               {uncached:6.1f} ms")
    print(f"  + json, hashlib, re (first load)      {first_load:6.1f} ms")
    print(f"\ntotal benchmark time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
