"""The client's TLS paths against a scripted TLS server on 127.0.0.1, its certificates made with
``openssl`` for the test: a pooled connection the server closed, answers already decrypted in the
SSL socket, TLS 1.3 session tickets arriving while a long poll is held, handshake failures, plaintext
to a TLS-only server. No broker needed; every outcome waits for an event (an answer, a readable
socket), never for a time to pass."""

from __future__ import annotations

import shutil
import socket
import ssl
import struct
import threading
from pathlib import Path
from typing import Callable, Iterator

import pytest

from connect_core.rocketmq.broker import SecureSetup, make_ca
from connect_core.rocketmq.client import RocketMQClient
from connect_core.rocketmq.connection import Connection, ConnectionPool, InFlight, readable
from connect_core.rocketmq.errors import BrokerUnavailableError, TlsError, TlsRequiredError
from connect_core.rocketmq.flight import wait_any
from connect_core.rocketmq.protocol import FLAG_RESPONSE, RemotingCommand, decode_frame
from connect_core.rocketmq.security import Security, Tls

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")

# A handler gets (connection number, request) and returns the bytes to write in ONE sendall (one TLS
# record when small), None to answer nothing (yet).
Handler = Callable[[int, RemotingCommand], "bytes | None"]


def answer_to(request: RemotingCommand, **ext: str) -> bytes:
    return RemotingCommand(code=0, ext_fields=ext, flag=FLAG_RESPONSE, opaque=request.opaque).encode()


def echo(number: int, request: RemotingCommand) -> bytes:
    return answer_to(request, connection=str(number))


class TlsFakeServer:
    """A TLS server whose connections each run ``handler`` on every request, in a thread of their own.
    By default it sends no session tickets (nothing but answers ever arrives); ``serve(handler,
    tickets=2)`` makes it a TLS 1.3 server that sends two right after the handshake, as many do."""

    def __init__(self, context: ssl.SSLContext, handler: Handler) -> None:
        self.context, self.handler = context, handler
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.addr = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.accepted = 0
        self.connections: list[socket.socket] = []
        self.handshake_errors: list[str] = []
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self) -> None:
        while True:
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            self.connections.append(raw)
            thread = threading.Thread(target=self._serve, args=(raw, self.accepted), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _serve(self, raw: socket.socket, number: int) -> None:
        try:
            conn = self.context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            self.handshake_errors.append(str(exc))
            raw.close()
            return
        self.connections.append(conn)
        try:
            while True:
                head = self._read(conn, 4)
                if head is None:
                    return
                frame = self._read(conn, struct.unpack(">i", head)[0])
                if frame is None:
                    return
                out = self.handler(number, decode_frame(frame))
                if out is not None:
                    conn.sendall(out)
        except OSError:
            pass
        finally:
            conn.close()

    @staticmethod
    def _read(conn: ssl.SSLSocket, n: int) -> bytes | None:
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    def drop_connections(self) -> None:
        """Close every accepted connection from the server's side."""
        for conn in list(self.connections):
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()

    def close(self) -> None:
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread (close alone does not)
        except OSError:
            pass
        self.listener.close()
        self.drop_connections()
        for thread in self.threads:
            thread.join(timeout=10)
        assert not any(t.is_alive() for t in self.threads), "a fake TLS server thread did not end"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> SecureSetup:
    """A CA and a server certificate for 127.0.0.1 and localhost (the broker harness's)."""
    return SecureSetup(tmp_path_factory.mktemp("pki")).create()


@pytest.fixture
def serve(pki: SecureSetup) -> Iterator[Callable[..., TlsFakeServer]]:
    servers: list[TlsFakeServer] = []

    def start(handler: Handler, *, tickets: int = 0) -> TlsFakeServer:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(pki.server_cert, pki.server_key)
        context.num_tickets = tickets
        if tickets:
            context.minimum_version = ssl.TLSVersion.TLSv1_3
        servers.append(TlsFakeServer(context, handler))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def pools() -> Iterator[Callable[..., ConnectionPool]]:
    made: list[ConnectionPool] = []

    def make(**options: object) -> ConnectionPool:
        made.append(ConnectionPool(**options))  # type: ignore[arg-type]
        return made[-1]

    yield make
    for pool in made:
        pool.close()


def request(code: int = 30) -> RemotingCommand:
    return RemotingCommand.request(code, {"topic": "t"})


def test_a_pooled_tls_connection_the_server_closed_is_replaced_transparently(serve, pools, pki):
    # GIVEN a TLS connection left idle in the pool, then closed by the server
    server = serve(echo)
    pool = pools(tls=pki.tls())
    assert pool.request(server.addr, request(), 5.0).ext_fields["connection"] == "1"
    (idle,) = pool.idle_connections(server.addr)
    assert idle.tls
    server.drop_connections()
    assert readable([idle.fileno()], 10.0), "the server's close never reached the client"

    # WHEN the next request is made
    answer = pool.request(server.addr, request(), 5.0)

    # THEN it is answered on a new connection, without an error
    assert answer.ext_fields["connection"] == "2"
    assert (server.accepted, pool.opened) == (2, 2) and idle.closed


def test_an_answer_already_decrypted_in_the_ssl_socket_is_ready(serve, pools, pki):
    # GIVEN two requests on one TLS connection, answered together in one write (one TLS record)
    held: list[RemotingCommand] = []

    def both_at_once(number: int, req: RemotingCommand) -> bytes | None:
        held.append(req)
        return b"".join(answer_to(r, n=str(i)) for i, r in enumerate(held)) if len(held) == 2 else None

    server = serve(both_at_once)
    pool = pools(tls=pki.tls())
    conn = Connection.open(server.addr, 5.0, tls=pki.tls())
    first, second = request(), request()
    conn.write(first, 5.0)
    conn.write(second, 5.0)

    # WHEN the first answer is read: the record held both, so the second is decrypted and waiting
    assert conn.read_answer(first, 5.0).ext_fields["n"] == "0"
    in_flight = InFlight(pool, server.addr, second, 5.0, conn, reused=False)
    assert conn.pending() > 0
    assert not readable([conn.fileno()], 0), "premise: the raw socket has nothing more to read"

    # THEN the request in flight is ready, and waiting for it returns at once
    assert in_flight.fileno() == -1 and in_flight.ready()
    assert wait_any([in_flight], 30.0) == [in_flight]
    answer = in_flight.answer()
    assert (answer.opaque, answer.ext_fields["n"]) == (second.opaque, "1")
    assert pool.idle_connections(server.addr) == [conn]


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set to let a ``held_until`` server answer; set at the end of the test whatever happened."""
    event = threading.Event()
    yield event
    event.set()


def held_until(release: threading.Event, body: bytes = b"") -> Handler:
    """Answers a request only once ``release`` is set, as a broker holds a long poll."""

    def handler(number: int, req: RemotingCommand) -> bytes:
        assert release.wait(30), "the test never released the answer"
        return RemotingCommand(code=0, ext_fields={"held": "yes"}, flag=FLAG_RESPONSE, opaque=req.opaque,
                               body=body).encode()

    return handler


def test_session_tickets_after_the_handshake_do_not_make_a_held_request_ready(serve, pools, pki, release):
    # GIVEN a TLS 1.3 server that sends session tickets, and a request it holds (a long poll)
    server = serve(held_until(release), tickets=2)
    pool = pools(tls=pki.tls())
    in_flight = pool.begin(server.addr, request(), 30.0)
    assert in_flight.conn.tls and in_flight.conn._sock.version() == "TLSv1.3"
    assert readable([in_flight.fileno()], 10.0), "premise: the tickets arrived, the raw socket is readable"

    # WHEN readiness is asked: THEN it is not ready, and the tickets were consumed
    assert not in_flight.ready()
    assert in_flight.fileno() >= 0 and not readable([in_flight.fileno()], 0)
    assert not in_flight.ready()

    # ... and once the server answers, it is ready, and the answer reads whole
    release.set()
    assert readable([in_flight.fileno()], 30.0)
    assert in_flight.ready()
    answer = in_flight.answer()
    assert answer.ext_fields["held"] == "yes" and pool.idle_connections(server.addr) == [in_flight.conn]


def test_wait_any_sleeps_through_session_tickets_until_the_answer_arrives(serve, pools, pki, release):
    # GIVEN a held request on a connection whose session tickets have arrived but not been read
    body = bytes(range(256)) * 1024  # 256 KiB: more than one readiness check reads, over many TLS records
    server = serve(held_until(release, body), tickets=2)
    pool = pools(tls=pki.tls())
    in_flight = pool.begin(server.addr, request(), 30.0)
    assert readable([in_flight.fileno()], 10.0), "premise: the tickets arrived"

    # WHEN waiting for it: the tickets alone do not end the wait
    assert wait_any([in_flight], 0.2) == []

    # THEN the answer does, and its frame is read whole from what the check read plus the socket
    release.set()
    assert wait_any([in_flight], 30.0) == [in_flight]
    answer = in_flight.answer()
    assert answer.ext_fields["held"] == "yes" and answer.body == body


def test_a_tls_connection_closed_while_a_request_is_held_is_ready_and_fails_at_once(serve, pools, pki, release):
    server = serve(held_until(release), tickets=2)
    pool = pools(tls=pki.tls())
    in_flight = pool.begin(server.addr, request(), 30.0)
    assert readable([in_flight.fileno()], 10.0) and not in_flight.ready()  # the tickets, consumed

    server.drop_connections()

    assert wait_any([in_flight], 30.0) == [in_flight] and in_flight.ready()
    with pytest.raises(BrokerUnavailableError, match="connection to .* failed"):
        in_flight.answer()


def test_a_pooled_connection_that_received_session_tickets_is_reused(serve, pools, pki):
    server = serve(echo, tickets=2)
    pool = pools(tls=pki.tls())
    assert pool.request(server.addr, request(), 5.0).ext_fields["connection"] == "1"

    assert pool.request(server.addr, request(), 5.0).ext_fields["connection"] == "1"
    assert pool.opened == 1


def test_an_unknown_ca_fails_the_handshake_with_a_clear_tls_error(serve, pools, tmp_path):
    server = serve(echo)
    other_ca = make_ca(tmp_path / "other.key", tmp_path / "other.pem", "another CA")
    pool = pools(tls=Tls(ca_file=str(other_ca)))

    with pytest.raises(TlsError) as info:
        pool.request(server.addr, request(), 5.0)

    text = str(info.value)
    assert not isinstance(info.value, TlsRequiredError)
    assert f"TLS handshake with {server.addr} failed: certificate verify failed" in text
    assert str(other_ca) in text and "'127.0.0.1'" in text


def test_a_certificate_for_another_host_name_fails_the_handshake(serve, pools, pki):
    server = serve(echo)
    pool = pools(tls=Tls(ca_file=str(pki.ca_cert), server_name="broker.example.com"))

    with pytest.raises(TlsError, match=r"certificate verify failed: Hostname mismatch.*'broker\.example\.com'"):
        pool.request(server.addr, request(), 5.0)


def test_a_plaintext_client_to_a_tls_server_is_told_tls_may_be_required(serve, pools):
    server = serve(echo)
    pool = pools()

    with pytest.raises(TlsRequiredError) as info:
        pool.request(server.addr, request(), 5.0)

    assert "the server may require TLS" in str(info.value) and server.addr in str(info.value)
    assert pool.idle_connections(server.addr) == []


def test_the_ca_can_be_given_as_pem_text(serve, pools, pki):
    server = serve(echo)
    pool = pools(tls=Tls(ca_pem=Path(pki.ca_cert).read_text()))

    assert pool.request(server.addr, request(), 5.0).ext_fields["connection"] == "1"


class RawServer:
    """A plain TCP server whose every connection gets ``behaviour(connection)``: a server that is
    not what the client expects (one that dies mid-handshake, one that speaks another protocol)."""

    def __init__(self, behaviour: Callable[[socket.socket], None]) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.addr = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.behaviour = behaviour
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                try:
                    self.behaviour(conn)
                except OSError:
                    pass

    def close(self) -> None:
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        self.thread.join(timeout=10)


@pytest.fixture
def raw_server() -> Iterator[Callable[[Callable[[socket.socket], None]], RawServer]]:
    servers: list[RawServer] = []

    def start(behaviour: Callable[[socket.socket], None]) -> RawServer:
        servers.append(RawServer(behaviour))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def dies_mid_handshake(conn: socket.socket) -> None:
    conn.recv(4096)  # the ClientHello, then gone


def test_a_server_dying_mid_handshake_is_unavailable_not_a_tls_error(raw_server, pools, pki):
    server = raw_server(dies_mid_handshake)
    pool = pools(tls=pki.tls())

    with pytest.raises(BrokerUnavailableError) as info:
        pool.request(server.addr, request(), 5.0)

    assert not isinstance(info.value, TlsError)
    assert f"TLS handshake with {server.addr} failed" in str(info.value)


def test_the_next_name_server_is_asked_when_one_dies_mid_handshake(raw_server, serve, pki):
    dying, answering = raw_server(dies_mid_handshake), serve(echo)
    client = RocketMQClient(f"{dying.addr};{answering.addr}", security=Security(tls=pki.tls()),
                            pool=ConnectionPool(tls=pki.tls()))
    try:
        addr, answer = client._namesrv_request(105, {"topic": "t"})
    finally:
        client.close()

    assert addr == answering.addr and answer.ext_fields["connection"] == "1"


def test_a_server_speaking_another_protocol_is_a_tls_error(raw_server, pools, pki):
    def http(conn: socket.socket) -> None:
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        conn.recv(1)  # until the client gives up

    server = raw_server(http)
    pool = pools(tls=pki.tls())

    with pytest.raises(TlsError, match=f"TLS handshake with {server.addr} failed: .*may not serve TLS"):
        pool.request(server.addr, request(), 5.0)


def test_a_ca_bundle_that_does_not_load_is_a_tls_error_before_connecting(serve, pools):
    server = serve(echo)
    pool = pools(tls=Tls(ca_pem="-----BEGIN CERTIFICATE-----\nNOTACERTIFICATE\n-----END CERTIFICATE-----\n"))

    with pytest.raises(TlsError) as info:
        pool.request(server.addr, request(), 5.0)

    text = str(info.value)
    assert "cannot load the CA bundle given by reference" in text and server.addr in text
    assert "NOTACERTIFICATE" not in text
    assert server.accepted == 0  # no socket was opened, so none is left open


def test_only_the_given_ca_is_trusted_not_the_system_store(pki):
    context = Tls(ca_file=str(pki.ca_cert)).context()

    (only,) = context.get_ca_certs()
    assert dict(x[0] for x in only["subject"])["commonName"] == "connect-core test CA"
    assert context.cert_store_stats()["x509_ca"] == 1
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
