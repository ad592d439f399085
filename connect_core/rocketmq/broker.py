"""Real RocketMQ 5.x brokers for tests and demos, run from the jars on Maven Central.

    with RocketMQCluster("A") as cluster:       # a name server and a proxy with its embedded broker
        cluster.create_topic("orders", queues=4)
        cluster.create_consumer_group("orders-reader")
        cluster.proxy_grpc                       # "127.0.0.1:<port>" for rocketmq-python-client
        cluster.broker_addr                      # the broker's remoting port, for explicit-offset pulls

Two clusters (the source and the target of a replication) start side by side with
``RocketMQClusters.start(("A", "B"))``; ``make rocketmq-up`` / ``make rocketmq-down`` run them in
the background through ``python -m connect_core.rocketmq.broker up|down|status``.

How a cluster runs:

- Jars: ``rocketmq-proxy`` (which brings the broker), ``rocketmq-namesrv`` and ``rocketmq-tools`` at
  ``ROCKETMQ_VERSION``, copied once by Maven into ``<cache>/lib-<version>/`` (Maven keeps its own
  copy in ~/.m2). Nothing is downloaded again while that folder is complete.
- Two JVMs: ``NamesrvStartup`` and ``ProxyStartup -pm local`` (Local mode embeds the broker), small
  heaps, a fresh store on every start, everything (configs, store, logs) under ``<workdir>/<name>/``.
- Ports are free loopback ports. The name server and the broker's remoting ports bind 127.0.0.1
  only; the proxy's gRPC and remoting ports and the broker's HA port have no bind setting in
  RocketMQ and listen on every interface. Every endpoint handed out is on 127.0.0.1.
- Topics and consumer groups are created with two remoting requests to the broker
  (UPDATE_AND_CREATE_TOPIC, UPDATE_AND_CREATE_SUBSCRIPTIONGROUP): no JVM, a few milliseconds.
  gRPC clients never create topics, and 5.5.0's proxy refuses a gRPC consumer whose group does
  not exist (5.4.0 still created it), so both must be created first.
- ``stop()`` ends only the processes this cluster started, by PID: SIGTERM, a grace period, SIGKILL.

Secured clusters (``RocketMQClusters.start(..., secure=True)``, ``make rocketmq-up ARGS=--secure``):

- TLS enforced on every port: the name server's, the broker's remoting port and the proxy's remoting
  and gRPC ports (``tls.server.mode=enforcing``; the name server is a JVM of its own and needs the same
  properties, and the broker's registration with it then goes over TLS too). A CA and one server
  certificate (SAN IP 127.0.0.1 and DNS localhost) are made at start with the ``openssl`` command in
  ``<workdir>/pki/``; ``tls.test.mode.enable=false`` (it defaults to true: a self-signed certificate).
- ACL 2.0 on the broker (and the proxy, which authenticates gRPC clients itself): a super user made at
  first start (``initAuthenticationUser``), and users created with signed AUTH_CREATE_USER /
  AUTH_CREATE_ACL requests: ``replicator``, which may only read the source topics and write the
  target topics it is given (``grant_replication``). Every harness request is signed as the super user.
- ``secure=Secured(acl="1.0", accounts=(PlainAclAccount(...), ...), tls=False)``: ACL 1.0, the users and
  permissions written to ``<ROCKETMQ_HOME>/conf/plain_acl.yml`` (the super user is its admin account).
  5.3+ brokers serve it by migrating the file into ACL 2.0 at first start (see ``Secured``).

Pure standard library (its remoting requests use the client's stdlib-only frame and connection
modules): it runs in tests, in the CLI and under make, before anything is installed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from .codes import RequestCode, ResponseCode
from .connection import ConnectionPool
from .errors import RocketMQError
from .protocol import RemotingCommand
from .security import Credentials, Security, Tls

__all__ = ["ROCKETMQ_VERSION", "BrokerStartError", "PlainAclAccount", "RemotingError", "RocketMQCluster",
           "RocketMQClusters", "RocketMQUnavailable", "Secured", "default_workdir", "find_java", "find_maven",
           "load_state", "resolve_jars", "stop_recorded"]

# The newest 5.x on Maven Central that was checked to start and serve (see the tests in tests/rocketmq).
ROCKETMQ_VERSION = "5.5.0"
ARTIFACTS = ("rocketmq-proxy", "rocketmq-namesrv", "rocketmq-tools")
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

LOOPBACK = "127.0.0.1"
STATE_FILE = "clusters.json"
DEFAULT_TOPICS = ("connect-test", "connect-test-replica")
DEFAULT_GROUPS = ("connect-test",)

# JDK 17 closes the internals RocketMQ's netty and mmap code reach into.
JVM_FLAGS = (
    "--add-exports=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",  # C1 only: less CPU at start (two cores, four JVMs), fast enough for tests
    "-XX:-UsePerfData",         # no /tmp/hsperfdata_<user> file per JVM
    "-Djava.awt.headless=true",
    # TLS stays on (plaintext and TLS on every port) with self-signed certificates made at start: four
    # RSA keys per proxy JVM. 1024-bit keys instead of 2048 take about a third of its start-up CPU off.
    "-Dio.netty.handler.ssl.util.selfSignedKeyStrength=1024",
    "-Dio.grpc.netty.shaded.io.netty.handler.ssl.util.selfSignedKeyStrength=1024",
)
NAMESRV_HEAP = ("-Xms64m", "-Xmx128m")
PROXY_HEAP = ("-Xms256m", "-Xmx384m", "-XX:MaxDirectMemorySize=256m")

NAMESRV_MAIN = "org.apache.rocketmq.namesrv.NamesrvStartup"
PROXY_MAIN = "org.apache.rocketmq.proxy.ProxyStartup"
MQADMIN_MAIN = "org.apache.rocketmq.tools.command.MQAdminStartup"
NAMESRV_READY = "The Name Server boot success"
PROXY_READY = "rocketmq-proxy startup successfully"
# A proxy's orderly shutdown walks dozens of service threads for ~15 s. The store is wiped at the
# next start anyway, so after a short grace SIGKILL loses nothing.
STOP_GRACE = 3.0

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_DIR_MARKER = ".rocketmq-cluster"  # only folders carrying it are ever wiped
_MESSAGE_TYPES = ("NORMAL", "FIFO", "DELAY", "TRANSACTION", "MIXED")

# ACL 2.0 admin requests (RequestCode.java, 5.3+).
AUTH_CREATE_USER = 3001
AUTH_CREATE_ACL = 3006
ADMIN_USER = "admin"
REPLICATOR_USER = "replicator"


class RocketMQUnavailable(RuntimeError):
    """Java or Maven is missing, or the RocketMQ jars cannot be resolved: brokers cannot run here."""


class BrokerStartError(RuntimeError):
    """A name server or proxy did not come up. The message ends with the tail of its logs."""


class RemotingError(RuntimeError):
    """A name server or broker answered a remoting request with an error code."""

    def __init__(self, message: str, *, code: int | None = None, remark: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.remark = remark


# --- where things live --------------------------------------------------------------------------

def default_workdir() -> Path:
    """``$CONNECT_ROCKETMQ_DIR``, else ``.rocketmq/`` at the project root (git-ignored)."""
    configured = os.environ.get("CONNECT_ROCKETMQ_DIR")
    if configured:
        return Path(configured).expanduser().resolve()
    root = Path(__file__).resolve().parents[2]
    if not (root / "pyproject.toml").is_file():  # an installed package, not a checkout
        root = Path.cwd()
    return root / ".rocketmq"


# --- tools and jars -----------------------------------------------------------------------------

def find_java() -> str:
    """The ``java`` to run (``$JAVA_HOME/bin/java`` first), checked to be Java 11 or newer."""
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home, "bin", "java") if java_home else None
    java = str(candidate) if candidate and candidate.is_file() else shutil.which("java")
    if not java:
        raise RocketMQUnavailable("no Java runtime: `java` is not on PATH and JAVA_HOME is not set "
                                  "(RocketMQ 5 needs Java 11+; install e.g. openjdk-17-jre-headless)")
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RocketMQUnavailable(f"{java} -version failed: {exc}") from exc
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        raise RocketMQUnavailable(f"cannot tell the Java version of {java}: {(out.stderr or out.stdout).strip()}")
    major = int(match.group(1)) if match.group(1) != "1" else int(match.group(2) or 0)
    if major < 11:
        raise RocketMQUnavailable(f"{java} is Java {major}; RocketMQ 5 with these JVM flags needs Java 11+")
    return java


def find_maven() -> str:
    mvn = shutil.which("mvn")
    if not mvn:
        raise RocketMQUnavailable("no Maven: `mvn` is not on PATH, and the RocketMQ jars are not cached yet "
                                  "(install Maven 3, e.g. apt-get install maven, with Maven Central reachable)")
    return mvn


def _pom(version: str) -> str:
    dependencies = "".join(
        f"""
    <dependency>
      <groupId>org.apache.rocketmq</groupId>
      <artifactId>{artifact}</artifactId>
      <version>{version}</version>
    </dependency>""" for artifact in ARTIFACTS)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by connect_core.rocketmq.broker: the classpath of a local RocketMQ {version} cluster. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.connect-core</groupId>
  <artifactId>rocketmq-local-cluster</artifactId>
  <version>0</version>
  <packaging>pom</packaging>
  <dependencies>{dependencies}
  </dependencies>
</project>
"""


def _lib_is_complete(lib: Path) -> bool:
    try:
        jars = json.loads((lib / ".complete").read_text())["jars"]
    except (OSError, ValueError, KeyError):
        return False
    return bool(jars) and all((lib / jar).is_file() for jar in jars)


def resolve_jars(version: str = ROCKETMQ_VERSION, cache_dir: str | os.PathLike[str] | None = None, *,
                 timeout: float = 1800.0) -> Path:
    """The folder holding every runtime jar of RocketMQ ``version``: ``<cache_dir>/lib-<version>/``.

    Resolved with Maven the first time (``mvn`` must be on PATH and Maven Central reachable), then
    reused as long as the folder is complete. Concurrent callers each resolve into a folder of their
    own and the first to finish wins, so a half-copied folder is never used.
    """
    cache = Path(cache_dir) if cache_dir is not None else default_workdir()
    lib = cache / f"lib-{version}"
    if _lib_is_complete(lib):
        return lib
    mvn = find_maven()
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".lib-{version}-", dir=cache))
    try:
        pom = staging / "pom.xml"
        pom.write_text(_pom(version))
        jars = staging / "jars"
        command = [mvn, "-B", "-q", "-f", str(pom), f"{DEPENDENCY_PLUGIN}:copy-dependencies",
                   f"-DoutputDirectory={jars}", "-DincludeScope=runtime"]
        try:
            out = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=staging)
        except subprocess.TimeoutExpired as exc:
            raise RocketMQUnavailable(f"Maven did not resolve RocketMQ {version} within {timeout:.0f}s") from exc
        names = sorted(p.name for p in jars.glob("*.jar")) if jars.is_dir() else []
        if out.returncode != 0 or not any(n.startswith("rocketmq-proxy-") for n in names):
            tail = _last_lines(out.stdout + out.stderr, 30)
            raise RocketMQUnavailable(f"Maven could not resolve RocketMQ {version} from Maven Central "
                                      f"(exit {out.returncode}):\n{tail}")
        (jars / ".complete").write_text(json.dumps({"version": version, "jars": names}, indent=1))
        try:
            jars.rename(lib)
        except OSError:  # another process finished first, or a stale incomplete folder is in the way
            if not _lib_is_complete(lib):
                shutil.rmtree(lib, ignore_errors=True)
                jars.rename(lib)
        return lib
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# --- processes ----------------------------------------------------------------------------------

def _command_line(pid: int) -> list[str]:
    """A live process's arguments; [] when it is gone or a zombie."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        return [arg.decode(errors="replace") for arg in raw.split(b"\0") if arg]
    except FileNotFoundError:
        return []
    except OSError:
        pass
    try:  # no /proc (macOS)
        out = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return out.stdout.split()


def _pids_with_argument(argument: str) -> list[int]:
    """Every live process with this exact argument (Linux; [] where there is no /proc)."""
    wanted = argument.encode()
    pids = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if wanted in entry.joinpath("cmdline").read_bytes().split(b"\0"):
                pids.append(int(entry.name))
        except OSError:
            continue
    return sorted(pids)


class _JavaProcess:
    """One JVM of a cluster. ``marker`` is an argument only this cluster's JVMs carry: a PID that no
    longer has it is not ours any more, and is never signalled."""

    def __init__(self, role: str, pid: int, marker: str, *, popen: subprocess.Popen[bytes] | None = None,
                 output: Path | None = None) -> None:
        self.role, self.pid, self.marker, self.popen, self.output = role, pid, marker, popen, output

    def alive(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        return self.marker in _command_line(self.pid)

    def signal(self, sig: int) -> None:
        if self.alive():
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass


def _stop_processes(processes: Sequence[_JavaProcess], grace: float) -> list[int]:
    """SIGTERM, wait up to ``grace`` seconds, SIGKILL what is left. Returns the PIDs that were running."""
    running = [p for p in processes if p.alive()]
    for process in running:
        process.signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(p.alive() for p in running):
        time.sleep(0.1)
    for process in running:
        process.signal(signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(p.alive() for p in running):
        time.sleep(0.05)
    return [p.pid for p in running]


# --- ports --------------------------------------------------------------------------------------

_handed_out: set[int] = set()
_ports_lock = threading.Lock()


def _port_is_free(port: int) -> bool:
    # Bind the wildcard address: it collides with a listener on any address, like the proxy's ports.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def _free_port(*, also: Iterable[int] = ()) -> int:
    """A free port the system picked, not handed out before in this process, with ``port + d`` for
    each ``d`` in ``also`` free too (the broker takes its listen port minus 2 as well)."""
    offsets = (0, *also)
    with _ports_lock:
        for _ in range(500):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.bind((LOOPBACK, 0))
                port = probe.getsockname()[1]
            ports = [port + d for d in offsets]
            if all(1024 < p < 65536 and p not in _handed_out and _port_is_free(p) for p in ports):
                _handed_out.update(ports)
                return port
    raise BrokerStartError("no free loopback ports")


def _port_open(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout):
            return True
    except OSError:
        return False


# --- the remoting requests the cluster needs ----------------------------------------------------

def _remoting_call(addr: str, code: int, fields: Mapping[str, Any] | None = None, body: bytes = b"", *,
                   timeout: float = 10.0, security: Security | None = None) -> RemotingCommand:
    """One request on a connection of its own (the harness keeps none open); the answer. With
    ``security``: over TLS and signed."""
    pool = ConnectionPool(tls=security.tls if security else None)
    cmd = RemotingCommand.request(code, dict(fields or {}), body)
    if security is not None and security.credentials is not None:
        security.credentials.sign(cmd)
    try:
        return pool.request(addr, cmd, timeout)
    except RocketMQError as exc:
        raise RemotingError(f"{addr}: {exc}") from exc
    finally:
        pool.close()


def _checked_call(addr: str, code: int, fields: Mapping[str, Any] | None = None, body: bytes = b"",
                  *, what: str, security: Security | None = None) -> bytes:
    answer = _remoting_call(addr, code, fields, body, security=security)
    if answer.code != ResponseCode.SUCCESS:
        raise RemotingError(f"{what} failed at {addr}: code {answer.code}: {answer.remark}",
                            code=answer.code, remark=answer.remark)
    return answer.body


# --- secured clusters: certificates and users ----------------------------------------------------

@dataclass(frozen=True)
class PlainAclAccount:
    """One account of ACL 1.0's ``plain_acl.yml``. Permissions are ACL 1.0's words: ``PUB``, ``SUB``,
    ``PUB|SUB``, ``DENY``. ``white_remote_address`` is written as given (5.3+ brokers ignore it: see
    ``Secured``)."""

    access_key: str
    secret_key: str = field(repr=False)
    topic_perms: Mapping[str, str] = field(default_factory=dict)
    group_perms: Mapping[str, str] = field(default_factory=dict)
    default_topic_perm: str = "DENY"
    default_group_perm: str = "DENY"
    admin: bool = False
    white_remote_address: str | None = None

    @property
    def credentials(self) -> Credentials:
        return Credentials(self.access_key, self.secret_key)

    def yaml(self) -> str:
        """The account as a plain_acl.yml list item (JSON strings are YAML scalars: stdlib only)."""
        q = json.dumps
        lines = [f"  - accessKey: {q(self.access_key)}", f"    secretKey: {q(self.secret_key)}",
                 f"    admin: {'true' if self.admin else 'false'}", f"    defaultTopicPerm: {q(self.default_topic_perm)}",
                 f"    defaultGroupPerm: {q(self.default_group_perm)}"]
        if self.white_remote_address is not None:
            lines.append(f"    whiteRemoteAddress: {q(self.white_remote_address)}")
        for key, perms in (("topicPerms", self.topic_perms), ("groupPerms", self.group_perms)):
            lines.append(f"    {key}:" + ("".join(f"\n      - {q(f'{name}={perm}')}" for name, perm in perms.items())
                                           if perms else " []"))
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Secured:
    """How secured clusters are secured; ``secure=True`` is ``Secured()``: TLS enforced and ACL 2.0.

    ``acl="1.0"``: the users and permissions are ACL 1.0's ``<ROCKETMQ_HOME>/conf/plain_acl.yml``:
    the super user (``admin: true``) and ``accounts``. RocketMQ 5.3+ has no ACL 1.0 engine any more
    (``aclEnable=true`` alone leaves a broker open, checked on 5.5.0): it reads plain_acl.yml once,
    at the broker's first start (``migrateAuthFromV1Enabled=true``), into ACL 2.0 users and policies,
    and enforces those. Clients sign requests exactly as for ACL 1.0. Not carried over:
    ``whiteRemoteAddress`` and ``globalWhiteRemoteAddresses`` (every request must be signed), and
    later edits of the file (no hot reload). ``tls=False``: every port plaintext."""

    tls: bool = True
    acl: str = "2.0"
    accounts: tuple[PlainAclAccount, ...] = ()

    def __post_init__(self) -> None:
        if self.acl not in ("1.0", "2.0"):
            raise ValueError(f"acl={self.acl!r}: '1.0' (plain_acl.yml) or '2.0'")
        if self.accounts and self.acl != "1.0":
            raise ValueError("plain_acl.yml accounts are for acl='1.0'; with ACL 2.0 use add_user() and grant()")


class SecureSetup:
    """What secured clusters share: with TLS, a CA and a server certificate for 127.0.0.1/localhost,
    made with the ``openssl`` command in ``folder``; the super user's credentials (random per start)."""

    def __init__(self, folder: str | os.PathLike[str], options: Secured = Secured()) -> None:
        self.folder = Path(folder).resolve()
        self.options = options
        self.ca_cert = self.folder / "ca.pem"
        self.server_cert = self.folder / "server.pem"
        self.server_key = self.folder / "server.key"
        self.admin = Credentials(ADMIN_USER, secrets.token_urlsafe(18))

    @property
    def acl(self) -> str:
        return self.options.acl

    def create(self) -> "SecureSetup":
        if not self.options.tls:
            return self
        openssl = shutil.which("openssl")
        if openssl is None:
            raise RocketMQUnavailable("secured clusters need the openssl command to make their certificates")
        self.folder.mkdir(parents=True, exist_ok=True)
        make_ca(self.folder / "ca.key", self.ca_cert, "connect-core test CA")
        ext = self.folder / "server.ext"
        ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\n"
                       "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
                       "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n")
        csr = self.folder / "server.csr"
        _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", str(self.server_key), "-out", str(csr), "-subj", "/CN=localhost")
        _openssl("x509", "-req", "-in", str(csr), "-CA", str(self.ca_cert), "-CAkey", str(self.folder / "ca.key"),
                 "-CAcreateserial", "-days", "7", "-extfile", str(ext), "-out", str(self.server_cert))
        return self

    def tls(self) -> Tls | None:
        """Client TLS settings that verify the clusters' certificate against this CA (None: plaintext)."""
        return Tls(ca_file=str(self.ca_cert)) if self.options.tls else None

    def admin_security(self) -> Security:
        return Security(tls=self.tls(), credentials=self.admin)

    def plain_acl_yml(self) -> str:
        """ACL 1.0's plain_acl.yml: the super user and the accounts."""
        admin = PlainAclAccount(self.admin.access_key, self.admin.secret_key, admin=True)
        return "accounts:\n" + "".join(a.yaml() for a in (admin, *self.options.accounts))

    def jvm_options(self) -> tuple[str, ...]:
        """TLS enforced on every server socket of a JVM (name server, broker, proxy remoting and gRPC);
        its own client connections (the broker's to the name server) use TLS and verify the CA."""
        if not self.options.tls:
            return ()
        return ("-Dtls.server.mode=enforcing", "-Dtls.test.mode.enable=false", "-Dtls.enable=true",
                f"-Dtls.server.certPath={self.server_cert}", f"-Dtls.server.keyPath={self.server_key}",
                "-Dtls.server.need.client.auth=none", "-Dtls.server.authClient=false",
                "-Dtls.client.authServer=true", f"-Dtls.client.trustCertPath={self.ca_cert}",
                f"-Dtls.config.file={self.folder / 'tls.properties'}")  # absent: nothing read from /etc

    def auth_settings(self, *, proxy: bool = False) -> dict[str, Any]:
        """ACL 2.0 for broker.conf and rmq-proxy.json: authentication and authorization on. ACL 1.0:
        the same, the users and policies read from plain_acl.yml by the broker at its first start."""
        provider = "org.apache.rocketmq.auth"
        if self.acl == "1.0":
            v1 = {} if proxy else {"aclEnable": "true",  # what a 4.x to 5.2 broker reads; ignored by 5.3+
                                   "migrateAuthFromV1Enabled": "true"}
            return {**self._auth_settings(provider), **v1}
        return {**self._auth_settings(provider),
                "initAuthenticationUser": json.dumps({"username": self.admin.access_key,
                                                      "password": self.admin.secret_key}, separators=(",", ":"))}

    def _auth_settings(self, provider: str) -> dict[str, Any]:
        return {
            "authenticationEnabled": "true",
            "authenticationProvider": f"{provider}.authentication.provider.DefaultAuthenticationProvider",
            "authenticationMetadataProvider": f"{provider}.authentication.provider.LocalAuthenticationMetadataProvider",
            "authorizationEnabled": "true",
            "authorizationProvider": f"{provider}.authorization.provider.DefaultAuthorizationProvider",
            "authorizationMetadataProvider": f"{provider}.authorization.provider.LocalAuthorizationMetadataProvider",
            "innerClientAuthenticationCredentials": json.dumps(
                {"accessKey": self.admin.access_key, "secretKey": self.admin.secret_key}, separators=(",", ":")),
        }


def make_ca(key: Path, cert: Path, name: str) -> Path:
    """A self-signed CA certificate (EC P-256) with ``openssl``; returns ``cert``."""
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", str(key), "-out", str(cert), "-days", "7", "-subj", f"/CN={name}",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return cert


def _openssl(*args: str) -> None:
    out = subprocess.run(["openssl", *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise BrokerStartError(f"openssl {args[0]} failed: {out.stderr.strip()}")


# --- one cluster --------------------------------------------------------------------------------

class RocketMQCluster:
    """A name server and a proxy in Local mode (with its embedded broker), in ``<workdir>/<name>/``.

    ``start()`` returns once both JVMs are ready, the broker is registered with the name server and
    every port answers; ``stop()`` ends them. The store is new on every start.
    """

    def __init__(self, name: str = "A", workdir: str | os.PathLike[str] | None = None, *,
                 version: str = ROCKETMQ_VERSION, lib_dir: str | os.PathLike[str] | None = None,
                 startup_timeout: float = 180.0, jvm_options: Sequence[str] = (),
                 secure: SecureSetup | None = None) -> None:
        if not _NAME.match(name):
            raise ValueError(f"cluster name {name!r}: use 1-32 letters, digits, '-' or '_'")
        self.name = name
        self.workdir = Path(workdir).resolve() if workdir is not None else default_workdir()
        self.dir = self.workdir / name
        self.version = version
        self.lib_dir = Path(lib_dir).resolve() if lib_dir is not None else None
        self.startup_timeout = startup_timeout
        self.secure = secure
        self.jvm_options = (*(secure.jvm_options() if secure else ()), *jvm_options)  # a later -Xmx wins
        self.cluster_name = f"Cluster{name}"
        self.broker_name = f"broker-{name.lower()}"
        self.startup_seconds: float | None = None
        self._java: str | None = None
        self._ports: dict[str, int] = {}
        self._processes: dict[str, _JavaProcess] = {}
        self._deadline = 0.0
        self._started_at = 0.0

    def __repr__(self) -> str:
        where = f" namesrv={self.namesrv_addr} grpc={self.proxy_grpc}" if self._ports else ""
        return f"<RocketMQCluster {self.name} {'running' if self.running else 'stopped'}{where}>"

    # --- endpoints ----------------------------------------------------------------------------

    def _endpoint(self, port: str) -> str:
        if not self._ports:
            raise RuntimeError(f"RocketMQ cluster {self.name} has not been started: call start() first")
        return f"{LOOPBACK}:{self._ports[port]}"

    @property
    def namesrv_addr(self) -> str:
        """The name server, "127.0.0.1:port" (what remoting clients and mqadmin take as -n)."""
        return self._endpoint("namesrv")

    @property
    def broker_addr(self) -> str:
        """The broker's remoting listen port (pull, send, offsets, admin)."""
        return self._endpoint("broker")

    @property
    def proxy_grpc(self) -> str:
        """The proxy's gRPC endpoint for 5.x clients (plaintext and TLS on one port)."""
        return self._endpoint("grpc")

    @property
    def proxy_remoting(self) -> str:
        """The proxy's remoting endpoint (4.x-style clients through the proxy)."""
        return self._endpoint("proxy_remoting")

    @property
    def security(self) -> Security | None:
        """What the harness (the super user) uses: None for a plain cluster."""
        return self.secure.admin_security() if self.secure else None

    @property
    def pids(self) -> dict[str, int]:
        return {role: process.pid for role, process in self._processes.items()}

    @property
    def running(self) -> bool:
        return bool(self._processes) and all(p.alive() for p in self._processes.values())

    @property
    def marker(self) -> str:
        """The JVM argument that tells this cluster's processes apart from every other process."""
        return f"-Duser.home={self.dir}"

    def live_pids(self) -> list[int]:
        """Every running process started for this cluster's folder - by this object or any other
        (Linux; elsewhere only the processes this object started)."""
        found = set(_pids_with_argument(self.marker)) if Path("/proc/self").exists() else set()
        return sorted(found | {p.pid for p in self._processes.values() if p.alive()})

    def describe(self) -> dict[str, Any]:
        """What clusters.json records: endpoints, names, PIDs, folders."""
        return {"namesrv_addr": self.namesrv_addr, "broker_addr": self.broker_addr,
                "proxy_grpc": self.proxy_grpc, "proxy_remoting": self.proxy_remoting,
                "cluster_name": self.cluster_name, "broker_name": self.broker_name,
                "pids": self.pids, "dir": str(self.dir), "marker": self.marker,
                "logs": str(self.dir / "logs" / "rocketmqlogs")}

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> "RocketMQCluster":
        if self.running:
            return self
        self.stop()  # whatever is left of an earlier start
        try:
            self._prepare()
            self._launch_name_server()
            self._await_name_server()
            self._launch_proxy()
            self._await_proxy()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, grace: float = STOP_GRACE) -> list[int]:
        """End the JVMs this cluster started (SIGTERM, ``grace`` seconds, SIGKILL); returns their PIDs."""
        stopped = _stop_processes(list(self._processes.values()), grace)
        self._processes.clear()
        return stopped

    def __enter__(self) -> "RocketMQCluster":
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def _prepare(self) -> None:
        self._java = find_java()
        if self.lib_dir is None or not _lib_is_complete(self.lib_dir):
            self.lib_dir = resolve_jars(self.version)
        self._started_at = time.monotonic()
        self._deadline = self._started_at + self.startup_timeout
        self.startup_seconds = None
        self._fresh_folder()
        self._ports = {"namesrv": _free_port(), "broker": _free_port(also=(-2,)), "ha": _free_port(),
                       "grpc": _free_port(), "proxy_remoting": _free_port()}
        self._write_configs()

    def _fresh_folder(self) -> None:
        still_running = _pids_with_argument(self.marker) if Path("/proc/self").exists() else []
        if still_running:
            raise BrokerStartError(f"RocketMQ cluster {self.name} in {self.dir} is still running "
                                   f"(PIDs {still_running}): stop it first (make rocketmq-down)")
        if self.dir.exists():
            if any(self.dir.iterdir()) and not (self.dir / _DIR_MARKER).exists():
                raise BrokerStartError(f"{self.dir} exists and is not a RocketMQ cluster folder: "
                                       "refusing to wipe it; pick another workdir")
            shutil.rmtree(self.dir)
        (self.dir / "home").mkdir(parents=True)
        (self.dir / _DIR_MARKER).write_text(f"RocketMQ cluster {self.name}: wiped on every start\n")

    def _write_configs(self) -> None:
        ports = self._ports
        (self.dir / "namesrv.conf").write_text(f"listenPort={ports['namesrv']}\nbindAddress={LOOPBACK}\n")
        broker = {
            "brokerClusterName": self.cluster_name,
            "brokerName": self.broker_name,
            "brokerId": 0,
            "brokerIP1": LOOPBACK,  # Local mode hands clients brokerIP1:grpcPort
            "bindAddress": LOOPBACK,
            "listenPort": ports["broker"],  # the broker also takes listenPort - 2 (its fast remoting port)
            "haListenPort": ports["ha"],
            "namesrvAddr": self.namesrv_addr,
            "storePathRootDir": self.dir / "store",
            "mappedFileSizeCommitLog": 64 * 1024 * 1024,
            "mappedFileSizeConsumeQueue": 600_000,
            "maxHashSlotNum": 4000,
            "maxIndexNum": 16000,
            "timerWheelEnable": "true",  # gRPC receive needs the timer
            # Each timer flush compares the 38 MB timer wheel with its file byte by byte: every second by
            # default, a fifth of a core per idle broker. The store is thrown away, so flush hourly.
            "timerFlushIntervalMs": 3_600_000,
            "autoCreateTopicEnable": "false",
            "autoCreateSubscriptionGroup": "true",
            "cleanFileForciblyEnable": "false",
            "diskSpaceWarningLevelRatio": 98,  # a nearly full dev disk would otherwise refuse every write
            **(self.secure.auth_settings() if self.secure else {}),
        }
        (self.dir / "broker.conf").write_text("".join(f"{k}={v}\n" for k, v in broker.items()))
        proxy = {
            "rocketMQClusterName": self.cluster_name,
            "namesrvAddr": self.namesrv_addr,
            "brokerConfigPath": str(self.dir / "broker.conf"),
            "grpcServerPort": ports["grpc"],
            "remotingListenPort": ports["proxy_remoting"],
            "localServeAddr": LOOPBACK,
            "remotingAccessAddr": LOOPBACK,
            "enablePrintJstack": False,
            "grpcShutdownTimeSeconds": 3,
            "topicRouteServiceCacheRefreshSeconds": 2,
        }
        if self.secure is not None:
            # The proxy authenticates gRPC clients itself (its own copy of the ACL settings), and its
            # gRPC server takes its certificate from its own settings, not from tls.server.*
            # (tlsTestModeEnable defaults to true there: a self-signed certificate).
            proxy.update(self.secure.auth_settings(proxy=True))
            # ... reading the users and ACLs the broker keeps (its own local stores would be empty).
            proxy.update(authenticationMetadataProvider="org.apache.rocketmq.proxy.auth.ProxyAuthenticationMetadataProvider",
                         authorizationMetadataProvider="org.apache.rocketmq.proxy.auth.ProxyAuthorizationMetadataProvider")
            if self.secure.options.tls:
                proxy.update(tlsTestModeEnable=False, tlsCertPath=str(self.secure.server_cert),
                             tlsKeyPath=str(self.secure.server_key))
            if self.secure.acl == "1.0":
                (self.dir / "home" / "conf").mkdir(parents=True, exist_ok=True)
                (self.dir / "home" / "conf" / "plain_acl.yml").write_text(self.secure.plain_acl_yml())
        (self.dir / "rmq-proxy.json").write_text(json.dumps(proxy, indent=2))

    def _java_command(self, main_class: str, heap: Sequence[str], logback: str, args: Sequence[str]) -> list[str]:
        assert self._java and self.lib_dir
        return [self._java, *JVM_FLAGS, *heap, *self.jvm_options, self.marker,
                f"-Drocketmq.home.dir={self.dir / 'home'}", f"-Drmq.logback.configurationFile={logback}",
                "-cp", str(self.lib_dir / "*"), main_class, *args]

    def _launch(self, role: str, command: list[str]) -> None:
        output = self.dir / f"{role}.out"
        env = {**os.environ, "ROCKETMQ_HOME": str(self.dir / "home")}
        with open(output, "wb") as out:
            # A session of its own: a Ctrl-C in the terminal reaches us, and we stop the JVMs in order.
            popen = subprocess.Popen(command, cwd=self.dir, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self._processes[role] = _JavaProcess(role, popen.pid, self.marker, popen=popen, output=output)

    def _launch_name_server(self) -> None:
        self._launch("namesrv", self._java_command(NAMESRV_MAIN, NAMESRV_HEAP, "rmq.namesrv.logback.xml",
                                                   ["-c", str(self.dir / "namesrv.conf")]))

    def _launch_proxy(self) -> None:
        self._launch("proxy", self._java_command(
            PROXY_MAIN, PROXY_HEAP, "rmq.proxy.logback.xml",
            ["-pm", "local", "-bc", str(self.dir / "broker.conf"), "-pc", str(self.dir / "rmq-proxy.json"),
             "-n", self.namesrv_addr]))

    def _await_name_server(self) -> None:
        self._await("namesrv", lambda: self._said("namesrv", NAMESRV_READY) and _port_open(self._ports["namesrv"]))

    def _await_proxy(self) -> None:
        self._await("proxy", lambda: self._said("proxy", PROXY_READY)
                    and all(_port_open(self._ports[p]) for p in ("broker", "grpc", "proxy_remoting"))
                    and self._registered())
        self.startup_seconds = round(time.monotonic() - self._started_at, 1)

    def _said(self, role: str, line: str) -> bool:
        output = self._processes[role].output
        return output is not None and line.encode() in output.read_bytes()

    def _registered(self) -> bool:
        """The broker is in the name server's routes (each broker serves a topic named after its cluster)."""
        try:
            return self.topic_route(self.cluster_name) is not None
        except (OSError, RemotingError, ValueError):
            return False

    def _await(self, role: str, ready: Any) -> None:
        process = self._processes[role]
        while True:
            if not process.alive():
                raise BrokerStartError(f"RocketMQ {role} of cluster {self.name} exited "
                                       f"(code {process.popen.returncode if process.popen else '?'}) "
                                       f"before it was ready.\n{self.log_tail(role)}")
            if ready():
                return
            if time.monotonic() > self._deadline:
                raise BrokerStartError(f"RocketMQ {role} of cluster {self.name} was not ready after "
                                       f"{self.startup_timeout:.0f}s.\n{self.log_tail(role)}")
            time.sleep(0.2)

    def log_tail(self, role: str = "proxy", lines: int = 40) -> str:
        """The end of a JVM's console output and of its main log, for error messages."""
        logs = self.dir / "logs" / "rocketmqlogs"
        files = [self.dir / f"{role}.out"] + ([logs / "namesrv.log"] if role == "namesrv"
                                              else [logs / "proxy.log", logs / "broker.log"])
        parts = []
        for path in files:
            if path.is_file():
                text = _last_lines(path.read_text(errors="replace"), lines)
                parts.append(f"--- {path} (last {lines} lines) ---\n{text}")
            else:
                parts.append(f"--- {path}: missing ---")
        return "\n".join(parts)

    # --- topics, groups, admin ----------------------------------------------------------------

    def create_topic(self, topic: str, queues: int = 4, message_type: str | None = None) -> None:
        """Create ``topic`` on the broker with ``queues`` read and write queues, and wait until the
        name server routes it. ``message_type`` (NORMAL, FIFO, DELAY, TRANSACTION, MIXED) sets the
        topic's ``message.type``: a message of another type is then rejected. Creating a topic that
        exists updates it."""
        attributes = ""
        if message_type is not None:
            if message_type.upper() not in _MESSAGE_TYPES:
                raise ValueError(f"message_type {message_type!r}: one of {', '.join(_MESSAGE_TYPES)}")
            attributes = f"+message.type={message_type.upper()}"
        self._update_topic(topic, queues, attributes)

    def update_topic_queues(self, topic: str, queues: int) -> None:
        """Change an existing topic's read and write queue count (its attributes stay)."""
        if self.topic_route(topic) is None:
            raise RemotingError(f"topic {topic} does not exist in cluster {self.name}",
                                code=ResponseCode.TOPIC_NOT_EXIST)
        self._update_topic(topic, queues, "")

    def _update_topic(self, topic: str, queues: int, attributes: str) -> None:
        if not 1 <= queues <= 1024:
            raise ValueError(f"queues={queues}: between 1 and 1024")
        _checked_call(self.broker_addr, RequestCode.UPDATE_AND_CREATE_TOPIC, {
            "topic": topic, "defaultTopic": "TBW102", "readQueueNums": queues, "writeQueueNums": queues,
            "perm": 6, "topicFilterType": "SINGLE_TAG", "topicSysFlag": 0, "order": False,
            "attributes": attributes}, what=f"creating topic {topic}", security=self.security)
        self._await_route(topic, queues)

    def _await_route(self, topic: str, queues: int, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            route = self.topic_route(topic)
            counts = [(q["readQueueNums"], q["writeQueueNums"]) for q in (route or {}).get("queueDatas", [])]
            if counts == [(queues, queues)]:
                return
            if time.monotonic() > deadline:
                raise RemotingError(f"the name server of cluster {self.name} does not route topic {topic} "
                                    f"with {queues} queues after {timeout:.0f}s (routes {counts})")
            time.sleep(0.1)

    def create_consumer_group(self, group: str) -> None:
        """Create a subscription group. 5.5.0's proxy refuses a gRPC consumer of an unknown group
        ("group not found"); remoting pulls still create groups on the fly."""
        _checked_call(self.broker_addr, RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
                      body=json.dumps({"groupName": group}).encode(), what=f"creating consumer group {group}",
                      security=self.security)

    def topic_route(self, topic: str) -> dict[str, Any] | None:
        """The name server's route for ``topic`` (brokerDatas, queueDatas), or None if it has none."""
        answer = _remoting_call(self.namesrv_addr, RequestCode.GET_ROUTEINFO_BY_TOPIC, {"topic": topic},
                                security=self.security)
        if answer.code == ResponseCode.TOPIC_NOT_EXIST:
            return None
        if answer.code != ResponseCode.SUCCESS:
            raise RemotingError(f"route of {topic} at {self.namesrv_addr}: code {answer.code}: {answer.remark}",
                                code=answer.code, remark=answer.remark)
        return json.loads(answer.body)

    def topic_config(self, topic: str) -> dict[str, Any] | None:
        """The broker's configuration of ``topic`` (queue counts, perm, attributes), or None."""
        body = _checked_call(self.broker_addr, RequestCode.GET_ALL_TOPIC_CONFIG, what="reading topic configs",
                             security=self.security)
        return json.loads(body).get("topicConfigTable", {}).get(topic)

    # --- users and permissions (ACL 2.0, secured clusters) ------------------------------------------

    def create_user(self, username: str, password: str, *, super_user: bool = False) -> Credentials:
        """A user of the broker's ACL 2.0 (its access key and secret key for clients)."""
        body = json.dumps({"username": username, "password": password,
                           "userType": "Super" if super_user else "Normal", "userStatus": "enable"}).encode()
        _checked_call(self.broker_addr, AUTH_CREATE_USER, {"username": username}, body,
                      what=f"creating user {username}", security=self._admin_security())
        return Credentials(username, password)

    def grant(self, username: str, resources: Iterable[str], actions: Iterable[str]) -> None:
        """Allow ``actions`` (Pub, Sub, Get, Update, Create, ...) on ``resources`` ("Topic:orders",
        "Group:billing") to the user, from any address."""
        entries = [{"resource": r, "actions": list(actions), "sourceIps": [], "decision": "Allow"}
                   for r in resources]
        body = json.dumps({"subject": f"User:{username}",
                           "policies": [{"policyType": "Custom", "entries": entries}]}).encode()
        _checked_call(self.broker_addr, AUTH_CREATE_ACL, {"subject": f"User:{username}"}, body,
                      what=f"granting {username} {','.join(actions)}", security=self._admin_security())

    def grant_replication(self, username: str, *, read_topics: Iterable[str] = (), write_topics: Iterable[str] = (),
                          groups: Iterable[str] = ()) -> None:
        """What a replicator's user needs on this cluster, and nothing more: read ``read_topics`` (as a
        source), write ``write_topics`` (as a target), and read and commit the offsets of ``groups``
        (UPDATE_CONSUMER_OFFSET needs Sub on the group, checked against 5.5.0)."""
        read, write, groups = list(read_topics), list(write_topics), list(groups)
        if read:
            self.grant(username, [f"Topic:{t}" for t in read], ["Sub", "Get"])
        if write:
            self.grant(username, [f"Topic:{t}" for t in write], ["Pub", "Get"])
        if groups:
            self.grant(username, [f"Group:{g}" for g in groups], ["Sub", "Get"])

    def _admin_security(self) -> Security:
        if self.secure is None:
            raise RuntimeError(f"RocketMQ cluster {self.name} was not started secured: it has no users")
        return self.secure.admin_security()

    def mqadmin(self, *args: str, timeout: float = 120.0) -> str:
        """Run RocketMQ's admin tool against this cluster (``-n`` is added) and return its output.
        mqadmin exits 0 even when the command failed: read the output."""
        if not args:
            raise ValueError("mqadmin needs a command, e.g. mqadmin('topicList')")
        command = self._java_command(MQADMIN_MAIN, NAMESRV_HEAP, "rmq.tools.logback.xml",
                                     [*args, "-n", self.namesrv_addr])
        env = {**os.environ, "ROCKETMQ_HOME": str(self.dir / "home")}
        out = subprocess.run(command, cwd=self.dir, env=env, capture_output=True, text=True, timeout=timeout)
        if out.returncode != 0:
            raise RemotingError(f"mqadmin {' '.join(args)} exited {out.returncode}:\n{out.stdout}{out.stderr}")
        return out.stdout + out.stderr


# --- several clusters ---------------------------------------------------------------------------

class RocketMQClusters:
    """Independent clusters side by side (the source and target of a replication), started together."""

    def __init__(self, clusters: Mapping[str, RocketMQCluster], state_file: Path | None = None) -> None:
        self.clusters = dict(clusters)
        self.state_file = state_file
        self.secure_setup: SecureSetup | None = None
        self.users: dict[str, Credentials] = {}

    @classmethod
    def start(cls, names: Sequence[str] = ("A", "B"), workdir: str | os.PathLike[str] | None = None, *,
              version: str = ROCKETMQ_VERSION, startup_timeout: float = 240.0,
              jvm_options: Sequence[str] = (), write_state: bool = True,
              secure: bool | Secured = False) -> "RocketMQClusters":
        """Start one cluster per name under ``workdir`` and, with ``write_state``, record them in
        ``<workdir>/clusters.json``. The name servers start first, then every proxy at once.
        ``secure``: True for TLS enforced and ACL 2.0 on (see the module docstring), or ``Secured(...)``
        (ACL 1.0, TLS off); ``secure_setup`` is the CA and the super user."""
        if len(set(names)) != len(names) or not names:
            raise ValueError(f"cluster names must be distinct and not empty: {names!r}")
        root = Path(workdir).resolve() if workdir is not None else default_workdir()
        find_java()  # before Maven: without Java nothing else matters
        lib = resolve_jars(version)
        options = secure if isinstance(secure, Secured) else Secured() if secure else None
        setup = SecureSetup(root / "pki", options).create() if options is not None else None
        clusters = {n: RocketMQCluster(n, root, version=version, lib_dir=lib, startup_timeout=startup_timeout,
                                       jvm_options=jvm_options, secure=setup) for n in names}
        group = cls(clusters, root / STATE_FILE if write_state else None)
        group.secure_setup = setup
        try:
            for cluster in clusters.values():
                cluster._prepare()
                cluster._launch_name_server()
            for cluster in clusters.values():
                cluster._await_name_server()
            for cluster in clusters.values():
                cluster._launch_proxy()
            for cluster in clusters.values():
                cluster._await_proxy()
        except BaseException:
            group.stop()
            raise
        if group.state_file is not None:
            group.write_state()
        return group

    def __getitem__(self, name: str) -> RocketMQCluster:
        return self.clusters[name]

    def __iter__(self) -> Iterator[RocketMQCluster]:
        return iter(self.clusters.values())

    def __len__(self) -> int:
        return len(self.clusters)

    def __enter__(self) -> "RocketMQClusters":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def describe(self) -> dict[str, Any]:
        """What clusters.json records. Secured: the CA's path and every user's test credentials (local
        dev state, made at start)."""
        out: dict[str, Any] = {"version": next(iter(self)).version,
                               "clusters": {n: c.describe() for n, c in self.clusters.items()}}
        if self.secure_setup is not None:
            accounts = {a.access_key: a.credentials for a in self.secure_setup.options.accounts}
            users = {self.secure_setup.admin.access_key: self.secure_setup.admin, **accounts, **self.users}
            tls = self.secure_setup.tls()
            out["security"] = {"tls": tls is not None, "ca_file": tls.ca_file if tls else None,
                               "acl": self.secure_setup.acl,
                               "users": {name: {"access_key": c.access_key, "secret_key": c.secret_key}
                                         for name, c in users.items()},
                               "admin_user": self.secure_setup.admin.access_key}
        return out

    def add_user(self, username: str, password: str | None = None) -> Credentials:
        """Create the same (normal) user on every cluster; recorded in clusters.json."""
        password = password or secrets.token_urlsafe(18)
        for cluster in self:
            cluster.create_user(username, password)
        self.users[username] = Credentials(username, password)
        if self.state_file is not None and self.state_file.is_file():
            self.write_state()
        return self.users[username]

    def write_state(self) -> Path:
        assert self.state_file is not None
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps(self.describe(), indent=2) + "\n")
        return self.state_file

    def stop(self, grace: float = STOP_GRACE) -> list[int]:
        """Stop every cluster's JVMs at once; remove the state file this object wrote."""
        processes = [p for c in self for p in c._processes.values()]
        stopped = _stop_processes(processes, grace)
        for cluster in self:
            cluster._processes.clear()
        if self.state_file is not None and self.state_file.is_file():
            recorded = load_state(self.state_file.parent)
            if recorded and {r.get("dir") for r in recorded["clusters"].values()} <= {str(c.dir) for c in self}:
                self.state_file.unlink()
        return stopped


# --- recorded clusters (make rocketmq-up / rocketmq-down) ---------------------------------------

def load_state(workdir: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """What ``up`` recorded in ``<workdir>/clusters.json``, or None."""
    path = (Path(workdir) if workdir is not None else default_workdir()) / STATE_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def _recorded_processes(state: Mapping[str, Any]) -> list[_JavaProcess]:
    return [_JavaProcess(f"{name}/{role}", int(pid), cluster["marker"])
            for name, cluster in state["clusters"].items() for role, pid in cluster["pids"].items()]


def stop_recorded(workdir: str | os.PathLike[str] | None = None, grace: float = STOP_GRACE) -> list[int]:
    """Stop the PIDs recorded in clusters.json that are still those JVMs, and remove the file.
    Returns the PIDs that were stopped."""
    root = Path(workdir) if workdir is not None else default_workdir()
    state = load_state(root)
    if state is None:
        return []
    stopped = _stop_processes(_recorded_processes(state), grace)
    (root / STATE_FILE).unlink(missing_ok=True)
    return stopped


def _last_lines(text: str, count: int) -> str:
    return "\n".join(text.rstrip().splitlines()[-count:])


def _topic_spec(spec: str) -> tuple[str, int, str | None]:
    """NAME[:QUEUES[:TYPE]] from the command line."""
    name, _, rest = spec.partition(":")
    queues, _, message_type = rest.partition(":")
    return name, int(queues or 4), message_type or None


def _print_state(state: Mapping[str, Any], out: Any = sys.stdout) -> bool:
    """Print the recorded clusters with each PID's liveness; True if every JVM is running."""
    all_alive = True
    for name, cluster in state["clusters"].items():
        alive = {role: cluster["marker"] in _command_line(int(pid)) for role, pid in cluster["pids"].items()}
        all_alive &= all(alive.values())
        pids = ", ".join(f"{role} {pid} ({'running' if up else 'gone'})"
                         for (role, pid), up in zip(cluster["pids"].items(), alive.values()))
        print(f"{name}: namesrv {cluster['namesrv_addr']}  broker {cluster['broker_addr']}  "
              f"grpc {cluster['proxy_grpc']}  proxy remoting {cluster['proxy_remoting']}  "
              f"[{cluster['cluster_name']}/{cluster['broker_name']}]  {pids}", file=out)
    return all_alive


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m connect_core.rocketmq.broker",
                                     description="Local RocketMQ 5.x clusters from Maven Central jars.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--workdir", type=Path, default=None,
                        help="folder for clusters.json, stores and logs (default: .rocketmq/ at the project root)")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", parents=[common],
                             help="start clusters in the background, create topics, write clusters.json")
    up.add_argument("--names", nargs="+", default=["A", "B"], help="cluster names (default: A B)")
    up.add_argument("--topic", action="append", dest="topics", metavar="NAME[:QUEUES[:TYPE]]",
                    help=f"topic to create on every cluster, repeatable (default: {' '.join(DEFAULT_TOPICS)})")
    up.add_argument("--group", action="append", dest="groups", metavar="NAME",
                    help=f"consumer group to create on every cluster (default: {' '.join(DEFAULT_GROUPS)})")
    up.add_argument("--version", default=ROCKETMQ_VERSION, help=f"RocketMQ version (default: {ROCKETMQ_VERSION})")
    up.add_argument("--secure", action="store_true",
                    help="TLS enforced on every port and ACL 2.0 on; the CA's path and the users' test "
                         "credentials (admin, and replicator: read the topics and groups, write the topics) "
                         "are recorded in clusters.json")
    commands.add_parser("down", parents=[common], help="stop the JVMs recorded in clusters.json")
    commands.add_parser("status", parents=[common], help="show the recorded clusters; exit 3 unless all are running")
    args = parser.parse_args(argv)
    workdir = args.workdir.resolve() if args.workdir else default_workdir()

    state = load_state(workdir)
    if args.command == "status":
        if state is None:
            print(f"no clusters recorded in {workdir / STATE_FILE}")
            return 3
        return 0 if _print_state(state) else 3

    if args.command == "down":
        if state is None:
            print(f"no clusters recorded in {workdir / STATE_FILE}: nothing to stop")
            return 0
        stopped = stop_recorded(workdir)
        print(f"stopped {len(stopped)} RocketMQ JVM(s): {' '.join(map(str, stopped)) or '-'}")
        return 0

    if state is not None and any(p.alive() for p in _recorded_processes(state)):
        print(f"already running (make rocketmq-down to stop), recorded in {workdir / STATE_FILE}:")
        _print_state(state)
        return 0
    topics = [_topic_spec(t) for t in (args.topics or DEFAULT_TOPICS)]
    began = time.monotonic()
    try:
        clusters = RocketMQClusters.start(args.names, workdir, version=args.version, secure=args.secure)
    except (RocketMQUnavailable, BrokerStartError) as exc:
        print(f"RocketMQ clusters did not start: {exc}", file=sys.stderr)
        return 1
    try:
        for cluster in clusters:
            for name, queues, message_type in topics:
                cluster.create_topic(name, queues, message_type)
            for group in args.groups or DEFAULT_GROUPS:
                cluster.create_consumer_group(group)
        if args.secure:
            clusters.add_user(REPLICATOR_USER)
            names = [name for name, _, _ in topics]
            for cluster in clusters:  # every cluster may be a source and a target
                cluster.grant_replication(REPLICATOR_USER, read_topics=names, write_topics=names,
                                          groups=[*(args.groups or DEFAULT_GROUPS), "CONNECT_PULL"])
    except (OSError, RemotingError, ValueError) as exc:
        clusters.stop()
        print(f"RocketMQ clusters started but setting them up failed: {exc}", file=sys.stderr)
        return 1
    print(f"RocketMQ {args.version}: {len(clusters)} cluster(s) up in {time.monotonic() - began:.1f}s, "
          f"recorded in {clusters.state_file}")
    _print_state(clusters.describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())
