"""An embedded MQTT broker for the demo and the tests: mosquitto on a free loopback port, else amqtt.

It never takes 1883, so it does not fight a broker already running there.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from base.errors import BrokerError
from base.net import free_port

log = logging.getLogger(__name__)

MOSQUITTO_PATHS = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")


def find_mosquitto() -> str | None:
    """Path of the mosquitto binary, if installed."""
    return shutil.which("mosquitto") or next((p for p in MOSQUITTO_PATHS if os.access(p, os.X_OK)), None)


@dataclass(slots=True, frozen=True)
class TlsFiles:
    """A CA certificate and a server certificate and key signed by it (PEM files)."""

    ca: Path
    cert: Path
    key: Path


def make_test_ca(directory: Path, host: str = "127.0.0.1") -> TlsFiles:
    """A self-signed CA and a server certificate for `host`, made with openssl (for tests and demos)."""
    directory.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(directory / "ca.crt", directory / "server.crt", directory / "server.key")
    ca_key, csr, ext = directory / "ca.key", directory / "server.csr", directory / "server.ext"
    ext.write_text(f"subjectAltName=IP:{host}\nbasicConstraints=CA:FALSE\n" if host[0].isdigit() else f"subjectAltName=DNS:{host}\n")
    steps = [
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", files.ca, "-days", "2", "-subj", "/CN=Tessera test CA"],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", files.key, "-out", csr, "-subj", f"/CN={host}"],
        ["x509", "-req", "-in", csr, "-CA", files.ca, "-CAkey", ca_key, "-CAcreateserial", "-out", files.cert, "-days", "2", "-extfile", ext],
    ]
    for step in steps:
        try:
            subprocess.run(["openssl", *map(str, step)], check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError) as err:
            raise BrokerError(f"could not make a test CA with openssl: {err}") from err
    return files


class EmbeddedBroker:
    """A private broker process on 127.0.0.1 with persistence, restartable on the same port.

    users: name -> password; when given, anonymous clients are refused.
    tls: certificate files; when given, a second listener on `tls_port` speaks TLS (`tls_url`).
    max_queued_messages: QoS 1 messages the broker holds per offline session; mosquitto's default
    of 1000 would drop frames during a long Tessera restart, so the default here is generous.
    """

    def __init__(self, workdir: Path | None = None, port: int | None = None, users: dict[str, str] | None = None,
                 *, tls: TlsFiles | None = None, max_queued_messages: int = 1_000_000, max_inflight_messages: int = 20) -> None:
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="tessera-broker-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.users = users or {}
        self.tls = tls
        self.tls_port = free_port() if tls else None
        self.max_queued_messages = max_queued_messages
        self.max_inflight_messages = max_inflight_messages  # per client, unacknowledged QoS 1 messages out
        self.kind = "mosquitto" if find_mosquitto() else "amqtt"
        self._proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """The broker's mqtt:// URL."""
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def tls_url(self) -> str:
        """The broker's mqtts:// URL (only with `tls`)."""
        if not self.tls_port:
            raise BrokerError("this embedded broker has no TLS listener; pass tls=make_test_ca(...)")
        return f"mqtts://127.0.0.1:{self.tls_port}"

    def start(self, timeout_s: float = 10.0) -> EmbeddedBroker:
        """Start the broker and wait until it accepts connections."""
        command = self._mosquitto_command() if self.kind == "mosquitto" else self._amqtt_command()
        log_file = (self.workdir / "broker.log").open("ab")
        self._proc = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, cwd=self.workdir)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                tail = (self.workdir / "broker.log").read_text(errors="replace").strip().splitlines()[-1:]
                raise BrokerError(f"embedded {self.kind} broker exited at start: {' '.join(tail) or 'no output'}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                log.info("embedded broker started", extra={"kind": self.kind, "port": self.port})
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise BrokerError(f"embedded {self.kind} broker did not listen on port {self.port} within {timeout_s:.0f} s")

    def stop(self) -> None:
        """Stop the broker (it keeps its persistence file for a restart)."""
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def kill(self) -> None:
        """Kill the broker without warning (SIGKILL), as a crash or power loss would; start() brings it back."""
        if self._proc and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    @property
    def pid(self) -> int | None:
        """The broker process id while it runs."""
        return self._proc.pid if self._proc and self._proc.poll() is None else None

    def restart(self) -> None:
        """Stop and start again on the same port, keeping persisted sessions and messages."""
        self.stop()
        self.start()

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _mosquitto_command(self) -> list[str]:
        lines = [
            f"listener {self.port} 127.0.0.1",
            "persistence true",
            f"persistence_location {self.workdir}/",
            "autosave_interval 1",
            "log_type error",
            "log_type warning",
            f"max_queued_messages {self.max_queued_messages}",
            f"max_inflight_messages {self.max_inflight_messages}",
        ]
        if self.tls:
            lines += [f"listener {self.tls_port} 127.0.0.1", f"cafile {self.tls.ca}", f"certfile {self.tls.cert}", f"keyfile {self.tls.key}"]
        if os.geteuid() == 0:
            lines.append("user root")  # otherwise mosquitto drops to a user that cannot write workdir
        if self.users:
            password_file = self.workdir / "passwords"
            password_file.write_text("")
            for name, password in self.users.items():
                subprocess.run(["mosquitto_passwd", "-b", str(password_file), name, password], check=True, capture_output=True)
            password_file.chmod(0o600)
            lines += ["allow_anonymous false", f"password_file {password_file}"]
        else:
            lines.append("allow_anonymous true")
        conf = self.workdir / "mosquitto.conf"
        conf.write_text("\n".join(lines) + "\n")
        return [find_mosquitto() or "mosquitto", "-c", str(conf)]

    def _amqtt_command(self) -> list[str]:
        try:
            import amqtt  # noqa: F401
        except ImportError:
            raise BrokerError("no MQTT broker available: install mosquitto (apt-get install mosquitto) or pip install amqtt") from None
        if self.users:
            raise BrokerError("the amqtt fallback broker does not support users here; install mosquitto")
        conf = self.workdir / "amqtt.yaml"
        conf.write_text(f"listeners:\n  default:\n    type: tcp\n    bind: 127.0.0.1:{self.port}\nplugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n    allow_anonymous: true\n")
        return [sys.executable, "-m", "amqtt.scripts.broker_script", "-c", str(conf)]
