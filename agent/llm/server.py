"""A local OpenAI-compatible model server: `python -m llama_cpp.server` on a loopback port.

The demo starts one as its "edge model" so escalation can be shown on one machine, and the
tests start them to exercise the edge client against the real thing. On a real site the edge
is a bigger box (see docs/edge.md); this is the same protocol on the same machine.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx

from base.net import free_port
from base.errors import ModelError


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the process that started the server dies.

    The server runs in its own session (so that kill() reaches its whole group), which a killed
    parent's signals do not reach: without this, a demo or test run stopped by SIGKILL or a
    timeout leaves a model server running on the shared cores. The kernel signals when the
    starting *thread* ends, so start servers from a thread that outlives them (the main one).
    """
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class LocalLlamaServer:
    """One llama_cpp.server process serving a GGUF model with an API key; `kill()` plays a crash."""

    def __init__(self, logdir: Path, api_key: str, *, model: Path | None = None, threads: int = 1, startup_s: float = 90.0,
                 tls_cert: Path | None = None, tls_key: Path | None = None, tls_ca: Path | None = None) -> None:
        if importlib.util.find_spec("fastapi") is None or importlib.util.find_spec("sse_starlette") is None:
            raise ModelError("llama_cpp.server needs fastapi, uvicorn and sse-starlette: pip install -e . (or ./run setup)")
        from base.settings import LlmSettings
        from agent.llm.models import resolve_model

        self.api_key, self.tls_ca = api_key, tls_ca
        self.port = free_port()
        self.url = f"{'https' if tls_cert else 'http'}://127.0.0.1:{self.port}/v1"
        Path(logdir).mkdir(parents=True, exist_ok=True)
        self.log_path = Path(logdir) / f"llama-server-{self.port}.log"
        model = model or resolve_model(LlmSettings()).path
        # Few threads: the cores are shared with the hub's own model and encoders.
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1", "--port", str(self.port),
               "--n_ctx", "2048", "--n_threads", str(threads), "--n_threads_batch", str(threads), f"--api_key={api_key}"]
        if tls_cert and tls_key:
            cmd += ["--ssl_keyfile", str(tls_key), "--ssl_certfile", str(tls_cert)]
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
                                        preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        self._wait_ready(startup_s)

    def _wait_ready(self, startup_s: float) -> None:
        deadline = time.monotonic() + startup_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ModelError(f"llama_cpp.server exited with {self.process.returncode}: {self.log_tail(300)}")
            try:
                verify = ssl.create_default_context(cafile=str(self.tls_ca)) if self.tls_ca else True
                if httpx.get(f"{self.url}/models", timeout=1.0, verify=verify).status_code in (200, 401):
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise ModelError(f"llama_cpp.server did not answer within {startup_s:g} s; see {self.log_path}")

    def log_tail(self, n: int = 2000) -> str:
        """The end of the server's log."""
        return self.log_path.read_text(errors="replace")[-n:]

    def alive(self) -> bool:
        """The process is running."""
        return self.process.poll() is None

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
