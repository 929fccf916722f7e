"""The Redis profile store's read path, with and without hiredis, against a real redis-server.

    python benchmarks/redis_store_bench.py [--profiles 10000] [--reads 20000]

Imports ``--profiles`` profiles (3 memberships each) into a redis-server started on a free
loopback port, then times ``RedisProfileStore.get`` for random identities, one at a time (the
service's pattern: one GET per request), with redis-py's pure-Python RESP parser and with the
hiredis parser, alternating rounds so both see the same machine. The floor is a bare
``redis.get`` of the same keys with the same client (no JSON decoding, no Profile), so the
ratio shows what the store adds to the round trip itself.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))


async def _time_reads(store, keys, identities, bare: bool) -> float:
    started = time.perf_counter()
    if bare:
        client = store._client
        for key in keys:
            await client.get(key)
    else:
        for identity in identities:
            await store.get(identity)
    return (time.perf_counter() - started) / len(keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=10_000)
    parser.add_argument("--reads", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from redis.asyncio.connection import _AsyncHiredisParser, _AsyncRESP2Parser

    from cpcompile.serve.identity import Identity
    from cpcompile.serve.redis_store import RedisProfileStore, profile_key
    from cpcompile.serve.store import profile_from_json
    from redis_server import RedisServer

    rng = random.Random(3)
    audiences = [f"{i:08x}-0000-4000-8000-000000000000" for i in range(500)]
    identities = [Identity("ECID", f"{i:038d}") for i in range(args.profiles)]
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp)).start()
        try:
            async def run() -> None:
                writer = RedisProfileStore(server.url, timeout=10)
                await writer.put_many((i, profile_from_json({"memberships": rng.sample(audiences, 3)})) for i in identities)
                await writer.close()
                picks = [rng.choice(identities) for _ in range(args.reads)]
                keys = [profile_key(i) for i in picks]
                results: dict[str, list[float]] = {}
                for _ in range(args.rounds):
                    for name, parser_class in (("pure-Python parser", _AsyncRESP2Parser), ("hiredis parser", _AsyncHiredisParser)):
                        store = RedisProfileStore(server.url, timeout=1, parser_class=parser_class)
                        await store.get(picks[0])  # connect
                        results.setdefault(name, []).append(await _time_reads(store, keys, picks, bare=False))
                        results.setdefault(name + " bare GET", []).append(await _time_reads(store, keys, picks, bare=True))
                        await store.close()
                print(f"redis_store_bench: {args.profiles} profiles, {args.reads} reads a round, best of {args.rounds} rounds")
                for name in ("pure-Python parser", "hiredis parser"):
                    get, bare = min(results[name]), min(results[name + " bare GET"])
                    print(f"  {name:20} get {get * 1e6:7.1f} us   bare GET {bare * 1e6:7.1f} us   ratio {get / bare:5.2f}")
                pure, fast = min(results["pure-Python parser"]), min(results["hiredis parser"])
                print(f"  hiredis saves {(pure - fast) * 1e6:.1f} us a read ({pure / fast:.2f} x)")

            asyncio.run(run())
        finally:
            server.stop()


if __name__ == "__main__":
    main()
