"""A real OpenAI-compatible edge server for tests: `python -m llama_cpp.server` on a free loopback port."""

from __future__ import annotations

import socket
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from agent.ingest.broker import free_port
from agent.llm.server import LocalLlamaServer


@dataclass(frozen=True)
class TestPki:
    """A private CA and a server certificate it signed for 127.0.0.1."""

    ca: Path
    cert: Path
    key: Path

    __test__ = False  # not a test class, despite its name

    @classmethod
    def make(cls, workdir: Path) -> TestPki:
        """Create the CA and the server certificate with the openssl command."""
        d = Path(workdir)

        def run(*args: str) -> None:
            subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)

        run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Tessera test CA")
        run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
        (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
        run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem",
            "-days", "2", "-extfile", "ext.cnf")
        return cls(ca=d / "ca.pem", cert=d / "server.pem", key=d / "server.key")


class EdgeServer(LocalLlamaServer):
    """One llama_cpp.server process serving the default model, with an API key (one thread: shared cores)."""

    def __init__(self, logdir: Path, api_key: str = "edge-test-key", startup_s: float = 90.0, tls: TestPki | None = None) -> None:
        super().__init__(logdir, api_key, startup_s=startup_s, tls_cert=tls.cert if tls else None, tls_key=tls.key if tls else None,
                         tls_ca=tls.ca if tls else None)
        self.tls = tls


class SilentServer:
    """A loopback socket that accepts connections and never answers (a hung edge box), or drips bytes forever."""

    def __init__(self, drip_s: float | None = None) -> None:
        self.drip_s = drip_s  # when set: answer headers at once, then one body byte every drip_s, forever
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.accepted = 0
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self._sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            self.accepted += 1
            self._held.append(conn)  # read nothing, answer nothing, keep it open
            if self.drip_s is not None:
                threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        try:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
            while not self._stop.wait(self.drip_s):
                conn.sendall(b" ")
        except OSError:
            pass

    def close(self) -> None:
        """Stop accepting and drop every held connection."""
        self._stop.set()
        self._thread.join(2)
        for conn in self._held:
            conn.close()
        self._sock.close()
