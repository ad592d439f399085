"""The connection pool against a scripted fake server: timeouts, broken connections, the one
reconnect, idle expiry, concurrency and odd frames. No broker needed."""

from __future__ import annotations

import socket
import struct
import threading
import time
from typing import Callable

import pytest

from connect_core.errors import RetriableError
from connect_core.rocketmq.errors import BrokerUnavailableError, ProtocolError
from connect_core.rocketmq.protocol import FLAG_RESPONSE, RemotingCommand, decode_frame
from connect_core.rocketmq.connection import ConnectionPool
from connect_core.rocketmq.flight import wait_any

DROP = "drop"  # a handler's answer: close the connection without replying
SILENCE = "silence"  # a handler's answer: never reply
# A handler's answer may also be raw bytes, or a list of byte chunks sent PAUSE_S apart.
PAUSE_S = 0.3


class FakeServer:
    """Answers each request with ``handler(connection number, request)``: a RemotingCommand, DROP or SILENCE."""

    def __init__(self, handler: Callable[[int, RemotingCommand], object]) -> None:
        self.handler = handler
        self.server = socket.create_server(("127.0.0.1", 0))
        self.addr = f"127.0.0.1:{self.server.getsockname()[1]}"
        self.accepted = 0
        self.requests: list[tuple[int, int]] = []  # (connection number, request code)
        self.open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.accepted += 1
            self.open.append(conn)
            threading.Thread(target=self._serve, args=(conn, self.accepted), daemon=True).start()

    def _serve(self, conn: socket.socket, number: int) -> None:
        try:
            while True:
                head = conn.recv(4, socket.MSG_WAITALL)
                if len(head) < 4:
                    return
                frame = conn.recv(struct.unpack(">i", head)[0], socket.MSG_WAITALL)
                request = decode_frame(frame)
                self.requests.append((number, request.code))
                answer = self.handler(number, request)
                if answer == DROP:
                    return
                if answer == SILENCE:
                    continue
                if isinstance(answer, bytes):
                    conn.sendall(answer)
                elif isinstance(answer, list):
                    for i, chunk in enumerate(answer):
                        if i:
                            time.sleep(PAUSE_S)
                        conn.sendall(chunk)
                else:
                    if answer.opaque == 0:
                        answer.opaque = request.opaque
                    conn.sendall(answer.encode())
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.server.close()
        for conn in self.open:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def ok(code: int = 0, **ext: str) -> RemotingCommand:
    return RemotingCommand(code=code, ext_fields=ext, flag=FLAG_RESPONSE)


@pytest.fixture
def serve():
    servers: list[FakeServer] = []

    def start(handler) -> FakeServer:
        servers.append(FakeServer(handler))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def ask(pool: ConnectionPool, server: FakeServer, code: int = 30, timeout_s: float = 2.0) -> RemotingCommand:
    return pool.request(server.addr, RemotingCommand.request(code, {"topic": "t"}), timeout_s)


def test_answers_are_matched_and_the_connection_is_kept(serve):
    server = serve(lambda n, req: ok(offset=str(req.code)))
    pool = ConnectionPool()

    answers = [ask(pool, server, code) for code in (30, 31, 29)]

    assert [a.ext_fields["offset"] for a in answers] == ["30", "31", "29"]
    assert server.accepted == 1 and pool.opened == 1


def test_no_answer_within_the_timeout_is_broker_unavailable_and_the_connection_is_dropped(serve):
    server = serve(lambda n, req: SILENCE if n == 1 else ok())
    pool = ConnectionPool()

    started = time.monotonic()
    with pytest.raises(BrokerUnavailableError, match="no answer .* within 0.3s") as caught:
        ask(pool, server, timeout_s=0.3)
    assert 0.25 < time.monotonic() - started < 2 and isinstance(caught.value, RetriableError)

    assert ask(pool, server).code == 0 and server.accepted == 2  # the silent connection was not reused


def test_a_fresh_connection_that_breaks_is_not_retried(serve):
    server = serve(lambda n, req: DROP)
    pool = ConnectionPool()

    with pytest.raises(BrokerUnavailableError, match="connection to .* failed"):
        ask(pool, server)
    assert server.accepted == 1


def test_a_reused_connection_that_breaks_is_replaced_once(serve):
    # connection 1 answers once and drops the next request; connection 2 answers
    server = serve(lambda n, req: DROP if n == 1 and len(server.requests) == 2 else ok())
    pool = ConnectionPool()
    ask(pool, server)

    assert ask(pool, server).code == 0
    assert server.accepted == 2 and server.requests == [(1, 30), (1, 30), (2, 30)]


def test_only_one_reconnect_is_attempted(serve):
    server = serve(lambda n, req: ok() if len(server.requests) == 1 else DROP)
    pool = ConnectionPool()
    ask(pool, server)

    with pytest.raises(BrokerUnavailableError):
        ask(pool, server)
    assert server.accepted == 2


def test_idle_connections_are_replaced_before_the_broker_would_drop_them(serve):
    server = serve(lambda n, req: ok())
    pool = ConnectionPool(max_idle_s=0.1)
    ask(pool, server)
    time.sleep(0.2)

    ask(pool, server)

    assert server.accepted == 2 and [n for n, _ in server.requests] == [1, 2]


def test_a_connection_the_server_closed_while_idle_is_not_used(serve):
    server = serve(lambda n, req: ok())
    pool = ConnectionPool()
    ask(pool, server)
    server.open[0].shutdown(socket.SHUT_RDWR)
    time.sleep(0.1)

    ask(pool, server)

    assert [n for n, _ in server.requests] == [1, 2]


def test_concurrent_callers_get_their_own_connections(serve):
    gate = threading.Barrier(3, timeout=5)
    server = serve(lambda n, req: (gate.wait(), ok())[1])
    pool = ConnectionPool()
    results: list[int] = []

    threads = [threading.Thread(target=lambda: results.append(ask(pool, server, timeout_s=5).code)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert results == [0, 0, 0] and server.accepted == 3 and len(pool.idle_connections(server.addr)) == 3


def test_one_thread_keeps_requests_in_flight_on_several_connections(serve):
    # The server answers none of the three until all three have arrived: requests made one after
    # another would wait forever (the barrier breaks after 5 s and the test fails).
    gate = threading.Barrier(3, timeout=5)
    server = serve(lambda n, req: (gate.wait(), ok(offset=str(req.code)))[1])
    pool = ConnectionPool()

    flying = [pool.begin(server.addr, RemotingCommand.request(code, {"topic": "t"}), 5) for code in (30, 31, 29)]
    answers = [request.answer() for request in reversed(flying)]

    assert [a.ext_fields["offset"] for a in answers] == ["29", "31", "30"]
    assert server.accepted == 3 and len(pool.idle_connections(server.addr)) == 3
    with pytest.raises(RuntimeError, match="read already"):
        flying[0].answer()


def test_an_answer_read_after_the_timeout_has_passed_is_still_taken(serve):
    # A pull written before a Lambda instance is frozen is read after it thaws, long after its
    # timeout: the answer is in the socket, and the timeout counts only the wait for it.
    server = serve(lambda n, req: ok(offset="7"))
    pool = ConnectionPool()

    request = pool.begin(server.addr, RemotingCommand.request(30, {"topic": "t"}), 0.05)
    time.sleep(0.2)

    assert request.answer().ext_fields["offset"] == "7"
    assert len(pool.idle_connections(server.addr)) == 1  # and the connection is kept


def test_a_cancelled_request_closes_its_connection(serve):
    server = serve(lambda n, req: ok())
    pool = ConnectionPool()

    request = pool.begin(server.addr, RemotingCommand.request(30, {"topic": "t"}), 2)
    request.cancel()  # its answer is never read, so the connection cannot serve another request

    assert pool.idle_connections(server.addr) == []
    assert ask(pool, server).code == 0 and server.accepted == 2


def test_a_request_in_flight_on_a_reused_connection_that_breaks_is_sent_again_once(serve):
    # connection 1 answers once and drops the next request; connection 2 answers
    server = serve(lambda n, req: DROP if n == 1 and len(server.requests) == 2 else ok())
    pool = ConnectionPool()
    ask(pool, server)

    request = pool.begin(server.addr, RemotingCommand.request(30, {"topic": "t"}), 2)

    assert request.answer().code == 0
    assert server.requests == [(1, 30), (1, 30), (2, 30)]


def test_server_requests_are_skipped_and_an_answer_with_another_opaque_is_taken(serve):
    push = RemotingCommand(code=40, opaque=999).encode()  # a request from the server, flag 0
    server = serve(lambda n, req: push + RemotingCommand(code=0, opaque=req.opaque + 1000, flag=FLAG_RESPONSE).encode())
    pool = ConnectionPool()

    assert ask(pool, server).code == 0


def test_an_absurd_frame_length_is_a_protocol_error(serve):
    server = serve(lambda n, req: struct.pack(">i", 2**30))
    pool = ConnectionPool()

    with pytest.raises(ProtocolError, match="out of range"):
        ask(pool, server)
    assert pool.idle_connections(server.addr) == []


def test_close_drops_idle_connections(serve):
    server = serve(lambda n, req: ok())
    pool = ConnectionPool()
    ask(pool, server)

    pool.close()

    assert pool.idle_connections(server.addr) == []
    ask(pool, server)
    assert server.accepted == 2


# ----------------------------------------------------------------- ready, wait_any (long polls)

def held(gates: dict[int, threading.Event]):
    """A handler that answers a request only once the gate of its code is set (a held long poll)."""
    def handler(n: int, req: RemotingCommand) -> RemotingCommand:
        gates[req.code].wait(10)
        return ok(offset=str(req.code))
    return handler


def begin(pool: ConnectionPool, server: FakeServer, code: int = 30, timeout_s: float = 5.0, **options):
    return pool.begin(server.addr, RemotingCommand.request(code, {"topic": "t"}), timeout_s, **options)


def test_a_request_is_ready_once_its_answer_has_arrived(serve):
    gates = {30: threading.Event()}
    server = serve(held(gates))
    pool = ConnectionPool()

    request = begin(pool, server)
    assert not request.ready() and wait_any([request], 0.05) == []
    gates[30].set()

    assert wait_any([request], 5) == [request] and request.ready()
    assert request.answer().ext_fields["offset"] == "30"


def test_wait_any_returns_the_requests_that_were_answered_and_leaves_the_others_in_flight(serve):
    gates = {code: threading.Event() for code in (29, 30, 31)}
    gates[31].set()
    server = serve(held(gates))
    pool = ConnectionPool()
    requests = [begin(pool, server, code) for code in (29, 30, 31)]

    assert wait_any(requests, 5) == [requests[2]]
    assert requests[2].answer().ext_fields["offset"] == "31"
    assert not requests[0].ready() and not requests[1].ready()  # still in flight, answered later
    gates[29].set()
    assert wait_any(requests[:2], 5) == [requests[0]]
    gates[30].set()
    assert [r.answer().ext_fields["offset"] for r in requests[:2]] == ["29", "30"]


def test_wait_any_sleeps_until_its_timeout_when_nothing_is_answered(serve):
    server = serve(lambda n, req: SILENCE)
    pool = ConnectionPool()
    requests = [begin(pool, server) for _ in range(3)]

    started, cpu = time.monotonic(), time.process_time()
    assert wait_any(requests, 0.5) == []
    elapsed, cpu_used = time.monotonic() - started, time.process_time() - cpu

    assert elapsed >= 0.5 and cpu_used < 0.2  # waited in the kernel, not in a loop
    assert wait_any([], 5) == []  # nothing to wait on: at once


def test_a_partly_arrived_answer_is_ready_and_read_whole(serve):
    # The answer's first bytes arrive, the rest PAUSE_S later: readable, and reading takes the whole frame.
    frame = ok(offset="7").encode()
    server = serve(lambda n, req: [frame[:10], frame[10:]])
    pool = ConnectionPool()
    request = begin(pool, server)

    assert wait_any([request], 5) == [request]
    assert request.answer().ext_fields["offset"] == "7"


def test_a_failed_or_cancelled_request_is_ready_at_once(serve):
    server = serve(lambda n, req: DROP)
    pool = ConnectionPool()
    dropped, cancelled = begin(pool, server), begin(pool, server)
    cancelled.cancel()

    assert wait_any([dropped, cancelled], 5) == [cancelled]  # closed here: no need to wait at all
    assert cancelled.fileno() == -1 and cancelled.ready()
    assert wait_any([dropped], 5) == [dropped]  # the server closed it: reading fails at once
    with pytest.raises(BrokerUnavailableError):
        dropped.answer()


def test_without_resend_a_broken_reused_connection_fails_the_request_instead_of_writing_it_again(serve):
    # A long poll read once ready must not be written again: the new one would be held by the broker.
    server = serve(lambda n, req: ok() if len(server.requests) == 1 else DROP)
    pool = ConnectionPool()
    ask(pool, server)

    request = begin(pool, server, resend=False)
    assert wait_any([request], 5) == [request]
    with pytest.raises(BrokerUnavailableError):
        request.answer()
    assert server.accepted == 1 and len(server.requests) == 2


def test_a_request_is_overdue_when_no_answer_came_within_its_timeout_of_the_write(serve):
    server = serve(lambda n, req: SILENCE if req.code == 30 else ok())
    pool = ConnectionPool()
    silent, answered = begin(pool, server, 30, timeout_s=0.1), begin(pool, server, 31, timeout_s=0.1)

    assert not silent.overdue()
    time.sleep(0.3)

    assert silent.overdue()
    assert not answered.overdue()  # an answer read late (a frozen function) is not overdue
    assert answered.answer().code == 0


def test_the_client_is_standard_library_only_and_connects_on_first_use():
    import subprocess
    import sys

    code = ("import sys; before = set(sys.modules); "
            "from connect_core.rocketmq import RocketMQClient, connection; "
            "RocketMQClient('127.0.0.1:9876;127.0.0.1:9877'); "
            "extra = {m.split('.')[0] for m in set(sys.modules) - before} - set(sys.stdlib_module_names); "
            "print(sorted(extra), connection._shared_pools)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["['connect_core']", "{}"]
