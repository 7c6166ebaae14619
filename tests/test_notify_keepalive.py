"""The webhook's kept-alive connection: one socket for many alarms, a stale one replaced
without losing the post, a proxy honoured by falling back to httpx."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator

import pytest

from alerting.notify.keepalive import KeepAlivePost, proxied
from tests.pki import make_ca

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class TinyServer:
    """Answers each request with 200 and remembers each connection it accepted; with
    `close_after_each`, closes the socket after answering without saying so, as a
    receiver's idle timeout does."""

    def __init__(self, close_after_each: bool, tls: ssl.SSLContext | None = None) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        if tls is not None:  # accept() then returns TLS sockets
            self.sock = tls.wrap_socket(self.sock, server_side=True)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.bodies: list[bytes] = []
        self._close = close_after_each
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except ssl.SSLError:
                continue  # a client that refused our certificate
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            buf = b""
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buf += chunk
                while b"\r\n\r\n" in buf:
                    head, rest = buf.split(b"\r\n\r\n", 1)
                    length = next(
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    )
                    if len(rest) < length:
                        break
                    self.bodies.append(rest[:length])
                    buf = rest[length:]
                    conn.sendall(ANSWER)
                    if self._close:
                        return

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def keeps() -> Iterator[TinyServer]:
    s = TinyServer(close_after_each=False)
    yield s
    s.close()


@pytest.fixture
def drops() -> Iterator[TinyServer]:
    s = TinyServer(close_after_each=True)
    yield s
    s.close()


def test_many_posts_share_one_connection(keeps: TinyServer) -> None:
    post = KeepAlivePost(f"http://127.0.0.1:{keeps.port}/hook", 2.0)
    statuses = [post.post(b'{"n":%d}' % i, {"Content-Type": "application/json"}) for i in range(5)]
    post.close()
    assert statuses == [200] * 5
    assert keeps.bodies == [b'{"n":%d}' % i for i in range(5)]
    assert keeps.connections == 1


def test_a_connection_the_receiver_closed_is_replaced_and_the_post_arrives(
    drops: TinyServer,
) -> None:
    post = KeepAlivePost(f"http://127.0.0.1:{drops.port}/hook", 2.0)
    statuses = [post.post(b"a", {}), post.post(b"b", {}), post.post(b"c", {})]
    post.close()
    assert statuses == [200, 200, 200]
    assert drops.bodies == [b"a", b"b", b"c"]  # each once, none lost
    assert drops.connections == 3


def test_no_receiver_raises_instead_of_retrying_forever() -> None:
    s = socket.create_server(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    post = KeepAlivePost(f"http://127.0.0.1:{port}/", 1.0)
    with pytest.raises(ConnectionRefusedError):
        post.post(b"x", {})


def test_a_url_that_is_not_http_is_refused() -> None:
    with pytest.raises(ValueError, match="http"):
        KeepAlivePost("ftp://example.org/x", 1.0)


def test_a_proxy_in_the_environment_is_noticed(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
    assert not proxied("http://brigade.example/hook")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    assert proxied("http://brigade.example/hook")
    assert not proxied("https://brigade.example/hook")
    monkeypatch.setenv("NO_PROXY", "brigade.example")
    assert not proxied("http://brigade.example/hook")


def test_an_https_receiver_with_a_trusted_certificate_gets_every_post_on_one_connection(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The brigade's webhook is https: the fast path checks its certificate against the
    system's trust store (here a private CA, by SSL_CERT_FILE) and keeps the connection."""
    ca, cert, key = make_ca(tmp_path / "pki")
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    server = TinyServer(close_after_each=False, tls=tls)
    try:
        monkeypatch.setenv("SSL_CERT_FILE", str(ca))
        post = KeepAlivePost(f"https://127.0.0.1:{server.port}/hook", 5.0)
        assert [post.post(b"%d" % i, {}) for i in range(3)] == [200, 200, 200]
        post.close()
        assert server.bodies == [b"0", b"1", b"2"]
        assert server.connections == 1
    finally:
        server.close()


def test_an_https_receiver_whose_certificate_is_not_trusted_gets_nothing(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A certificate the trust store does not vouch for is an error (the worker retries
    later), never a post sent to whoever answered."""
    _ca, cert, key = make_ca(tmp_path / "pki")
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    server = TinyServer(close_after_each=False, tls=tls)
    try:
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "none.pem"))
        post = KeepAlivePost(f"https://127.0.0.1:{server.port}/hook", 5.0)
        with pytest.raises(ssl.SSLCertVerificationError):
            post.post(b"secret", {})
        assert server.bodies == []
    finally:
        server.close()
