"""Handing ``cpcompile validate`` (or ``test``, ``fmt``) to a running validation daemon
(daemon.py), if there is one.

Most of a small validation's time is starting up: importing the command line and the YAML
parser, and pydantic with the models when a file needs them (quick.py). A daemon started with
``cpcompile daemon start`` has done that once; each validation handed to it runs in a fork of
it, with this process's standard streams, working directory, environment and umask, so it
prints and exits exactly as it would have here.
This module runs before anything else is imported, so it uses the standard library only, and
whenever no daemon can take the validation it says so having printed nothing, and the command
runs here as usual.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import stat
import struct
import sys
from pathlib import Path
from typing import Any, Mapping

from .fingerprint import code_fingerprint

PROTOCOL = 1
MAX_REQUEST = 1 << 20
# a daemon forks a worker in milliseconds; one that takes longer is stopped or stuck
ANSWER_SECONDS = 3
GO = b"\x01"
_INT = struct.Struct("!i")
INT_SIZE = _INT.size


def runtime_dir(environ: Mapping[str, str]) -> Path:
    """$CPCOMPILE_DAEMON_DIR, else $XDG_RUNTIME_DIR/cpcompile, else $TMPDIR/cpcompile-<uid>."""
    explicit = environ.get("CPCOMPILE_DAEMON_DIR", "")
    if explicit:
        return Path(explicit)
    xdg = environ.get("XDG_RUNTIME_DIR", "")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "cpcompile"
    temp = environ.get("TMPDIR", "")
    return Path(temp if os.path.isabs(temp) else "/tmp") / f"cpcompile-{os.getuid()}"


def is_private(directory: Path) -> bool:
    """A folder of this user's that nobody else can enter: only then is a socket in it trusted
    to be a daemon of ours, and a request to it to come from us."""
    try:
        st = os.lstat(directory)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077


def address(environ: Mapping[str, str]) -> Path:
    """The socket of the daemon for this code: cpcompile's own files, this interpreter, the
    import path it is given (PYTHONPATH), and its site-packages folders (installing, upgrading or
    removing a package changes their mtimes), so a daemon never serves code other than the code
    that would run here. Only what the environment and the installation say counts, not this
    process's sys.path, which differs between a console script, ``python -m`` and ``-P``: a
    daemon's worker computes the same address as the client it serves."""
    import site

    search = environ.get("PYTHONPATH", "")
    interpreter = f"{os.path.realpath(sys.executable)}\0{sys.prefix}\0{sys.version}\0{search}"
    h = hashlib.sha256(f"{PROTOCOL}\0{code_fingerprint()}\0{interpreter}".encode("utf-8", "surrogateescape"))
    for folder in [*site.getsitepackages(), site.getusersitepackages()]:
        try:
            h.update(f"\0{folder}\0{os.stat(folder).st_mtime_ns}".encode("utf-8", "surrogateescape"))
        except OSError:
            continue
    return runtime_dir(environ) / f"validate-{h.hexdigest()[:24]}.sock"


def switched_off(environ: Mapping[str, str]) -> bool:
    """CPCOMPILE_DAEMON=0: no daemon is asked or started."""
    return environ.get("CPCOMPILE_DAEMON", "") == "0"


def supported() -> bool:
    return sys.platform.startswith("linux") and hasattr(socket, "send_fds") and hasattr(socket, "SO_PEERCRED")


def connect(path: Path) -> socket.socket | None:
    """A connection to the daemon at ``path``, if one of ours is listening there."""
    if not (supported() and is_private(path.parent)):
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
        if peer_uid(sock) != os.getuid():
            raise OSError("the daemon's socket belongs to another user")
    except OSError:
        sock.close()
        return None
    return sock


def peer_uid(sock: socket.socket) -> int:
    """The user ID of the process at the other end of a Unix socket."""
    return int(struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))[1])


def pack_int(value: int) -> bytes:
    """An integer as the protocol sends it: a request's length, a process ID, an exit status, 0
    for "refused"."""
    return _INT.pack(value)


def unpack_int(data: bytes) -> int:
    """The integer at the start of ``data`` (at least ``INT_SIZE`` bytes), as ``pack_int`` sent it."""
    return int(_INT.unpack_from(data)[0])


def send_request(sock: socket.socket, request: Mapping[str, Any], fds: list[int]) -> None:
    payload = json.dumps(request, separators=(",", ":")).encode("utf-8", "surrogateescape")
    if len(payload) > MAX_REQUEST:
        raise OSError("request too large")
    socket.send_fds(sock, [pack_int(len(payload)) + payload], fds)


def read_int(sock: socket.socket) -> int | None:
    data = b""
    while len(data) < INT_SIZE:
        chunk = sock.recv(INT_SIZE - len(data))
        if not chunk:
            return None
        data += chunk
    return unpack_int(data)


def run_by_daemon(args: list[str], environ: Mapping[str, str]) -> int | None:
    """The exit status of ``cpcompile ARGS`` (one of ``launch.DAEMON_COMMANDS``) run by the
    daemon, which printed its output to this process's streams; None, having printed nothing, if
    no daemon took it (or CPCOMPILE_DAEMON=0)."""
    if switched_off(environ):
        return None
    streams = (sys.stdout, sys.stderr)
    if any(stream is None or not hasattr(stream, "encoding") for stream in streams):
        return None
    sock = connect(address(environ))
    if sock is None:
        return None
    with sock:
        try:
            request = {
                "protocol": PROTOCOL, "args": args, "cwd": os.getcwd(), "env": dict(environ), "umask": _umask(),
                "streams": [[stream.encoding, stream.errors] for stream in streams],
            }
            for stream in streams:
                stream.flush()
            sock.settimeout(ANSWER_SECONDS)  # a daemon that hangs must not hang every validation
            send_request(sock, request, [])
            worker = read_int(sock)
            if not worker or worker < 0:  # refused: nothing was run
                return None
        except (OSError, ValueError):  # a closed standard stream, a daemon that went away or hangs
            return None
        except KeyboardInterrupt:  # before the worker began: what the command line says to Ctrl-C
            print("\nAborted!", file=sys.stderr)
            return 1
        # From here a Ctrl-C is the worker's: it is held back until this process waits for the
        # worker, so that it cannot fall between the hand-over and the wait and go astray.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            # the streams go only to a worker that has answered (none is left in flight to a daemon
            # that hangs, holding a pipe open), and only with them does it start: a client that
            # gave up before never sends them, and the worker ends having printed nothing
            socket.send_fds(sock, [GO], [0, 1, 2])
            sock.settimeout(None)
        except OSError:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
            return None
        status = None
        while True:
            try:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
                status = read_int(sock)
                break
            except KeyboardInterrupt:  # Ctrl-C reaches this process only: pass it on
                _signal(worker)
            except OSError:
                break
    if status is None:
        print(
            "cpcompile: the validation daemon stopped before it finished; run the command again, "
            "or with CPCOMPILE_DAEMON=0 to validate without it",
            file=sys.stderr,
        )
        return 3
    return status


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _signal(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGINT)
    except OSError:
        pass
