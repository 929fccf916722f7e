"""The validation daemon: `cpcompile validate` handed to a running daemon prints the same bytes
and exits with the same status as without it, only sooner; with no daemon, a dead one, or a
socket that cannot be trusted, it validates by itself. Every run here is a real process."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import copy_example, edit

from cpcompile.daemon_client import PROTOCOL, connect, read_int, send_request

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the daemon is Linux's")

MARK = "\n[ran the command line here: "
# runs the `cpcompile` command as installed (-P: never a checkout in the working directory, as
# the console script would not), then says whether this process imported the command
# line (cli.py): a validation it ran itself did; one the daemon ran did not
CLIENT = (
    "import atexit, sys\n"
    f"atexit.register(lambda: sys.stderr.write({MARK!r} + str('cpcompile.cli' in sys.modules) + ']'))\n"
    "sys.argv = ['cpcompile', *sys.argv[1:]]\n"
    "from cpcompile.launch import main\n"
    "main()\n"
)


class Run:
    def __init__(self, done: subprocess.CompletedProcess[str]) -> None:
        self.status = done.returncode
        self.stdout = done.stdout
        self.stderr, _, imported = done.stderr.rpartition(MARK)
        self.by_daemon = imported == "False]"

    def seen(self) -> tuple[int, str, str]:
        return self.status, self.stdout, self.stderr


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of a daemon and its clients: a socket folder of their own (short: a
    socket's path is at most 107 bytes) and a cache of their own."""
    folder = tempfile.mkdtemp(prefix="cpd-", dir="/tmp")
    environ = {
        **os.environ, "CPCOMPILE_DAEMON_DIR": os.path.join(folder, "run"), "CPCOMPILE_CACHE_DIR": str(tmp_path / "cache"),
    }
    environ.pop("CPCOMPILE_DAEMON", None)
    yield environ
    cpcompile(environ, "daemon", "stop")
    deadline = time.monotonic() + 10
    while (leftover := _daemons_in(folder)) and time.monotonic() < deadline:  # a stopped one takes a moment
        time.sleep(0.05)
    shutil.rmtree(folder, ignore_errors=True)
    for pid in leftover:
        _kill(pid)
    assert not leftover, "a daemon of this test was left running"


def cpcompile(env: dict[str, str], *args: object, cwd: Path | None = None) -> Run:
    return Run(subprocess.run(
        [sys.executable, "-P", "-c", CLIENT, *map(str, args)], env=env, cwd=cwd, capture_output=True, text=True, timeout=120,
    ))


def without_daemon(env: dict[str, str], *args: object, cwd: Path | None = None) -> Run:
    run = cpcompile({**env, "CPCOMPILE_DAEMON": "0"}, *args, cwd=cwd)
    assert not run.by_daemon
    return run


def start(env: dict[str, str], *options: str) -> int:
    started = cpcompile(env, "daemon", "start", *options)
    assert started.status == 0, started.stderr
    assert started.stdout.startswith(("started: validation daemon, process ", "already running: "))
    return int(started.stdout.split("process ")[1])


def socket_path(env: dict[str, str]) -> Path:
    """The daemon's address as the installed command computes it (this process may have imported
    cpcompile from the checkout, whose files, and so whose address, differ)."""
    code = "import os\nfrom cpcompile.daemon_client import address\nprint(address(os.environ))"
    found = subprocess.run([sys.executable, "-P", "-c", code], env=env, capture_output=True, text=True, check=True)
    return Path(found.stdout.strip())


def _pid(env: dict[str, str]) -> int | None:
    status = cpcompile(env, "daemon", "status")
    return int(status.stdout.split("process ")[1].split(",")[0]) if status.status == 0 else None


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def tree_with_problems(tmp_path: Path) -> Path:
    root = copy_example(tmp_path / "problems")
    edit(root / "destinations/ad-server.yaml", "datastream: web-prod", "datastream: web-prd")
    edit(root / "destinations/ad-server.yaml", "alias: adServerAlias", "alias: ' adServerAlias'")
    edit(root / "datastreams/web-staging.yaml", "edge_segmentation: true", "edge_segmentation: false")
    return root


CASES = {
    "clean": ([], "root"),
    "clean, json": (["--format", "json"], "root"),
    "problems": ([], "problems"),
    "problems, github": (["--format", "github"], "problems"),
    "problems, sarif": (["--format", "sarif"], "problems"),
    "problems, no cache": (["--no-cache"], "problems"),
    "warnings, strict": (["--strict"], "warnings"),
    "unknown option": (["--bogus"], "root"),
    "no such root": ([], "missing"),
    "help": (["--help"], "root"),
}


@pytest.mark.parametrize("case", CASES)
def test_the_daemon_prints_and_exits_as_validating_alone_does(tmp_path: Path, env: dict[str, str], case: str) -> None:
    options, which = CASES[case]
    roots = {
        "root": copy_example(tmp_path / "root"), "problems": tree_with_problems(tmp_path), "missing": tmp_path / "missing",
    }
    roots["warnings"] = copy_example(tmp_path / "warnings")
    edit(roots["warnings"] / "datastreams/web-staging.yaml", "edge_segmentation: true", "edge_segmentation: false")
    start(env)
    # from a folder inside the tree, with a relative ROOT: file names are shown from there
    cwd = roots[which] / "destinations" if roots[which].exists() else tmp_path
    root = ".." if roots[which].exists() else roots[which]
    for _ in range(2):  # the second time the report comes from the cache
        alone = without_daemon(env, "validate", *options, root, cwd=cwd)
        served = cpcompile(env, "validate", *options, root, cwd=cwd)
        assert served.by_daemon
        assert served.seen() == alone.seen()
    assert alone.status == {"clean": 0, "problems": 1, "warnings": 1, "unknown": 2, "no": 2, "help": 0}[case.split(",")[0].split()[0]]


@pytest.mark.parametrize("spec_breaks", [False, True])
def test_the_daemon_runs_the_specs_as_running_them_alone_does(tmp_path: Path, env: dict[str, str], spec_breaks: bool) -> None:
    root = copy_example(tmp_path / "root")
    shutil.copytree(Path(__file__).parents[1] / "specs", root / "specs")
    if spec_breaks:
        edit(root / "destinations/ad-server.yaml", "alias: adServerAlias", "alias: adServerRenamed")
    start(env)
    alone = without_daemon(env, "test", root)
    served = cpcompile(env, "test", root)
    assert served.by_daemon and served.seen() == alone.seen()
    assert alone.status == (1 if spec_breaks else 0)


def test_the_daemon_formats_files_as_formatting_alone_does(tmp_path: Path, env: dict[str, str]) -> None:
    """`fmt` writes files: the daemon's worker writes the same bytes, with the client's umask."""
    trees = {}
    for name in ("alone", "served"):
        root = copy_example(tmp_path / name)
        path = root / "destinations/ad-server.yaml"
        path.write_text(path.read_text().replace("name: On-site ad server\n", "").replace("id: ", "name: On-site ad server\nid: ", 1))
        trees[name] = root
    start(env)
    files = ["destinations/ad-server.yaml", "destinations/home-personalization.yaml"]
    checks = [run(env, "fmt", "--check", *files, cwd=trees[name]) for name, run in (("alone", without_daemon), ("served", cpcompile))]
    assert checks[1].by_daemon and checks[0].seen() == checks[1].seen() and checks[0].status == 1
    before = (trees["served"] / files[0]).read_bytes()
    writes = [run(env, "fmt", *files, cwd=trees[name]) for name, run in (("alone", without_daemon), ("served", cpcompile))]
    assert writes[1].by_daemon and writes[0].seen() == writes[1].seen()
    for name in files:
        ours, theirs = trees["alone"] / name, trees["served"] / name
        assert ours.read_bytes() == theirs.read_bytes()
        assert ours.stat().st_mode == theirs.stat().st_mode
    assert (trees["served"] / files[0]).read_bytes() != before  # the worker did rewrite it


def test_the_client_s_environment_is_the_one_that_counts(tmp_path: Path, env: dict[str, str]) -> None:
    """SOURCE_DATE_EPOCH is "now" for the catalog freshness warning (CP148): the client's, not
    the daemon's."""
    root = copy_example(tmp_path / "root")
    edit(root / "audiences/prod.yaml", "sandbox: prod", "sandbox: prod\nexported_at: 2020-01-01")
    start(env)
    for epoch in ("1577923200", "1893456000"):  # 2020-01-02: fresh; 2030-01-01: old
        alone = without_daemon({**env, "SOURCE_DATE_EPOCH": epoch}, "validate", root)
        served = cpcompile({**env, "SOURCE_DATE_EPOCH": epoch}, "validate", root)
        assert served.by_daemon and served.seen() == alone.seen()
        assert ("CP148" in served.stdout) == (epoch == "1893456000")


def test_start_status_and_stop(env: dict[str, str]) -> None:
    assert cpcompile(env, "daemon", "status").seen()[:2] == (1, "not running\n")
    pid = start(env)
    again = cpcompile(env, "daemon", "start")
    assert again.stdout == f"already running: validation daemon, process {pid}\n"
    status = cpcompile(env, "daemon", "status")
    assert status.status == 0 and f"process {pid}, at {socket_path(env)}" in status.stdout
    assert oct(os.stat(socket_path(env).parent).st_mode & 0o777) == "0o700"
    assert cpcompile(env, "daemon", "stop").stdout == f"stopped: validation daemon, process {pid}\n"
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid) and not socket_path(env).exists()
    assert cpcompile(env, "daemon", "stop").stdout == "not running\n"


def test_an_idle_daemon_stops_by_itself(env: dict[str, str]) -> None:
    pid = start(env, "--idle", "1")
    deadline = time.monotonic() + 15
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid) and not socket_path(env).exists()


def test_a_daemon_started_with_other_import_paths_serves_no_one_else(tmp_path: Path, env: dict[str, str]) -> None:
    root = copy_example(tmp_path / "root")
    other = {**env, "PYTHONPATH": str(tmp_path / "elsewhere")}
    start(other)
    assert not cpcompile(env, "validate", root).by_daemon
    assert cpcompile(other, "validate", root).by_daemon
    cpcompile(other, "daemon", "stop")


def test_without_a_daemon_or_with_a_dead_one_validate_runs_by_itself(tmp_path: Path, env: dict[str, str]) -> None:
    root = tree_with_problems(tmp_path)
    alone = without_daemon(env, "validate", root)
    first = cpcompile(env, "validate", root)
    assert not first.by_daemon and first.seen() == alone.seen()
    pid = start(env)
    os.kill(pid, signal.SIGKILL)  # its socket file stays behind
    while _alive(pid):
        time.sleep(0.05)
    assert socket_path(env).exists()
    dead = cpcompile(env, "validate", root)
    assert not dead.by_daemon and dead.seen() == alone.seen()
    assert start(env) != pid  # a new daemon takes the address over
    assert cpcompile(env, "validate", root).by_daemon


def test_a_daemon_that_hangs_is_given_up_on_and_prints_nothing(tmp_path: Path, env: dict[str, str]) -> None:
    """A stopped daemon accepts connections (the kernel queues them) but answers nothing: the
    client gives up after ANSWER_SECONDS and validates by itself, and the daemon, once it
    goes on, starts no worker for it: nothing is printed twice, and no pipe is held open
    (subprocess.run would wait for it)."""
    root = tree_with_problems(tmp_path)
    alone = without_daemon(env, "validate", root)
    pid = start(env)
    os.kill(pid, signal.SIGSTOP)
    try:
        began = time.monotonic()
        run = cpcompile(env, "validate", root)
        assert time.monotonic() - began < 30
        assert not run.by_daemon and run.seen() == alone.seen()
    finally:
        os.kill(pid, signal.SIGCONT)
    assert cpcompile(env, "validate", root).by_daemon  # and it serves the next one


def test_validate_with_daemon_starts_one_for_the_next_runs(tmp_path: Path, env: dict[str, str]) -> None:
    root = tree_with_problems(tmp_path)
    alone = without_daemon(env, "validate", root)
    off = cpcompile({**env, "CPCOMPILE_DAEMON": "0"}, "validate", "--daemon", root)
    assert off.seen() == alone.seen()
    time.sleep(0.5)
    assert _pid(env) is None  # CPCOMPILE_DAEMON=0: none started

    first = cpcompile(env, "validate", "--daemon", root)
    assert not first.by_daemon and first.seen() == alone.seen()
    deadline = time.monotonic() + 30
    while _pid(env) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    daemon = _pid(env)
    assert daemon is not None
    for options in (["--daemon"], []):
        served = cpcompile(env, "validate", *options, root)
        assert served.by_daemon and served.seen() == alone.seen()
        # a validation the daemon ran with --daemon starts no other daemon
        assert _daemons(socket_path(env)) == [daemon]


def _daemons(socket_path: Path) -> list[int]:
    """The processes serving (or starting to serve) ``socket_path``."""
    return _daemon_processes(lambda arg: arg == str(socket_path).encode())


def _daemons_in(folder: str) -> list[int]:
    """The daemons with a socket anywhere under ``folder``."""
    return _daemon_processes(lambda arg: arg.startswith(folder.encode() + b"/"))


def _daemon_processes(socket_matches: Callable[[bytes], bool]) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"cpcompile.daemon" in args and any(map(socket_matches, args)) and _alive(int(proc.name)):
            found.append(int(proc.name))
    return found


@pytest.mark.parametrize("moment", ["as the worker starts", "once it has the streams", "mid-run"])
def test_ctrl_c_stops_the_validation_the_daemon_is_running(tmp_path: Path, env: dict[str, str], moment: str) -> None:
    """Ctrl-C reaches the command's own process, which passes it on: the validation stops as it
    would by itself (click's "Aborted!", exit 1), whenever it comes, and the daemon serves on."""
    root = tmp_path / "large"
    generated = subprocess.run(
        [sys.executable, str(Path(__file__).parents[1] / "benchmarks/generate.py"), str(root), "--size", "l"],
        capture_output=True, timeout=120,
    )
    assert generated.returncode == 0, generated.stderr
    daemon = start(env)
    command = [sys.executable, "-P", "-c", CLIENT, "validate", "--no-cache", str(root)]  # about 1 s of work
    client = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # as from a terminal: a test run started in the background inherits Ctrl-C ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    begun = (lambda: bool(_workers(daemon))) if moment == "as the worker starts" else (lambda: _handed_over(daemon, client.pid))
    deadline = time.monotonic() + 20
    while not begun() and time.monotonic() < deadline:
        time.sleep(0.001)
    workers = _workers(daemon)
    assert workers and client.poll() is None, "no validation in progress"
    if moment == "mid-run":
        time.sleep(0.2)  # the work takes about 1 s
    client.send_signal(signal.SIGINT)
    out, err = client.communicate(timeout=60)
    run = Run(subprocess.CompletedProcess(command, client.returncode, out, err))
    assert run.by_daemon
    assert run.seen() == (1, "", "\nAborted!\n")
    assert not any(_alive(pid) for pid in workers)
    assert _pid(env) == daemon


def _handed_over(daemon: int, client: int) -> bool:
    """Whether a worker of ``daemon`` writes to the client's stdout: it has the client's streams."""
    try:
        theirs = os.readlink(f"/proc/{client}/fd/1")
        return any(os.readlink(f"/proc/{worker}/fd/1") == theirs for worker in _workers(daemon))
    except OSError:
        return False


def _workers(daemon: int) -> list[int]:
    try:
        return [int(pid) for pid in Path(f"/proc/{daemon}/task/{daemon}/children").read_text().split()]
    except OSError:
        return []


def test_a_socket_folder_others_can_enter_is_not_trusted(tmp_path: Path, env: dict[str, str]) -> None:
    root = copy_example(tmp_path / "root")
    start(env)
    folder = socket_path(env).parent
    os.chmod(folder, 0o755)
    try:
        run = cpcompile(env, "validate", root)
        assert not run.by_daemon and run.seen() == without_daemon(env, "validate", root).seen()
        refused = cpcompile(env, "daemon", "start")
        assert refused.status == 2 and "is not a private folder of this user" in refused.stderr
    finally:
        os.chmod(folder, 0o700)


def test_a_socket_folder_too_deep_for_a_socket_address_is_refused_at_once(tmp_path: Path, env: dict[str, str]) -> None:
    deep = {**env, "CPCOMPILE_DAEMON_DIR": str(tmp_path / ("d" * 120))}
    began = time.monotonic()
    refused = cpcompile(deep, "daemon", "start")
    assert time.monotonic() - began < 10
    assert refused.status == 2 and "more than the 107 a Unix socket's address can hold" in refused.stderr
    assert "CPCOMPILE_DAEMON_DIR" in refused.stderr
    root = copy_example(tmp_path / "root")
    assert cpcompile(deep, "validate", "--daemon", root).seen() == without_daemon(deep, "validate", root).seen()


def test_a_stranger_s_folder_is_refused(tmp_path: Path, env: dict[str, str]) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    link = Path(env["CPCOMPILE_DAEMON_DIR"])
    link.symlink_to(target)  # a link is not the private folder it points to
    refused = cpcompile(env, "daemon", "start")
    assert refused.status == 2 and "not a link" in refused.stderr
    assert list(target.iterdir()) == []


@pytest.mark.parametrize(
    "request_",
    [
        {"protocol": PROTOCOL, "args": ["build", "."], "cwd": "/", "env": {}, "umask": 18, "streams": [["utf-8", "strict"]] * 2},
        {"protocol": PROTOCOL, "args": ["serve"], "cwd": "/", "env": {}, "umask": 18, "streams": [["utf-8", "strict"]] * 2},
        {"protocol": PROTOCOL, "args": [], "cwd": "/", "env": {}, "umask": 18, "streams": [["utf-8", "strict"]] * 2},
        {"protocol": PROTOCOL, "args": ["validate"], "cwd": "/", "env": {"A": 1}, "umask": 18, "streams": [["utf-8", "strict"]] * 2},
        {"protocol": PROTOCOL, "args": ["validate"], "cwd": "/", "env": {}, "umask": "18", "streams": [["utf-8", "strict"]] * 2},
        {"protocol": PROTOCOL + 1, "args": ["validate"], "cwd": "/", "env": {}, "umask": 18, "streams": [["utf-8", "strict"]] * 2},
        {"protocol": PROTOCOL, "args": ["validate"]},
        [], "text", None,
    ],
)
def test_a_request_that_is_not_a_validation_is_refused_and_the_daemon_lives_on(env: dict[str, str], request_: object) -> None:
    pid = start(env)
    sock = connect(socket_path(env))
    assert sock is not None
    with sock:
        send_request(sock, request_, [0, 1, 2])  # type: ignore[arg-type]
        assert read_int(sock) == 0  # refused: nothing ran
    assert _pid(env) == pid


@pytest.mark.parametrize(
    "raw",
    [b"", b"\0\0", b"\xff\xff\xff\xff" + b"{}", b"\0\0\0\x10{\"protocol\":", b"\0\0\0\x02{]", b"\0\0\0\x04\xff\xfe\xfd\xfc"],
)
def test_bytes_that_are_no_request_are_refused_and_the_daemon_lives_on(env: dict[str, str], raw: bytes) -> None:
    pid = start(env)
    sock = connect(socket_path(env))
    assert sock is not None
    with sock:
        sock.sendall(raw)
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(10)
        assert sock.recv(4) in (b"", b"\0\0\0\0")
    assert _pid(env) == pid


def test_validations_at_once_each_get_their_own_answer(tmp_path: Path, env: dict[str, str]) -> None:
    clean, problems = copy_example(tmp_path / "root"), tree_with_problems(tmp_path)
    expected = {root: without_daemon(env, "validate", "--format", "json", root).seen() for root in (clean, problems)}
    start(env)
    command = [sys.executable, "-P", "-c", CLIENT, "validate", "--format", "json"]
    procs = [
        (root, subprocess.Popen([*command, str(root)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        for root in [clean, problems] * 4
    ]
    for root, proc in procs:
        out, err = proc.communicate(timeout=120)
        run = Run(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
        assert run.by_daemon and run.seen() == expected[root]
        json.loads(run.stdout)
