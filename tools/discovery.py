"""Devices learnt from Home Assistant MQTT discovery, and commands in the form such devices expect.

Zigbee2MQTT, Tasmota, ESPHome and Tessera's own simulated devices announce themselves
with a retained config on `homeassistant/<component>/[<node_id>/]<object_id>/config`.
`learn` turns one into a registry entity (name, area from `device.suggested_area`,
device class, and its MQTT topics); `command_message` writes a command the way Home
Assistant's MQTT integration would (ON/OFF, LOCK/UNLOCK, OPEN/CLOSE, JSON-schema lights,
one topic per climate attribute). Entities without discovery topics get Tessera's own
`{"service": ...}` JSON on `<prefix>/<site>/<entity_id>/set`.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from typing import Any

from pydantic import ValidationError

from tools.home import Entity, Home

log = logging.getLogger(__name__)

DISCOVERY_TOPICS = ("homeassistant/+/+/config", "homeassistant/+/+/+/config")
COMPONENTS = ("light", "switch", "fan", "climate", "cover", "lock", "sensor", "binary_sensor", "media_player")
TOPIC_KEYS = ("command_topic", "state_topic", "mode_state_topic", "set_position_topic", "temperature_command_topic", "mode_command_topic",
              "payload_on", "payload_off", "payload_lock", "payload_unlock", "payload_open", "payload_close", "schema")
_lock = threading.Lock()  # discovery arrives on the network thread while commands are planned on another


def learn(home: Home, topic: str, payload: bytes) -> Entity | None:
    """Add (or replace, or on an empty payload remove) the entity a discovery message announces."""
    parts = topic.split("/")
    if len(parts) not in (4, 5) or parts[0] != "homeassistant" or parts[-1] != "config" or parts[1] not in COMPONENTS:
        return None
    entity_id = f"{parts[1]}.{_slug('_'.join(parts[2:-1]))}"
    if not payload:
        with _lock:
            home.entities[:] = [e for e in home.entities if e.entity_id != entity_id]
        return None
    try:
        config = json.loads(payload)
        device = config.get("device") or {}
        name = config.get("name") or device.get("name") or parts[-2]
        area = home.area(device["suggested_area"]) if device.get("suggested_area") else None
        entity = Entity(entity_id=entity_id, name=str(name)[:80], area=area.id if area else None, device_class=config.get("device_class"),
                        attributes={"mqtt": {k: config[k] for k in TOPIC_KEYS if k in config}})
    except (json.JSONDecodeError, AttributeError, TypeError, ValidationError) as err:
        log.warning("ignored a discovery config", extra={"topic": topic, "error": str(err).splitlines()[0][:200]})
        return None
    with _lock:
        home.entities[:] = [e for e in home.entities if e.entity_id != entity_id] + [entity]
    log.info("learnt a device", extra={"entity_id": entity_id, "name": entity.name, "area": entity.area})
    return entity


def state_topics(entity: Entity) -> list[str]:
    """The topics a learnt entity reports its state on (none for entities of the home file)."""
    mqtt = entity.attributes.get("mqtt") or {}
    return list(dict.fromkeys(t for t in (mqtt.get("state_topic"), mqtt.get("mode_state_topic")) if t))


# What a JSON state message's keys mean in the registry's attributes (Home Assistant's names).
STATE_ATTRIBUTES = {"position": "current_position", "target": "temperature", "current": "current_temperature"}


def apply_state(entity: Entity, payload: bytes) -> bool:
    """Take a device's state message into the registry, as Home Assistant's MQTT entities read it; False if unreadable.

    JSON carries the state under "state" (or a climate's "mode", or a sensor's own device class,
    e.g. "temperature"); anything else is the state itself. States are lower case as in Home
    Assistant ("ON" is "on", "LOCKED" is "locked"); a JSON light's brightness 0-255 becomes percent.
    """
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        return False
    try:
        data: Any = json.loads(text)
    except ValueError:
        data = text
    if not isinstance(data, dict):
        data = {"state": data}
    value = next((data[k] for k in ("state", "mode", entity.device_class) if k and k in data), None)
    if value is None or isinstance(value, (dict, list)):
        return False
    entity.state = str(value).lower()[:60]
    for key, attribute in STATE_ATTRIBUTES.items():
        if isinstance(data.get(key), (int, float)):
            entity.attributes[attribute] = data[key]
    if entity.domain == "light" and isinstance(data.get("brightness"), (int, float)):
        entity.attributes["brightness"] = round(data["brightness"] * 100 / 255) if entity.state == "on" else 0
    return True


# The state a command leaves a device in, for devices that report none (Home Assistant's "optimistic" MQTT entities).
ASSUMED_STATE = {"turn_on": "on", "turn_off": "off", "lock": "locked", "unlock": "unlocked", "open_cover": "open", "close_cover": "closed",
                 "open_valve": "open", "close_valve": "closed"}
ASSUMING_DOMAINS = ("light", "switch", "fan", "lock", "cover", "valve")


def assume_state(entity: Entity, service: str) -> None:
    """After a command, the registry takes the state it leaves the device in, unless the device reports its own state."""
    if entity.domain in ASSUMING_DOMAINS and service in ASSUMED_STATE and not state_topics(entity):
        entity.state = ASSUMED_STATE[service]


def command_message(entity: Entity, service: str, data: dict[str, Any], default_topic: str) -> tuple[str, str]:
    """The (topic, payload) that carries `service` to `entity`."""
    mqtt = entity.attributes.get("mqtt") or {}
    topic = mqtt.get("command_topic")
    if not topic and not mqtt.get("temperature_command_topic"):
        return default_topic, json.dumps({"service": service, **data})
    domain = entity.domain
    if domain == "light" and mqtt.get("schema") == "json":
        body: dict[str, Any] = {"state": "OFF" if service == "turn_off" else "ON"}
        if "brightness_pct" in data:
            body["brightness"] = round(data["brightness_pct"] * 255 / 100)
        if service == "toggle":
            body = {"state": "TOGGLE"}
        return topic, json.dumps(body)
    if domain == "climate" and service == "set_temperature":
        return mqtt.get("temperature_command_topic", topic), f"{data['temperature']:g}"
    if domain == "cover" and service == "set_cover_position":
        return mqtt.get("set_position_topic", topic), str(data["position"])
    payloads = {"turn_on": mqtt.get("payload_on", "ON"), "turn_off": mqtt.get("payload_off", "OFF"), "toggle": "TOGGLE",
                "lock": mqtt.get("payload_lock", "LOCK"), "unlock": mqtt.get("payload_unlock", "UNLOCK"),
                "open_cover": mqtt.get("payload_open", "OPEN"), "close_cover": mqtt.get("payload_close", "CLOSE")}
    return topic, str(payloads.get(service, service.upper()))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_]+", "_", text.lower()).strip("_") or "device"
