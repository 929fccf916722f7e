"""Load benchmark of `cpcompile serve` on loopback, driven by wrk.

    python benchmarks/serve_bench.py [--size m] [--duration 5] [--connections 32] [--swaps 100]

Builds a generated config tree (benchmarks/generate.py), imports 1,000 profiles, starts
`cpcompile serve` (one Granian worker) and drives it with wrk (one thread) on the same machine;
it prints requests/s and
p50/p99 latency of:

* ``GET /livez``: the floor, the same server's constant answer (routing, headers, the HTTP
  stack: everything but the work);
* ``POST /livez`` with the lookup's body: the POST floor, answered 405 once the body is read
  (what receiving a request body costs this server, before any work);
* ``POST /v1/lookup``: a sparse profile of 3 memberships on a datastream with destinations;
* ``POST /ee/v1/interact``: the Web SDK request, the visitor taken from its identity cookie
  (one of the 1,000 imported profiles, chosen at random per request), a profile read from
  SQLite, identity and cluster cookies in the answer.

Each route is printed as a ratio to the floor measured in the same run. Targets (2 cores):
lookup >= 15,000/s and >= 0.8 of the floor; interact >= 8,000/s.

A second run (``--swaps``) rewrites the artifact file 100 times during a lookup run (the
server polls every 50 ms) and counts non-2xx answers and socket errors: the target is zero.
If uvicorn is installed, the same application under uvicorn (httptools, uvloop) is measured
on the floor and lookup routes too: the figures that chose Granian.

``--granian "OPTIONS"`` (repeatable, e.g. ``--granian "--task-impl rust"``) compares Granian
settings instead: `cpcompile serve` as shipped and the same application under
``python -m granian --interface asgi OPTIONS`` (and under uvicorn with ``--uvicorn``), started
in turn for ``--rounds`` rounds, each measured in three cycles of the GET floor, the POST floor,
lookups and interact requests; the ratios are taken within one cycle, so a machine shared with other work moves
them less than the requests/s. Medians over all cycles are printed, with the ranges, and the
server's CPU time per request, which moves less still.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
ORG = "BENCH000000@AdobeOrg"
# The lookup's request (its body included) sent to a GET-only route: the server reads the body
# and answers 405 at once, so this is the floor's cost plus what receiving a POST body costs.
POST_FLOOR = "POST floor  POST /livez (405)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="m", choices=["s", "m", "l", "xl"])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--swaps", type=int, default=100)
    parser.add_argument("--granian", action="append", default=[], metavar="OPTIONS",
                        help="compare these Granian command-line options with the shipped settings (repeatable)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the --granian comparison")
    parser.add_argument("--uvicorn", action="store_true", help="compare the same application under uvicorn with the shipped settings (and any --granian)")
    parser.add_argument("--profiles", choices=["sqlite", "redis"], default="sqlite",
                        help="redis: also measure the interact route with a Redis store, with one and two replicas")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("serve_bench: wrk is not installed (Debian: apt-get install wrk)")
    with tempfile.TemporaryDirectory(prefix="cpcompile-serve-bench-") as tmp:
        work = Path(tmp)
        artifact, datastream, audiences = build_artifact(work, args.size)
        ecids = import_profiles(work, audiences)
        scripts = write_scripts(work, datastream, audiences, ecids)
        print(f"serve_bench: size {args.size}, {args.connections} connections, {args.duration:g} s a route, "
              f"server and wrk sharing {os.cpu_count()} CPUs", flush=True)
        if args.granian or args.uvicorn:
            compare_granian(work, artifact, scripts, args)
            return
        results = {}
        shipped = server(work, artifact, "granian")
        with shipped as base:
            for name, path, script in [("floor  GET /livez", "/livez", None),
                                       (POST_FLOOR, "/livez", scripts["lookup"]),
                                       ("lookup POST /v1/lookup", "/v1/lookup", scripts["lookup"]),
                                       ("interact POST /ee/v1/interact", "/ee/v1/interact", scripts["interact"])]:
                results[name] = shipped.measure(base + path, script, args.duration, args.connections)
        floor = results["floor  GET /livez"]
        # The server's CPU time per request (all its threads) moves less than requests/s when
        # other work shares the machine; while the server is CPU-bound, the floor's CPU time
        # over a route's is what that route's requests/s ratio tends to.
        print(f"{'route':34} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'vs floor':>9} {'CPU us':>7} {'by CPU':>7}")
        for name, r in results.items():
            print(f"{name:34} {r['rps']:9.0f} {r['p50']:8.2f} {r['p99']:8.2f} {r['rps'] / floor['rps']:9.2f} "
                  f"{r['cpu_us']:7.1f} {floor['cpu_us'] / r['cpu_us']:7.2f}")
        lookup = results["lookup POST /v1/lookup"]
        interact = results["interact POST /ee/v1/interact"]
        post_floor = results[POST_FLOOR]
        print(f"reading a POST body: the POST floor is {post_floor['rps'] / floor['rps']:.2f} of the GET floor; "
              f"lookups are {lookup['rps'] / post_floor['rps']:.2f} of the POST floor")
        print(f"targets: lookup >= 15000/s: {lookup['rps']:.0f} {'ok' if lookup['rps'] >= 15000 else 'MISSED'}; "
              f"lookup >= 0.8 x floor: {lookup['rps'] / floor['rps']:.2f} {'ok' if lookup['rps'] >= 0.8 * floor['rps'] else 'MISSED'}; "
              f"interact >= 8000/s: {interact['rps']:.0f} {'ok' if interact['rps'] >= 8000 else 'MISSED'}")
        if args.swaps:
            swap_run(work, artifact, scripts["lookup"], args)
        if args.profiles == "redis":
            redis_runs(work, artifact, scripts["interact"], interact, args)
        if _has("uvicorn"):
            with server(work, artifact, "uvicorn") as base:
                uv_floor = wrk(base + "/livez", None, args.duration, args.connections)
                uv_lookup = wrk(base + "/v1/lookup", scripts["lookup"], args.duration, args.connections)
            print(f"stack: uvicorn floor {uv_floor['rps']:.0f}/s, lookup {uv_lookup['rps']:.0f}/s; "
                  f"Granian is {floor['rps'] / uv_floor['rps']:.2f} x uvicorn on the floor, "
                  f"{lookup['rps'] / uv_lookup['rps']:.2f} x on lookups")


def build_artifact(work: Path, size: str) -> tuple[Path, str, list[str]]:
    tree = work / "config"
    subprocess.run([sys.executable, str(HERE / "generate.py"), "--size", size, str(tree)], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([sys.executable, "-m", "cpcompile", "build", str(tree), "--out", str(work / "build"), "--no-cache"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    artifact = work / "artifact.json"
    shutil.copy(work / "build" / "artifact.json", artifact)
    body = json.loads(artifact.read_bytes())["body"]["datastreams"]
    # the datastream with the most destinations, and three of its audiences
    datastream = max(body, key=lambda d: len(body[d]["destinations"]))
    audiences = sorted(body[datastream]["audiences"])
    return artifact, datastream, audiences


def import_profiles(work: Path, audiences: list[str]) -> list[str]:
    rng = random.Random(7)
    ecids = [f"{rng.randrange(10**37, 10**38)}" for _ in range(1000)]
    lines = [json.dumps({"namespace": "ECID", "id": e, "memberships": rng.sample(audiences, min(3, len(audiences)))}) for e in ecids]
    (work / "profiles.jsonl").write_text("\n".join(lines) + "\n")
    subprocess.run([sys.executable, "-m", "cpcompile", "profiles", "import", str(work / "profiles.jsonl"),
                    "--profiles", str(work / "profiles.sqlite3")], check=True, stdout=subprocess.DEVNULL)
    return ecids


def write_scripts(work: Path, datastream: str, audiences: list[str], ecids: list[str]) -> dict[str, Path]:
    from cpcompile.serve.identity import cookie_prefix, encode_identity_cookie

    lookup_body = json.dumps({"datastream": datastream, "memberships": audiences[:3]})
    lookup = work / "lookup.lua"
    lookup.write_text(f'wrk.method = "POST"\nwrk.body = {_lua(lookup_body)}\nwrk.headers["Content-Type"] = "application/json"\n')
    event = {"events": [{"xdm": {"eventType": "web.webpagedetails.pageViews",
                                 "web": {"webPageDetails": {"URL": "https://www.example.com/", "name": "home"}}}}],
             "query": {"identity": {"fetch": ["ECID"]}}, "meta": {"state": {"domain": "example.com", "cookiesEnabled": True}}}
    name = cookie_prefix(ORG) + "identity"
    cookies = ",\n".join(_lua(f"{name}={encode_identity_cookie(e)}") for e in ecids)
    interact = work / "interact.lua"
    interact.write_text(
        f'local cookies = {{\n{cookies}\n}}\nlocal body = {_lua(json.dumps(event))}\n'
        f'local path = "/ee/v1/interact?configId={datastream}&requestId=bench"\n'
        # requests are formatted once: formatting one per request costs wrk more than the server
        'local requests = {}\n'
        'for i, cookie in ipairs(cookies) do\n'
        '  requests[i] = wrk.format("POST", path, {["Content-Type"] = "text/plain; charset=UTF-8", ["Cookie"] = cookie}, body)\n'
        'end\n'
        'local n = 0\n'
        'request = function()\n'
        '  n = n % #requests + 1\n'
        '  return requests[n]\n'
        'end\n'
    )
    return {"lookup": lookup, "interact": interact}


def _lua(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def compare_granian(work: Path, artifact: Path, scripts: dict[str, Path], args: argparse.Namespace) -> None:
    """Granian settings side by side. Each round starts every configuration in turn; each server
    is measured in three cycles of GET floor, POST floor and lookups, and each ratio is taken
    within one cycle, seconds apart, so that other work on the machine moves it less."""
    import statistics

    configs: dict[str, tuple[str, list[str]]] = {"cpcompile serve": ("granian", [])}
    configs.update({options: ("granian-cli", options.split()) for options in args.granian})
    if args.uvicorn:
        configs["uvicorn (httptools, uvloop)"] = ("uvicorn", [])
    routes = {"GET floor": ("/livez", None), "POST floor": ("/livez", scripts["lookup"]), "lookup": ("/v1/lookup", scripts["lookup"]),
              "interact": ("/ee/v1/interact", scripts["interact"])}
    cycles: dict[str, list[dict[str, dict[str, float]]]] = {name: [] for name in configs}
    for round_ in range(args.rounds):
        for name, (stack, options) in configs.items():
            one = server(work, artifact, stack, granian_options=options)
            with one as base:
                for _ in range(3):
                    m = {route: one.measure(base + path, script, args.duration, args.connections) for route, (path, script) in routes.items()}
                    cycles[name].append(m)
                    print(f"round {round_ + 1} {name:34} " + " ".join(f"{r} {m[r]['rps']:6.0f}/s ({m[r]['cpu_us']:.0f} us CPU)" for r in routes)
                          + f"  lookup/GET {m['lookup']['rps'] / m['GET floor']['rps']:.2f}  POST/GET {m['POST floor']['rps'] / m['GET floor']['rps']:.2f}"
                          + f"  load {os.getloadavg()[0]:.1f}", flush=True)
    print(f"{'settings':34} {'GET floor/s':>12} {'POST floor/s':>12} {'lookup/s':>9} {'interact/s':>10} {'lookup/GET':>16} "
          f"{'POST/GET':>16} {'CPU us GET/POST/lookup/interact':>31} {'by CPU':>7}")

    def spread(values: list[float], digits: int) -> str:
        """the median and, in brackets, the range"""
        return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"

    for name, measured in cycles.items():
        rps = {r: [m[r]["rps"] for m in measured] for r in routes}
        lookup_ratio = [m["lookup"]["rps"] / m["GET floor"]["rps"] for m in measured]
        post_ratio = [m["POST floor"]["rps"] / m["GET floor"]["rps"] for m in measured]
        cpu = {r: statistics.median(m[r]["cpu_us"] for m in measured) for r in routes}
        cpus = "/".join(f"{cpu[r]:.0f}" for r in routes)
        median = {r: statistics.median(rps[r]) for r in routes}
        print(f"{name:34} {median['GET floor']:12.0f} {median['POST floor']:12.0f} {median['lookup']:9.0f} {median['interact']:10.0f} "
              f"{spread(lookup_ratio, 2):>16} {spread(post_ratio, 2):>16} {cpus:>31} {cpu['GET floor'] / cpu['lookup']:7.2f}")


class server:
    """`cpcompile serve` (or the same app under uvicorn, or under Granian's own command line
    with ``granian_options``) on a free port."""

    def __init__(self, work: Path, artifact: Path, stack: str, profiles: str | None = None,
                 granian_options: list[str] | None = None) -> None:
        self.work, self.artifact, self.stack = work, artifact, stack
        self.profiles = profiles or str(work / "profiles.sqlite3")
        self.granian_options = granian_options or []

    def __enter__(self) -> str:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        settings = ["--org-id", ORG, "--profiles", self.profiles, "--poll-interval", "0.05"]
        env = dict(os.environ)
        if self.stack == "granian":
            command = [sys.executable, "-m", "cpcompile", "serve", str(self.artifact), "--port", str(port), *settings]
        else:
            from cpcompile.serve.asgi import ENVIRONMENT, settings_to_environment
            from cpcompile.serve.settings import ServeSettings

            env[ENVIRONMENT] = settings_to_environment(ServeSettings(
                artifact=str(self.artifact), org_id=ORG, profiles=self.profiles, poll_interval=0.05))
            if self.stack == "granian-cli":
                command = [sys.executable, "-m", "granian", "--interface", "asgi", "--factory", "--port", str(port),
                           "--no-ws", "--log-level", "warning", *self.granian_options, "cpcompile.serve.asgi:from_environment"]
            else:
                command = [sys.executable, "-m", "uvicorn", "--factory", "cpcompile.serve.asgi:from_environment",
                           "--port", str(port), "--log-level", "warning", "--no-access-log", "--loop", "uvloop", "--http", "httptools"]
        self.process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(base + "/livez", timeout=1).read()
                return base
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"serve_bench: the {self.stack} server did not start")
                time.sleep(0.1)

    def measure(self, url: str, script: Path | None, duration: float, connections: int) -> dict[str, float]:
        """wrk's figures, and the server's CPU time per request in microseconds (``cpu_us``)."""
        before = self.cpu_seconds()
        result = wrk(url, script, duration, connections)
        result["cpu_us"] = (self.cpu_seconds() - before) / max(result["requests"], 1.0) * 1e6
        return result

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server and its worker processes so far."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        pids = [self.process.pid]
        while pids:
            pid = pids.pop()
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime
                for task in Path(f"/proc/{pid}/task").iterdir():
                    pids += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
        return total / ticks

    def __exit__(self, *exc: object) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def wrk(url: str, script: Path | None, duration: float, connections: int) -> dict[str, float]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{duration:g}s", "--latency", url]
    if script is not None:
        command[1:1] = ["-s", str(script)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return parse_wrk(out)


def parse_wrk(out: str) -> dict[str, float]:
    def latency(label: str) -> float:
        m = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not m:
            return float("nan")
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    total = re.search(r"(\d+) requests in", out)
    return {
        "rps": rps, "p50": latency("50"), "p99": latency("99"),
        "non_2xx": float(non_2xx.group(1)) if non_2xx else 0.0,
        "socket_errors": float(sum(int(g) for g in errors.groups())) if errors else 0.0,
        "requests": float(total.group(1)) if total else 0.0,
    }


def swap_run(work: Path, artifact: Path, script: Path, args: argparse.Namespace) -> None:
    """Rewrite the artifact ``args.swaps`` times under load; every answer must still be 2xx."""
    document = json.loads(artifact.read_bytes())
    variants = []
    from cpcompile.artifact_format.document import canonical_json, make_document

    for i in range(2):
        body = json.loads(json.dumps(document["body"]))
        for ds in body["datastreams"].values():
            for destination in ds["destinations"]:
                destination["alias"] = destination["alias"] + ("" if i == 0 else "B")
        variants.append(canonical_json(make_document(body)))
    swap_seconds = max(args.duration, args.swaps * 0.06)
    swapped = [0]

    def swapper() -> None:
        time.sleep(0.2)
        for i in range(args.swaps):
            tmp = artifact.with_suffix(".tmp")
            tmp.write_bytes(variants[i % 2])
            os.replace(tmp, artifact)
            swapped[0] += 1
            time.sleep((swap_seconds - 0.5) / args.swaps)

    with server(work, artifact, "granian") as base:
        thread = threading.Thread(target=swapper)
        thread.start()
        result = wrk(base + "/v1/lookup", script, swap_seconds, args.connections)
        thread.join()
        health = json.loads(urllib.request.urlopen(base + "/healthz").read())
    print(f"swaps: {swapped[0]} artifact rewrites under load, {health['reloads']} reloads seen, "
          f"{result['requests']:.0f} requests, {result['non_2xx']:.0f} non-2xx, {result['socket_errors']:.0f} socket errors "
          f"({'ok' if result['non_2xx'] == 0 and result['socket_errors'] == 0 else 'FAILED'})")


def redis_runs(work: Path, artifact: Path, script: Path, embedded: dict[str, float], args: argparse.Namespace) -> None:
    """The interact route with the profiles in Redis, one replica and two; wrk's own CPU time
    is printed, so a client that saturates its core shows."""
    sys.path.insert(0, str(REPO / "tests"))
    from redis_server import RedisServer  # the test suite's real redis-server fixture

    redis = RedisServer(work).start()
    try:
        subprocess.run([sys.executable, "-m", "cpcompile", "profiles", "import", str(work / "profiles.jsonl"),
                        "--profiles", redis.url], check=True, stdout=subprocess.DEVNULL)
        # latency: one connection, so p50 is the time of one request, not a queue
        with server(work, artifact, "granian") as base:
            quiet_sqlite = wrk(base + "/ee/v1/interact", script, args.duration, 1)
        with server(work, artifact, "granian", redis.url) as base:
            quiet_redis = wrk(base + "/ee/v1/interact", script, args.duration, 1)
        one_server = server(work, artifact, "granian", redis.url)
        with one_server as base:
            cpu_before = one_server.cpu_seconds()
            one = wrk(base + "/ee/v1/interact", script, args.duration, args.connections)
            one_cpu = one_server.cpu_seconds() - cpu_before
        pair = [server(work, artifact, "granian", redis.url), server(work, artifact, "granian", redis.url)]
        with pair[0] as a, pair[1] as b:
            cpu_before = sum(p.cpu_seconds() for p in pair)
            results: list[dict[str, float]] = []
            threads = [threading.Thread(target=lambda u=u: results.append(wrk(u + "/ee/v1/interact", script, args.duration, args.connections // 2)))
                       for u in (a, b)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            two_cpu = sum(p.cpu_seconds() for p in pair) - cpu_before
    finally:
        redis.stop()
    two = sum(r["rps"] for r in results)
    # Capacity: requests answered per second of server CPU. When it holds from one replica to
    # two, N replicas on N free cores answer N times as much; the wall-clock ratio on this
    # machine only shows that wrk, redis-server and the servers share two cores.
    per_cpu_one = one["requests"] / one_cpu if one_cpu else float("nan")
    per_cpu_two = sum(r["requests"] for r in results) / two_cpu if two_cpu else float("nan")
    print(f"redis: interact {one['rps']:.0f}/s (SQLite {embedded['rps']:.0f}/s), p99 {one['p99']:.2f} ms; one connection: "
          f"p50 {quiet_redis['p50']:.3f} ms vs SQLite {quiet_sqlite['p50']:.3f} ms: Redis adds "
          f"{quiet_redis['p50'] - quiet_sqlite['p50']:+.3f} ms to p50 (target <= 0.3)")
    print(f"replicas: two {two:.0f}/s vs one {one['rps']:.0f}/s = {two / one['rps']:.2f} x wall clock, with wrk, "
          f"redis-server and the servers sharing {os.cpu_count()} CPUs; capacity per server CPU-second: one replica "
          f"{per_cpu_one:.0f}, two {per_cpu_two:.0f} requests = {per_cpu_two / per_cpu_one:.2f} of linear "
          f"(two replicas on two free cores: {2 * per_cpu_two / per_cpu_one:.2f} x; target >= 1.6)")


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


if __name__ == "__main__":
    main()
