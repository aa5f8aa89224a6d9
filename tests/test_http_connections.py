"""Slow, idle and oversized HTTP clients (issue 10, defect 12): they time out or get a readable
answer, and never lock normal clients out."""

from __future__ import annotations

import resource
import socket

import httpx
import pytest

from helpers.polling import eventually
from test_control_support import serve
from viewbox.config import Settings


def _closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


@pytest.fixture
def many_files():
    """Room for a few thousand sockets in this process (client and server ends)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 8192 if hard == resource.RLIM_INFINITY else max(soft, min(hard, 8192))
    if wanted > hard:
        hard = wanted  # root may raise it
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_slow_headers_time_out_and_normal_clients_are_served(tmp_path):
    """0.1.0: 50 connections sending half a request were still open after 43 s."""
    settings = Settings(data_root=tmp_path / "root", dicom_enabled=False, http_request_timeout=1.0)
    with serve(settings) as server:
        slow = []
        for _ in range(50):
            sock = socket.create_connection(("127.0.0.1", server.http_port))
            sock.sendall(b"GET /?methodName=GetJob HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            sock.setblocking(False)
            slow.append(sock)
        assert httpx.get(server.base_url + "/?methodName=CloseAllWindows").status_code == 200
        eventually(lambda: all(_closed(sock) for sock in slow), timeout=30, message="slow clients closed")
        with httpx.Client() as client:  # an idle keep-alive connection goes the same way
            assert client.get(server.base_url + "/?methodName=CloseAllWindows").status_code == 200
            connection_count = len(server.server.server_state.connections)
            eventually(lambda: len(server.server.server_state.connections) < connection_count, timeout=30,
                       message="idle keep-alive connection closed")
            assert client.get(server.base_url + "/?methodName=CloseAllWindows").status_code == 200
        for sock in slow:
            sock.close()


def test_a_flood_of_idle_connections_does_not_lock_out_normal_clients(tmp_path, many_files):
    """0.1.0: 1,100 idle connections pushed every normal client to 503."""
    settings = Settings(data_root=tmp_path / "root", dicom_enabled=False)
    with serve(settings) as server:
        idle = [socket.create_connection(("127.0.0.1", server.http_port)) for _ in range(1100)]
        try:
            eventually(lambda: len(server.server.server_state.connections) >= 850, timeout=60,
                       message="the idle connections accepted")
            with httpx.Client(timeout=30) as client:
                for _ in range(20):
                    reply = client.get(server.base_url + "/?methodName=CloseAllWindows",
                                       headers={"Connection": "close"})
                    assert reply.status_code == 200, reply.text
        finally:
            for sock in idle:
                sock.close()


def test_an_oversized_body_gets_a_readable_413(tmp_path):
    """0.1.0: a client that sends its whole body before reading (Connection: close, as urllib
    does) got a reset instead of the 413."""
    settings = Settings(data_root=tmp_path / "root", dicom_enabled=False)
    with serve(settings) as server:
        size = 24 * 1024 * 1024
        with socket.create_connection(("127.0.0.1", server.http_port)) as sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                         b"Content-Type: text/xml\r\nContent-Length: %d\r\n\r\n" % size)
            chunk = b"x" * (1 << 20)
            for _ in range(size // len(chunk)):
                sock.sendall(chunk)
            answer = b""
            while data := sock.recv(65536):
                answer += data
        assert answer.startswith(b"HTTP/1.1 413") and b"over the limit" in answer
        assert httpx.get(server.base_url + "/?methodName=CloseAllWindows").status_code == 200
