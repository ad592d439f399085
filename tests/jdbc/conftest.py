"""A real PostgreSQL server for the tests in this folder, started once per session, plus per-test
databases, secrets and stores on the session's embedded AWS endpoint (the tables and queues are
tests/conftest.py's).

The server binaries come from the Debian package (``make postgres`` installs it when missing): the
newest ``/usr/lib/postgresql/<version>/bin``, else ``postgres`` on PATH. ``initdb`` creates a
cluster in a fresh temporary folder, with a password (SCRAM) for TCP logins; ``postgres`` listens
on a free port of 127.0.0.1 only (no Unix socket) and is stopped by its PID at the end.

PostgreSQL refuses to run as root. Under root, initdb and postgres run as the unprivileged
``nobody`` user, in a folder directly under the temporary directory that nobody owns (pytest's own
temporary folders are private to root).

Without the binaries the tests are skipped with the reason - except under CI=true, where that is
a failure: CI must run them.
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, NoReturn

import pytest

USER = "connect"
STARTUP_DEADLINE_S = 60


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL is required under CI=true: {reason}", pytrace=False)
    pytest.skip(f"no PostgreSQL server (install it with `make postgres`; CI=true makes this a failure): {reason}")


def find_bindir() -> str | None:
    """The newest installed server's bin folder."""
    candidates = glob.glob("/usr/lib/postgresql/*/bin/postgres")
    if candidates:
        newest = max(candidates, key=lambda p: [int(x) for x in Path(p).parts[-3].split(".") if x.isdigit()])
        return str(Path(newest).parent)
    on_path = shutil.which("postgres")
    return str(Path(on_path).resolve().parent) if on_path else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PostgresServer:
    host: str
    port: int
    user: str
    password: str
    process: subprocess.Popen
    folder: str

    def connect(self, database: str = "postgres") -> Any:
        """An autocommit admin connection (pg8000.native) to ``database``."""
        import pg8000.native

        return pg8000.native.Connection(self.user, host=self.host, port=self.port, database=database,
                                        password=self.password, ssl_context=False, timeout=30)

    def log(self) -> str:
        path = Path(self.folder) / "postgres.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        """Fast shutdown of exactly our postmaster (by PID); killed if it does not stop."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        shutil.rmtree(self.folder, ignore_errors=True)


def start_server() -> PostgresServer:
    bindir = find_bindir()
    if bindir is None:
        _unavailable("no server binaries under /usr/lib/postgresql/*/bin or on PATH")
    as_user: dict[str, Any] = {}
    folder = tempfile.mkdtemp(prefix="connect-postgres-")
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        as_user = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
        os.chown(folder, nobody.pw_uid, nobody.pw_gid)
    env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "HOME": folder}
    password = uuid.uuid4().hex
    pwfile = Path(folder) / "pwfile"
    pwfile.write_text(password + "\n")
    if as_user:
        os.chown(pwfile, as_user["user"], as_user["group"])
    data = str(Path(folder) / "data")
    init = subprocess.run([f"{bindir}/initdb", "-D", data, "-U", USER, "--pwfile", str(pwfile),
                           "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--locale=C",
                           "--no-sync"], cwd=folder, env=env, capture_output=True, text=True, **as_user)
    pwfile.unlink()
    if init.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        _unavailable(f"initdb failed: {init.stderr.strip()[-1000:]}")
    port = free_port()
    log = open(Path(folder) / "postgres.log", "wb")
    process = subprocess.Popen(
        [f"{bindir}/postgres", "-D", data, "-p", str(port), "-c", "listen_addresses=127.0.0.1",
         "-c", "unix_socket_directories=", "-c", "fsync=off", "-c", "synchronous_commit=off",
         "-c", "full_page_writes=off", "-c", "max_connections=50"],
        cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **as_user)
    log.close()
    server = PostgresServer("127.0.0.1", port, USER, password, process, folder)
    deadline = time.monotonic() + STARTUP_DEADLINE_S
    while True:
        try:
            server.connect().close()
            return server
        except Exception as exc:  # noqa: BLE001 - not up yet
            last = exc
        if process.poll() is not None or time.monotonic() > deadline:
            text = server.log()
            server.stop()
            raise RuntimeError(f"PostgreSQL did not start ({last}); its log:\n{text}")
        time.sleep(0.1)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = start_server()
    try:
        yield server
    finally:
        pid = server.process.pid
        server.stop()
        assert server.process.poll() is not None, f"postgres (PID {pid}) still running after stop()"


@pytest.fixture
def database(postgres: PostgresServer) -> Iterator[str]:
    """A fresh, empty database for one test (dropped after it, with any connections left)."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = postgres.connect()
    admin.run(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        admin.run(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def db(postgres: PostgresServer, database: str) -> Iterator[Any]:
    """An admin connection to the test's database, for setting up tables and checking rows."""
    conn = postgres.connect(database)
    try:
        yield conn
    finally:
        conn.close()


@pytest.fixture
def password_ref(embedded_aws: Any, postgres: PostgresServer) -> str:
    """The server's password in Secrets Manager (a JSON secret), as the secret reference a config takes."""
    from connect_core import aws

    name = f"jdbc/{uuid.uuid4().hex[:8]}"
    aws.client("secretsmanager").create_secret(
        Name=name, SecretString=json.dumps({"username": postgres.user, "password": postgres.password}))
    return f"secretsmanager:{name}#password"


@pytest.fixture
def connection(postgres: PostgresServer, database: str, password_ref: str) -> dict[str, Any]:
    """The connection options of a jdbc-source/-sink config for the test's database."""
    return {"host": postgres.host, "port": postgres.port, "database": database, "user": postgres.user,
            "password": password_ref, "ssl_mode": "disable"}


@pytest.fixture
def stores(tables: tuple[str, str]) -> Any:
    from connect_core.storage import Stores

    return Stores.dynamodb(*tables)
