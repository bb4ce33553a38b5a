"""Connecting to the MQTT broker with paho-mqtt 2.x: MQTT 5 by default, TLS and credentials from config."""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from base.settings import MqttSettings
from base.errors import BrokerError

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


UNSUPPORTED_PROTOCOL = {1, 0x84}  # CONNACK codes for "unacceptable protocol version" in 3.1.1 and 5


def connect(
    settings: MqttSettings,
    client_id: str,
    *,
    will: tuple[str, str] | None = None,
    clean_start: bool = True,
    timeout_s: float = 10.0,
    session_expiry_s: int | None = None,
    on_connect: Callable[[mqtt.Client, bool], None] | None = None,
) -> mqtt.Client:
    """A connected client with its network loop running; BrokerError says why when it cannot connect.

    MQTT 5 first (3.1.1 when mqtt.protocol says so, or when the broker refuses 5 and protocol is auto).
    With clean_start=False the broker keeps the session (subscriptions and queued QoS 1 messages) for
    session_expiry_s after a disconnect. After the first connection paho reconnects by itself with
    exponential backoff between mqtt.reconnect_min_s and reconnect_max_s; `on_connect(client,
    session_present)` runs on every connection, so callers (re)subscribe there.
    """
    protocols = {"5": [mqtt.MQTTv5], "3.1.1": [mqtt.MQTTv311], "auto": [mqtt.MQTTv5, mqtt.MQTTv311]}[settings.protocol]
    for protocol in protocols:
        client, reason = _try_connect(settings, client_id, protocol, will, clean_start, timeout_s, session_expiry_s, on_connect)
        if not reason.is_failure:
            log.info("mqtt connected", extra={"url": settings.url, "client_id": client_id, "protocol": "5" if protocol == mqtt.MQTTv5 else "3.1.1"})
            return client
        if reason.value not in UNSUPPORTED_PROTOCOL:
            raise BrokerError(f"MQTT broker at {settings.url} refused the connection: {reason}; check mqtt.username and mqtt.password")
        log.info("broker refused this MQTT version", extra={"url": settings.url, "protocol": protocol})
    raise BrokerError(f"MQTT broker at {settings.url} refused the connection: {reason}; set mqtt.protocol to auto or 3.1.1")


def _try_connect(settings, client_id, protocol, will, clean_start, timeout_s, session_expiry_s, on_connect):
    address = BrokerAddress.parse(settings.url)
    v5 = protocol == mqtt.MQTTv5
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol, clean_session=None if v5 else clean_start)
    if settings.username:
        client.username_pw_set(settings.username, settings.password.get_secret_value() if settings.password else None)
    if address.tls:
        client.tls_set(ca_certs=str(settings.tls_ca) if settings.tls_ca else None, cert_reqs=ssl.CERT_REQUIRED)
    if will:
        client.will_set(will[0], will[1], qos=1, retain=True)
    client.reconnect_delay_set(settings.reconnect_min_s, max(settings.reconnect_min_s, settings.reconnect_max_s))
    connected = threading.Event()
    outcome: dict[str, object] = {}

    def _on_connect(client_, _userdata, flags, reason_code, _properties) -> None:
        if connected.is_set() and not reason_code.is_failure:
            log.info("mqtt reconnected", extra={"client_id": client_id, "session_present": flags.session_present})
        if on_connect and not reason_code.is_failure:
            on_connect(client_, bool(flags.session_present))
        outcome.setdefault("reason", reason_code)
        connected.set()

    def _on_disconnect(_client, _userdata, _flags, reason_code, _properties) -> None:
        if connected.is_set() and reason_code.value != 0:  # 0: we disconnected on purpose
            log.warning("mqtt connection lost; reconnecting with backoff", extra={"client_id": client_id, "reason": str(reason_code)})

    client.on_connect = _on_connect
    client.on_disconnect = _on_disconnect
    kwargs: dict[str, object] = {}
    if v5:
        kwargs["clean_start"] = clean_start
        if session_expiry_s is not None:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = session_expiry_s
            kwargs["properties"] = props
    try:
        client.connect(address.host, address.port, keepalive=settings.keepalive_s, **kwargs)
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
    return client, reason


def close(client: mqtt.Client) -> None:
    """Disconnect cleanly (a persistent session stays at the broker) and stop the network loop."""
    client.disconnect()
    client.loop_stop()
