"""A real OpenAI-compatible edge server for tests: `python -m llama_cpp.server` on a free loopback port."""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


class EdgeServer:
    """One llama_cpp.server process serving the default model, with an API key."""

    def __init__(self, logdir: Path, api_key: str = "edge-test-key", startup_s: float = 90.0, tls: TestPki | None = None) -> None:
        if importlib.util.find_spec("fastapi") is None or importlib.util.find_spec("sse_starlette") is None:
            raise RuntimeError("llama_cpp.server needs its extras: pip install -e '.[test]' (or ./run setup)")
        from agent.config import LlmSettings
        from agent.llm.models import resolve_model

        self.api_key = api_key
        self.port = free_port()
        self.tls = tls
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}/v1"
        self.log_path = Path(logdir) / f"edge-server-{self.port}.log"
        model = resolve_model(LlmSettings()).path
        # One thread: the test machine's cores are shared, and two spinning threads per server
        # slow every token many times over when something else runs.
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1", "--port", str(self.port),
               "--n_ctx", "2048", "--n_threads", "1", "--n_threads_batch", "1", "--api_key", api_key]
        if tls is not None:
            cmd += ["--ssl_keyfile", str(tls.key), "--ssl_certfile", str(tls.cert)]
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_ready(startup_s)

    def _wait_ready(self, startup_s: float) -> None:
        deadline = time.monotonic() + startup_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with {self.process.returncode}: {self.log_tail()}")
            try:
                verify = ssl.create_default_context(cafile=str(self.tls.ca)) if self.tls else True
                if httpx.get(f"{self.url}/models", timeout=1.0, verify=verify).status_code in (200, 401):
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"llama_cpp.server did not answer within {startup_s:g} s: {self.log_tail()}")

    def log_tail(self, n: int = 2000) -> str:
        """The end of the server's log."""
        return self.log_path.read_text(errors="replace")[-n:]

    def kill(self) -> None:
        """Kill the server at once, as a crash or a power cut would."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        """Stop the server politely, then firmly."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


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
