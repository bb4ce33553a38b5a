"""Connecting to the MQTT broker with paho-mqtt 2.x: MQTT 5 by default, TLS and credentials from config."""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from agent.config import MqttSettings
from agent.errors import BrokerError

log = logging.getLogger(__name__)


@dataclass(slots=True, frozen=True)
class BrokerAddress:
    """Host, port and whether TLS is on, parsed from an mqtt:// or mqtts:// URL."""

    host: str
    port: int
    tls: bool

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        """Parse `mqtt://host[:port]` (default 1883) or `mqtts://host[:port]` (default 8883)."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise BrokerError(f"broker URL {url!r} is not mqtt://host:port or mqtts://host:port")
        tls = parts.scheme == "mqtts"
        return cls(parts.hostname, parts.port or (8883 if tls else 1883), tls)


def broker_answers(url: str, timeout_s: float = 1.0) -> bool:
    """True when something accepts TCP connections at the broker URL's address."""
    address = BrokerAddress.parse(url)
    try:
        with socket.create_connection((address.host, address.port), timeout=timeout_s):
            return True
    except OSError:
        return False


def connect(
    settings: MqttSettings,
    client_id: str,
    *,
    will: tuple[str, str] | None = None,
    clean_start: bool = True,
    timeout_s: float = 10.0,
) -> mqtt.Client:
    """A connected MQTT 5 client with its network loop running; BrokerError says why when it cannot connect."""
    address = BrokerAddress.parse(settings.url)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    if settings.username:
        client.username_pw_set(settings.username, settings.password.get_secret_value() if settings.password else None)
    if address.tls:
        client.tls_set(ca_certs=str(settings.tls_ca) if settings.tls_ca else None, cert_reqs=ssl.CERT_REQUIRED)
    if will:
        client.will_set(will[0], will[1], qos=1, retain=True)
    connected = threading.Event()
    outcome: dict[str, object] = {}

    def on_connect(_client, _userdata, _flags, reason_code, _properties) -> None:
        outcome["reason"] = reason_code
        connected.set()

    client.on_connect = on_connect
    try:
        client.connect(address.host, address.port, keepalive=settings.keepalive_s, clean_start=clean_start)
    except ssl.SSLError as err:
        raise BrokerError(f"TLS handshake with {settings.url} failed: {err.reason or err}; check mqtt.tls_ca") from err
    except OSError as err:
        raise BrokerError(f"cannot reach MQTT broker at {settings.url}: {err.strerror or err}; start a broker or fix mqtt.url") from err
    client.loop_start()
    if not connected.wait(timeout_s):
        client.loop_stop()
        raise BrokerError(f"MQTT broker at {settings.url} did not answer within {timeout_s:.0f} s")
    reason = outcome["reason"]
    if reason.is_failure:
        client.loop_stop()
        client.disconnect()
        raise BrokerError(f"MQTT broker at {settings.url} refused the connection: {reason}; check mqtt.username and mqtt.password")
    log.info("mqtt connected", extra={"url": settings.url, "client_id": client_id})
    return client
