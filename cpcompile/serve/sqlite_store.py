"""The embedded profile store: one SQLite file in WAL mode, zero set-up."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Iterable

import orjson

from .identity import Identity
from .store import Profile, StoreUnavailable

_SCHEMA = """
CREATE TABLE IF NOT EXISTS profiles (
    namespace TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (namespace, id)
) WITHOUT ROWID
"""


class SqliteProfileStore:
    """Readers never wait for writers (WAL); one connection, guarded by a lock for writes."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=5.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(_SCHEMA)
        except sqlite3.Error as err:
            raise StoreUnavailable(f"cannot open the profile store {self.path}: {err}") from err
        self._lock = threading.Lock()

    async def get(self, identity: Identity) -> Profile | None:
        return self.get_now(identity)

    def get_now(self, identity: Identity) -> Profile | None:
        try:
            row = self._db.execute(
                "SELECT body FROM profiles WHERE namespace = ? AND id = ?", (identity.namespace, identity.id)
            ).fetchone()
        except sqlite3.Error as err:
            raise StoreUnavailable(f"the profile store failed: {err}") from err
        if row is None:
            return None
        document = orjson.loads(row[0])
        return Profile(document["segmentMembership"], document.get("attributes"))

    async def put(self, identity: Identity, profile: Profile) -> None:
        self.put_many_now([(identity, profile)])

    async def put_many(self, profiles: Iterable[tuple[Identity, Profile]]) -> int:
        return self.put_many_now(profiles)

    def put_many_now(self, profiles: Iterable[tuple[Identity, Profile]]) -> int:
        rows = [(identity.namespace, identity.id, profile.to_json()) for identity, profile in profiles]
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany(
                    "INSERT INTO profiles (namespace, id, body) VALUES (?, ?, ?) "
                    "ON CONFLICT (namespace, id) DO UPDATE SET body = excluded.body",
                    rows,
                )
                self._db.execute("COMMIT")
            except sqlite3.Error as err:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise StoreUnavailable(f"the profile store failed: {err}") from err
        return len(rows)

    async def ready(self) -> bool:
        try:
            self._db.execute("SELECT 1").fetchone()
        except sqlite3.Error:
            return False
        return True

    async def close(self) -> None:
        self._db.close()
