"""The validation daemon: a process that has imported everything ``cpcompile validate`` needs and
forks a worker for each validation (or ``test``, ``fmt``) handed to it (daemon_client.py).

The worker takes the client's standard streams (passed over the Unix socket), working directory,
environment and umask, and runs the command line exactly as the client would have, so its
output and exit status are the client's own. Each runs in a fresh fork, so nothing one
validation does is seen by the next. The daemon listens in a private folder (0700, the user's
own), answers only its own user (SO_PEERCRED), serves those three commands alone, and exits after
``idle_seconds`` without a request.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any, NoReturn

from .daemon_client import GO, INT_SIZE, MAX_REQUEST, PROTOCOL, pack_int, peer_uid, unpack_int
from .daemon_control import IDLE_SECONDS, PING, STOP, DaemonError, private_folder
from .launch import DAEMON_COMMANDS


REFUSED = pack_int(0)


def serve(path: Path, idle_seconds: float) -> None:
    """Listen at ``path`` until ``idle_seconds`` pass without a request, or a stop request."""
    private_folder(path.parent)
    lock = open(path.with_name(path.name + ".lock"), "a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # another daemon of this code holds the address
        lock.close()
        return
    _preload()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    bound = None
    try:
        path.unlink(missing_ok=True)  # a dead daemon's: the lock says none is alive
        listener.bind(str(path))
        bound = os.stat(path).st_ino
        listener.listen(16)
        listener.settimeout(idle_seconds)
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the workers
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        while True:
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                return
            with conn:
                if _handle(conn, listener, lock) == STOP:
                    return
    finally:
        try:
            if os.stat(path).st_ino == bound:  # still ours, not a successor's
                path.unlink()
        except OSError:
            pass
        listener.close()
        lock.close()


def _preload() -> None:
    """Import what a validation uses, so that no worker pays for it."""
    from . import (  # noqa: F401
        cli, fmt, incremental, model, quick, render, schema_problems, spec, spec_run, validate_cache, yamlsrc,
    )

    yamlsrc.parse("a: 1\n")
    quick.check_quickly("Datastream", None)  # reads and compiles its table; declines None


def _handle(conn: socket.socket, listener: socket.socket, lock: Any) -> str | None:
    conn.settimeout(5)
    try:
        request = _request(conn, conn.recv(MAX_REQUEST + INT_SIZE)) if peer_uid(conn) == os.getuid() else None
        if not isinstance(request, dict) or request.get("protocol") != PROTOCOL:
            conn.sendall(REFUSED)
            return None
        if request.get(PING) or request.get(STOP):
            conn.sendall(pack_int(os.getpid()))
            return STOP if request.get(STOP) else None
        job = _job(request)
        if job is None:
            conn.sendall(REFUSED)
            return None
        if os.fork() == 0:
            _work(conn, listener, lock, job)
        return None
    except OSError:
        return None


def _request(conn: socket.socket, first: bytes) -> Any:
    if len(first) < INT_SIZE:
        return None
    size = unpack_int(first)  # send_request's length prefix
    if not 0 <= size <= MAX_REQUEST:
        return None
    data = first[INT_SIZE:]
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    try:
        return json.loads(data.decode("utf-8", "surrogateescape"))
    except ValueError:
        return None


def _job(request: dict[str, Any]) -> dict[str, Any] | None:
    """The request, if it is a validation with everything a worker needs."""
    args, env, streams = request.get("args"), request.get("env"), request.get("streams")
    ok = (
        isinstance(args, list) and args[:1] and args[0] in DAEMON_COMMANDS and all(isinstance(a, str) for a in args)
        and isinstance(request.get("cwd"), str)
        and isinstance(env, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in env.items())
        and type(request.get("umask")) is int
        and isinstance(streams, list) and len(streams) == 2
        and all(isinstance(s, list) and len(s) == 2 and all(isinstance(x, str) for x in s) for s in streams)
    )
    return request if ok else None


def _work(conn: socket.socket, listener: socket.socket, lock: Any, job: dict[str, Any]) -> NoReturn:
    """In the forked worker: become the client's process, run the command line, report its status."""
    status = 3
    try:
        listener.close()
        lock.close()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        # a Ctrl-C passed on before the command line runs waits for it (see below)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        conn.sendall(pack_int(os.getpid()))
        go, fds, _, _ = socket.recv_fds(conn, 1, 3)
        if go != GO or len(fds) != 3:  # the client gave up waiting and validates by itself
            os._exit(0)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        for fd in set(fds) - {0, 1, 2}:
            os.close(fd)
        os.chdir(job["cwd"])
        os.umask(job["umask"])
        os.environ.clear()
        os.environ.update(job["env"])
        sys.stdout, sys.stderr = (
            io.TextIOWrapper(
                io.BufferedWriter(io.FileIO(fd, "w", closefd=False)), encoding=encoding, errors=errors,
                line_buffering=os.isatty(fd),
            )
            for fd, (encoding, errors) in zip((1, 2), job["streams"])
        )
        sys.argv = ["cpcompile", *job["args"]]
        from .cli import main

        try:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
            main()
            status = 0
        except SystemExit as done:
            status = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        except KeyboardInterrupt:  # before the command line took over: what it says to Ctrl-C
            print("\nAborted!", file=sys.stderr)
            status = 1
        sys.stdout.flush()
        sys.stderr.flush()
        conn.sendall(pack_int(status))
    except BaseException:  # noqa: BLE001 - whatever happens, the worker must end here
        pass
    os._exit(status)


def main(argv: list[str]) -> None:
    """``python -m cpcompile.daemon SOCKET [IDLE_SECONDS]``, as ``start`` runs it."""
    try:
        serve(Path(argv[0]), float(argv[1]) if len(argv) > 1 else IDLE_SECONDS)
    except DaemonError as err:
        print(f"cpcompile daemon: {err}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main(sys.argv[1:])
