"""TCP connections to name servers and brokers, pooled by address.

One request at a time per connection (no reader thread): a request writes its frame and reads frames
until the answer with its opaque arrives. Concurrent callers get separate connections from the pool,
so a long-polling pull never blocks another caller. A request can also be written now and its answer
read later (``ConnectionPool.begin``): one thread then keeps requests to several queues in flight at
once, without the thread hand-offs and lock contention a thread per request costs in Python. Idle
connections stay open across warm Lambda invocations and are dropped before the broker's own idle
timeout (120 s) would close them; a reused connection found broken is replaced once, transparently.

Whether a request in flight has its answer can be asked without blocking: ``InFlight.ready()`` is
true once its connection is readable (the answer has begun to arrive, or the connection failed and
reading it fails at once), and :func:`readable` waits for the first of several connections to get
there. A long poll (a pull the broker holds until a message arrives) is so kept in flight for as
long as it takes, and read only once the broker has answered. "Readable" is not "the whole frame
is here": a broker writes an answer in one go, so reading the rest of a frame that has begun to
arrive waits for the network only, never for the broker. (Nor is the first frame anything but the
answer: brokers send requests of their own only to clients that registered with a heartbeat, which
this client never sends.)

TLS (``security.Tls``): a pool serves one set of TLS settings (``shared_pool(tls)``), so a plaintext
and a TLS connection to the same address never mix. Readiness differs in two ways under TLS. An SSL
socket can hold decrypted bytes that the socket itself no longer reports as readable: readiness
checks ask ``Connection.pending()`` first (``InFlight.fileno`` is -1 then: reading would not wait).
And a readable socket need not carry an answer: a TLS 1.3 server may send records that carry no
data (session tickets, key updates) at any time after the handshake. So once the raw socket of an
SSL connection is readable, ``InFlight.arrived()`` reads what data is there without waiting, into a
buffer the next frame read takes first: no data means not ready (the records were consumed). A
plaintext connection is ready as soon as it is readable, as before.

Handshake failures: a certificate the client does not trust, a host name mismatch or a protocol
the two sides do not share is a TlsError (retrying does not help); a server that closes or resets
the connection, or times out, mid-handshake is a BrokerUnavailableError (the next name server, or a
retry, may do). A fresh plaintext connection closed by the server right after its first request, or
answered with bytes that are no frame, is reported as a server that may require TLS.
"""

from __future__ import annotations

import logging
import math
import select
import socket
import ssl
import struct
import threading
import time
from contextlib import contextmanager
from functools import partial
from typing import TYPE_CHECKING, Callable, Iterator

from .errors import BrokerUnavailableError, ProtocolError, TlsError, TlsRequiredError
from .protocol import MAX_FRAME_BYTES, RemotingCommand, decode_frame

if TYPE_CHECKING:
    from .security import Tls

log = logging.getLogger(__name__)

_LENGTH = struct.Struct(">i")
_READ_AHEAD_BYTES = 65536  # what one readiness check of a TLS connection reads at most


class _Broken(Exception):
    """The connection failed (reset, closed, refused write): it cannot be used any more."""


class _TlsRecord(ProtocolError):
    """A plaintext connection received a TLS record (an alert) where a frame should start."""


def readable(fds: list[int], timeout_s: float) -> set[int]:
    """The file descriptors among ``fds`` that are readable (data, end of stream or an error), waiting
    up to ``timeout_s`` for the first one; empty when none got there in time."""
    if not fds:
        return set()
    if hasattr(select, "poll"):  # no FD_SETSIZE limit, and no selector object to create and close
        poller = select.poll()
        for fd in fds:
            poller.register(fd, select.POLLIN | select.POLLPRI)  # errors and hang-ups are always reported
        return {fd for fd, _ in poller.poll(max(0, math.ceil(timeout_s * 1000)))}
    ready, _, failed = select.select(fds, [], fds, max(0.0, timeout_s))
    return set(ready) | set(failed)


def split_addr(addr: str) -> tuple[str, int]:
    host, sep, port = addr.strip().rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"not a host:port address: {addr!r}")
    return host.strip("[]"), int(port)


class Connection:
    """One TCP connection. Not thread-safe on its own: the pool hands it to one caller at a time."""

    def __init__(self, addr: str, sock: socket.socket) -> None:
        self.addr = addr
        self._sock: socket.socket | None = sock
        self.last_used = time.monotonic()
        self.requests = 0
        # Read by a readiness check of a TLS connection, not yet by a frame read: data, then the
        # failure (end of stream, reset) that the read met, if any.
        self._early = bytearray()
        self._early_failure: OSError | None = None

    @classmethod
    def open(cls, addr: str, timeout_s: float, tls: "Tls | None" = None) -> "Connection":
        """A connected socket; with ``tls`` the handshake is done, the server certificate and host
        name verified. An untrusted certificate, a host name mismatch, no shared protocol or a CA
        bundle that cannot be loaded raise TlsError (retrying does not help); a server that drops
        the connection mid-handshake raises BrokerUnavailableError."""
        host, port = split_addr(addr)
        context = _tls_context(tls, addr) if tls is not None else None  # before connecting: nothing to close
        try:
            sock = socket.create_connection((host, port), timeout=timeout_s)
        except socket.timeout:
            raise BrokerUnavailableError(f"connecting to {addr} timed out after {timeout_s:g}s", addr=addr) from None
        except OSError as e:
            raise BrokerUnavailableError(f"cannot connect to {addr}: {e.strerror or e}", addr=addr) from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if tls is not None and context is not None:
            sock = _handshake(sock, context, addr, host, tls, timeout_s)
        return cls(addr, sock)

    @property
    def closed(self) -> bool:
        return self._sock is None

    def fileno(self) -> int:
        """The socket's file descriptor; -1 once closed."""
        return -1 if self._sock is None else self._sock.fileno()

    @property
    def local_port(self) -> int | None:
        return None if self._sock is None else self._sock.getsockname()[1]

    @property
    def tls(self) -> bool:
        return isinstance(self._sock, ssl.SSLSocket)

    def pending(self) -> int:
        """Bytes (or a failure) reading would get without the network, which readable() does not see:
        decrypted bytes an SSL socket holds, and what a readiness check read already. 0 for plaintext."""
        sock = self._sock
        if not isinstance(sock, ssl.SSLSocket):
            return 0
        return sock.pending() + len(self._early) + (self._early_failure is not None)

    def arrived(self) -> bool:
        """Called when the socket is readable: True when reading will get data or fail at once, False
        when a TLS connection received only records that carry no data (consumed here, so the socket
        is not readable for them any more). Always True for plaintext."""
        sock = self._sock
        if not isinstance(sock, ssl.SSLSocket) or self.pending():
            return True
        try:
            sock.setblocking(False)
            data = sock.recv(_READ_AHEAD_BYTES)
        except ssl.SSLWantReadError:
            return False
        except OSError as e:
            self._early_failure = e
            return True
        finally:
            if self._sock is not None:
                sock.setblocking(True)
        if data:
            self._early += data
        else:
            self._early_failure = ConnectionResetError("connection closed by peer")
        return True

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    def is_stale(self) -> bool:
        """True when an idle connection is readable: the peer closed it, or sent something unasked."""
        if self._sock is None:
            return True
        if isinstance(self._sock, ssl.SSLSocket):
            return self._tls_is_stale(self._sock)
        try:
            self._sock.setblocking(False)
            self._sock.recv(1, socket.MSG_PEEK)
            return True
        except BlockingIOError:
            return False
        except OSError:
            return True
        finally:
            if self._sock is not None:
                self._sock.setblocking(True)

    def _tls_is_stale(self, sock: ssl.SSLSocket) -> bool:
        # An SSL socket cannot peek. Readable raw bytes may be TLS records carrying no data (a late
        # session ticket): the connection is fine; data or a close is stale.
        if self.pending():
            return True
        return bool(readable([sock.fileno()], 0)) and self.arrived()

    def write(self, cmd: RemotingCommand, timeout_s: float) -> None:
        """Send ``cmd`` without waiting for its answer (``read_answer``). Raises BrokerUnavailableError
        on a timeout and _Broken when the connection fails; either way the connection is closed."""
        if self._sock is None:
            raise _Broken("connection is closed")
        self.requests += 1
        with self._failures(cmd, timeout_s):
            self._sock.settimeout(timeout_s)
            self._sock.sendall(cmd.encode())

    def read_answer(self, cmd: RemotingCommand, timeout_s: float) -> RemotingCommand:
        """The answer to ``cmd``, sent by ``write``: frames are read until a response arrives, for at
        most ``timeout_s`` from now (not from the write: the answer to a request read late, because
        its caller was busy or the function was frozen, is waiting in the socket)."""
        deadline = time.monotonic() + timeout_s
        with self._failures(cmd, timeout_s):
            while True:
                answer = self._read_frame(deadline)
                if answer.is_response:
                    # One request at a time, and a timed-out connection is closed: any answer is ours.
                    # (A Local-mode 5.x proxy answers its errors with an opaque of its own.)
                    if answer.opaque != cmd.opaque:
                        log.debug("answer from %s has opaque %s, the request %s", self.addr, answer.opaque, cmd.opaque)
                    self.last_used = time.monotonic()
                    answer.request_code = cmd.code
                    return answer
                log.debug("ignoring request code=%s from %s", answer.code, self.addr)
        raise AssertionError("unreachable")

    @contextmanager
    def _failures(self, cmd: RemotingCommand, timeout_s: float) -> Iterator[None]:
        """Closes the connection on any failure: a timeout becomes BrokerUnavailableError, a socket
        error _Broken; protocol errors pass."""
        try:
            yield
        except socket.timeout:
            self.close()
            raise BrokerUnavailableError(
                f"no answer from {self.addr} within {timeout_s:g}s (request code {cmd.code})", addr=self.addr) from None
        except ProtocolError:
            self.close()
            raise
        except OSError as e:
            self.close()
            raise _Broken(f"{type(e).__name__}: {e}") from None

    def _read_frame(self, deadline: float) -> RemotingCommand:
        prefix = self._read_exactly(4, deadline)
        (length,) = _LENGTH.unpack(prefix)
        if length <= 0 or length > MAX_FRAME_BYTES:
            if prefix[0] in (0x15, 0x16) and prefix[1] == 0x03 and not self.tls:  # alert/handshake, TLS 1.x
                raise _TlsRecord(f"a TLS record from {self.addr} where a frame should start", addr=self.addr)
            raise ProtocolError(f"frame length {length} from {self.addr} is out of range", addr=self.addr)
        return decode_frame(self._read_exactly(length, deadline))

    def _read_exactly(self, n: int, deadline: float) -> memoryview:
        assert self._sock is not None
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        while got < n:
            if self._early:
                k = min(len(self._early), n - got)
                view[got:got + k] = self._early[:k]
                del self._early[:k]
                got += k
                continue
            if self._early_failure is not None:
                raise self._early_failure
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout()
            self._sock.settimeout(remaining)
            k = self._sock.recv_into(view[got:], n - got)
            if k == 0:
                raise ConnectionResetError("connection closed by peer")
            got += k
        return view


def _tls_context(tls: "Tls", addr: str) -> ssl.SSLContext:
    try:
        return tls.context()
    except ValueError as e:  # names the CA's file or says it came by reference; never its content
        raise TlsError(f"TLS to {addr}: {e}", addr=addr) from None


def _handshake(sock: socket.socket, context: ssl.SSLContext, addr: str, host: str, tls: "Tls",
               timeout_s: float) -> ssl.SSLSocket:
    try:
        return context.wrap_socket(sock, server_hostname=tls.server_name or host)
    except ssl.SSLCertVerificationError as e:
        sock.close()
        raise TlsError(f"TLS handshake with {addr} failed: certificate verify failed: {e.verify_message} "
                       f"(verified as {tls.server_name or host!r}, against {tls.trust_source()})", addr=addr) from None
    except (ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLSyscallError) as e:
        # The server went away mid-handshake (restarting, overloaded, or not a TLS server): another may answer.
        sock.close()
        raise BrokerUnavailableError(f"TLS handshake with {addr} failed: the server closed the connection "
                                     f"({type(e).__name__}; is it up, and does it serve TLS on this port?)",
                                     addr=addr) from None
    except ssl.SSLError as e:
        sock.close()
        raise TlsError(f"TLS handshake with {addr} failed: {e.reason or e}: the server may not serve TLS on "
                       f"this port, or shares no protocol version or cipher with the client", addr=addr) from None
    except socket.timeout:
        sock.close()
        raise BrokerUnavailableError(f"TLS handshake with {addr} timed out after {timeout_s:g}s "
                                     f"(does the server serve TLS on this port?)", addr=addr) from None
    except OSError as e:
        sock.close()
        raise BrokerUnavailableError(f"TLS handshake with {addr} failed: {e.strerror or e} (is the server up, "
                                     f"and does it serve TLS on this port?)", addr=addr) from None


class ConnectionPool:
    """Idle connections by address. ``max_idle_s`` stays below the broker's 120 s idle timeout.
    ``tls``: every connection of this pool uses it (None: plaintext)."""

    def __init__(self, *, max_idle_per_addr: int = 16, max_idle_s: float = 60.0,
                 opener: Callable[[str, float], Connection] | None = None, tls: "Tls | None" = None) -> None:
        self._idle: dict[str, list[Connection]] = {}
        self._lock = threading.Lock()
        self._max_idle_per_addr = max_idle_per_addr
        self._max_idle_s = max_idle_s
        self.tls = tls
        self._open = opener if opener is not None else partial(Connection.open, tls=tls)
        self.opened = 0  # connections opened over the pool's life (for tests and metrics)

    def request(self, addr: str, cmd: RemotingCommand, timeout_s: float) -> RemotingCommand:
        return self.begin(addr, cmd, timeout_s).answer()

    def begin(self, addr: str, cmd: RemotingCommand, timeout_s: float, *, resend: bool = True,
              connect_timeout_s: float | None = None) -> "InFlight":
        """Write ``cmd`` on a connection of its own and return at once; ``answer()`` reads the answer.
        One thread can so have requests in flight to several queues and brokers at the same time.
        ``resend=False``: a reused connection found broken while reading the answer fails the request
        instead of writing it again (see ``InFlight``). ``connect_timeout_s`` bounds opening a new
        connection (default ``timeout_s``, which for a long poll includes the broker's hold)."""
        connect_timeout_s = timeout_s if connect_timeout_s is None else connect_timeout_s
        conn, reused = self._acquire(addr, connect_timeout_s)
        request = InFlight(self, addr, cmd, timeout_s, conn, reused, resend, connect_timeout_s)
        request.write()
        return request

    def _acquire(self, addr: str, timeout_s: float) -> tuple[Connection, bool]:
        now = time.monotonic()
        while True:
            with self._lock:
                idle = self._idle.get(addr)
                conn = idle.pop() if idle else None
            if conn is None:
                return self._connect(addr, timeout_s), False
            if now - conn.last_used > self._max_idle_s or conn.is_stale():
                conn.close()
                continue
            return conn, True

    def _connect(self, addr: str, timeout_s: float) -> Connection:
        conn = self._open(addr, timeout_s)
        with self._lock:
            self.opened += 1
        return conn

    def _release(self, addr: str, conn: Connection) -> None:
        if conn.closed:
            return
        with self._lock:
            idle = self._idle.setdefault(addr, [])
            if len(idle) < self._max_idle_per_addr:
                idle.append(conn)
                return
        conn.close()

    def idle_connections(self, addr: str) -> list[Connection]:
        with self._lock:
            return list(self._idle.get(addr, ()))

    def close(self, addr: str | None = None) -> None:
        """Close the idle connections to ``addr`` (all addresses when None)."""
        with self._lock:
            if addr is None:
                dropped = [c for conns in self._idle.values() for c in conns]
                self._idle.clear()
            else:
                dropped = self._idle.pop(addr, [])
        for conn in dropped:
            conn.close()


class InFlight:
    """A request written to its own connection, the answer not read yet. The connection goes back
    to the pool once the answer is read; ``cancel()`` (or a failure) closes it instead. A pooled
    connection found broken (the server dropped it while idle) is replaced once, transparently: when
    writing, and, unless ``resend`` is off, when reading the answer. A long poll turns that second
    one off: it is read only once ``ready()``, so as not to wait for the broker, and a long poll
    written again would have to be waited for (the broker holds it until a message arrives)."""

    __slots__ = ("pool", "addr", "cmd", "timeout_s", "conn", "reused", "resend", "connect_timeout_s", "done",
                 "written", "reconnected")

    def __init__(self, pool: ConnectionPool, addr: str, cmd: RemotingCommand, timeout_s: float,
                 conn: Connection, reused: bool, resend: bool = True, connect_timeout_s: float | None = None) -> None:
        self.pool, self.addr, self.cmd, self.timeout_s = pool, addr, cmd, timeout_s
        self.conn, self.reused, self.resend = conn, reused, resend
        self.connect_timeout_s = timeout_s if connect_timeout_s is None else connect_timeout_s
        self.done = False
        self.written = time.monotonic()
        self.reconnected = False

    def write(self) -> None:
        try:
            try:
                self.conn.write(self.cmd, self.timeout_s)
            except _Broken as e:
                self._reconnect(e)
                self.conn.write(self.cmd, self.timeout_s)  # a new connection: no second retry
        except _Broken as e:
            self.cancel()
            raise BrokerUnavailableError(f"connection to {self.addr} failed: {e}", addr=self.addr) from None
        except BaseException:
            self.cancel()
            raise

    def fileno(self) -> int:
        """The file descriptor to wait on for the answer (:func:`readable`); -1 when there is nothing
        to wait for: the answer was read (the connection may serve another request by now), the
        connection is closed (cancelled, failed) and reading fails at once, or a TLS connection holds
        bytes read already. Readable is not yet ready under TLS: see ``arrived``."""
        return -1 if self.done or self.conn.pending() else self.conn.fileno()

    def arrived(self) -> bool:
        """Once ``fileno()`` is readable: True when that is the answer (or a failure), False when it
        was only TLS records that carry no data, such as a TLS 1.3 session ticket (consumed now)."""
        return self.done or self.conn.arrived()

    def ready(self) -> bool:
        """True when reading the answer would not wait for the broker: the answer has begun to arrive,
        the connection failed or closed (reading fails at once), or the answer was read already."""
        fd = self.fileno()
        return fd < 0 or (bool(readable([fd], 0)) and self.conn.arrived())

    def overdue(self) -> bool:
        """True when no answer has begun to arrive within ``timeout_s`` of the write: a broker that
        should have answered by now has lost the request (or the connection is dead without a reset).
        An answer that arrived is never overdue, however late it is read: a request read late,
        because its caller was busy or the function was frozen, still has its answer in the socket."""
        return time.monotonic() - self.written > self.timeout_s and not self.ready()

    def answer(self) -> RemotingCommand:
        """The answer. Raises BrokerUnavailableError when the broker does not answer in time or the
        connection fails."""
        if self.done:
            raise RuntimeError("the answer of this request was read already")
        self.done = True
        try:
            try:
                answer = self.conn.read_answer(self.cmd, self.timeout_s)
            except _Broken as e:
                if not self.resend:
                    raise
                self._reconnect(e)
                self.conn.write(self.cmd, self.timeout_s)
                answer = self.conn.read_answer(self.cmd, self.timeout_s)
        except _Broken as e:
            self.conn.close()
            if self._maybe_tls_only():
                raise self._tls_required(f"the server closed the connection right after the first request ({e})")
            raise BrokerUnavailableError(f"connection to {self.addr} failed: {e}", addr=self.addr) from None
        except _TlsRecord as e:
            self.conn.close()
            raise self._tls_required(str(e))
        except BaseException:
            self.conn.close()
            raise
        self.pool._release(self.addr, self.conn)
        return answer

    def _maybe_tls_only(self) -> bool:
        """A plaintext connection that failed on its very first request: what a TLS-only server does."""
        return self.pool.tls is None and not self.reused and not self.reconnected and self.conn.requests <= 1

    def _tls_required(self, what: str) -> TlsRequiredError:
        return TlsRequiredError(f"plaintext connection to {self.addr} failed: {what}: the server may require TLS "
                        f"(set tls for this cluster)", addr=self.addr)

    def cancel(self) -> None:
        """Give the request up: its answer is never read, so its connection is closed."""
        self.done = True
        self.conn.close()

    def _reconnect(self, error: _Broken) -> None:
        if not self.reused:
            self.conn.close()
            if self._maybe_tls_only():
                raise self._tls_required(f"the server closed the connection right after the first request ({error})")
            raise BrokerUnavailableError(f"connection to {self.addr} failed: {error}", addr=self.addr) from None
        log.info("connection to %s was broken (%s); reconnecting", self.addr, error)
        self.reused = False
        self.reconnected = True
        self.conn = self.pool._connect(self.addr, self.connect_timeout_s)


_shared_pools: dict["Tls | None", ConnectionPool] = {}
_shared_lock = threading.Lock()


def shared_pool(tls: "Tls | None" = None) -> ConnectionPool:
    """The process-wide pool for ``tls`` (plaintext by default): connections outlive a client
    object and so a Lambda invocation."""
    pool = _shared_pools.get(tls)
    if pool is None:
        with _shared_lock:
            pool = _shared_pools.get(tls)
            if pool is None:
                pool = _shared_pools[tls] = ConnectionPool(tls=tls)
    return pool


def shared_pools() -> list[ConnectionPool]:
    with _shared_lock:
        return list(_shared_pools.values())
