"""Smart-home devices that announce themselves with Home Assistant MQTT discovery.

Each publishes retained discovery config on `homeassistant/<component>/<node>/<object>/config`,
its state as retained JSON on `<prefix>/<site>/<device>/state`, listens for commands on
`<prefix>/<site>/<device>/set` (and `/set/<attribute>` where Home Assistant uses one topic per
attribute), and uses the status topic with its last will as Home Assistant availability.
"""

from __future__ import annotations

import json
import logging
import re

from firmware_sim.firmware import Firmware, Publication

log = logging.getLogger(__name__)


class HomeDevice(Firmware):
    """A state-holding device: discovery, retained state, commands."""

    component = "switch"

    def __init__(self, device_id: str, *, name: str | None = None, period_s: float | None = None, **kw) -> None:
        super().__init__(device_id, **kw)
        self.name = name or device_id.replace("-", " ").replace("_", " ").title()
        self.period_s = period_s
        self.state: dict = {}
        self._next = float("inf")
        self.commands_handled = 0

    @property
    def node_id(self) -> str:
        """Home Assistant node id: letters, digits and underscores only."""
        return re.sub(r"[^a-zA-Z0-9_]", "_", f"tessera_{self.site}_{self.device_id}")

    def discovery_topic(self) -> str:
        """Where the retained discovery config goes."""
        return f"homeassistant/{self.component}/{self.node_id}/{self.component}/config"

    def discovery(self) -> dict:
        """The discovery config; subclasses add their component's keys."""
        return {
            "name": None,  # the entity takes the device's name
            "unique_id": f"{self.node_id}_{self.component}",
            "availability_topic": self.topic("status"),
            "payload_available": "online",
            "payload_not_available": "offline",
            "state_topic": self.topic("state"),
            "device": {"identifiers": [self.node_id], "name": self.name, "model": self.model, "manufacturer": "Tessera sim"},
        }

    def announce(self) -> list[Publication]:
        """Status, meta, discovery config and current state, all retained."""
        return super().announce() + [Publication(self.discovery_topic(), json.dumps(self.discovery()).encode(), retain=True),
                                     self.state_message()]

    def state_message(self) -> Publication:
        """The current state, retained."""
        return Publication(self.topic("state"), json.dumps(self.state).encode(), retain=True)

    def subscriptions(self) -> list[str]:
        """The command topics."""
        return [self.topic("set"), self.topic("set") + "/+"]

    def boot(self, t: float, phase: float = 0.0) -> None:
        """Power on; periodic devices schedule their first report."""
        super().boot(t, phase)
        self._next = t + (1.0 - phase) * self.period_s if self.period_s else float("inf")

    def next_due(self) -> float:
        """When the device reports or moves next."""
        return self._next

    def tick(self, t: float) -> list[Publication]:
        """Periodic behaviour; publishes state when it changed."""
        before = dict(self.state)
        self.periodic(t)
        self._next = t + self.period_s if self.period_s else float("inf")
        return [self.state_message()] if self.state != before else []

    def periodic(self, t: float) -> None:
        """What the device does by itself every period_s."""

    def on_command(self, topic: str, payload: bytes, t: float) -> list[Publication]:
        """Apply a command and publish the new state; a malformed command is ignored, as firmware would."""
        attribute = topic.rsplit("/set", 1)[-1].lstrip("/")
        try:
            self.apply(attribute, payload.decode("utf-8").strip())
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as err:
            log.warning("ignored a malformed command", extra={"device": self.device_id, "topic": topic, "error": str(err)[:200]})
            return []
        self.commands_handled += 1
        return [self.state_message()]

    def apply(self, attribute: str, text: str) -> None:
        """Change state from a command; raises ValueError on a bad one."""
        raise NotImplementedError


class Switch(HomeDevice):
    """An on/off switch or plug."""

    component = "switch"
    model = "Tessera sim switch"

    def __init__(self, device_id: str, **kw) -> None:
        super().__init__(device_id, **kw)
        self.state = {"state": "OFF"}

    def discovery(self) -> dict:
        """Switch discovery: plain ON/OFF commands."""
        return {**super().discovery(), "command_topic": self.topic("set"), "value_template": "{{ value_json.state }}",
                "payload_on": "ON", "payload_off": "OFF"}

    def apply(self, attribute: str, text: str) -> None:
        """ON, OFF or TOGGLE."""
        text = text.upper()
        if text == "TOGGLE":
            text = "OFF" if self.state["state"] == "ON" else "ON"
        if text not in ("ON", "OFF"):
            raise ValueError(f"switch takes ON, OFF or TOGGLE, got {text!r}")
        self.state["state"] = text


class Light(HomeDevice):
    """A dimmable colour light, Home Assistant JSON schema."""

    component = "light"
    model = "Tessera sim RGB light"

    def __init__(self, device_id: str, **kw) -> None:
        super().__init__(device_id, **kw)
        self.state = {"state": "OFF", "brightness": 255, "color_mode": "rgb", "color": {"r": 255, "g": 255, "b": 255}}

    def discovery(self) -> dict:
        """JSON-schema light with brightness and RGB."""
        return {**super().discovery(), "schema": "json", "command_topic": self.topic("set"), "brightness": True,
                "supported_color_modes": ["rgb"]}

    def apply(self, attribute: str, text: str) -> None:
        """A JSON command: state, brightness (0-255), color {r, g, b}."""
        command = json.loads(text)
        if not isinstance(command, dict):
            raise ValueError("light command must be a JSON object")
        new = json.loads(json.dumps(self.state))
        if "state" in command:
            if command["state"] not in ("ON", "OFF"):
                raise ValueError("state must be ON or OFF")
            new["state"] = command["state"]
        if "brightness" in command:
            new["brightness"] = _bounded_int(command["brightness"], 0, 255)
            new["state"] = "ON" if new["brightness"] else "OFF"
        if "color" in command:
            new["color"] = {c: _bounded_int(command["color"][c], 0, 255) for c in "rgb"}
        self.state = new


class Thermostat(HomeDevice):
    """A heating/cooling thermostat (climate); the room temperature moves toward the target."""

    component = "climate"
    model = "Tessera sim thermostat"

    def __init__(self, device_id: str, *, target_c: float = 21.0, room_c: float = 19.0, period_s: float = 30.0, **kw) -> None:
        super().__init__(device_id, period_s=period_s, **kw)
        self.state = {"mode": "heat", "target": target_c, "current": room_c, "action": "idle"}

    def discovery(self) -> dict:
        """Climate discovery with one command topic per attribute."""
        base = super().discovery()
        del base["state_topic"]
        return {**base, "modes": ["off", "heat", "cool", "auto"], "temperature_unit": "C", "min_temp": 7, "max_temp": 30,
                "mode_command_topic": self.topic("set") + "/mode", "mode_state_topic": self.topic("state"),
                "mode_state_template": "{{ value_json.mode }}",
                "temperature_command_topic": self.topic("set") + "/temperature", "temperature_state_topic": self.topic("state"),
                "temperature_state_template": "{{ value_json.target }}",
                "current_temperature_topic": self.topic("state"), "current_temperature_template": "{{ value_json.current }}"}

    def apply(self, attribute: str, text: str) -> None:
        """mode: off|heat|cool|auto; temperature: 7-30 C."""
        if attribute == "mode" and text in ("off", "heat", "cool", "auto"):
            self.state["mode"] = text
        elif attribute == "temperature":
            value = float(text)
            if not 7.0 <= value <= 30.0:
                raise ValueError(f"target {value} outside 7-30 C")
            self.state["target"] = value
        else:
            raise ValueError(f"unknown thermostat command {attribute!r}={text!r}")

    def periodic(self, t: float) -> None:
        """Heat or cool by up to 0.2 C per period toward the target."""
        s = self.state
        error = s["target"] - s["current"]
        active = (s["mode"] in ("heat", "auto") and error > 0.2) or (s["mode"] in ("cool", "auto") and error < -0.2)
        step = max(-0.2, min(0.2, error)) if active else -0.02 * (s["current"] - 18.0)
        s["current"] = round(s["current"] + step + float(self.rng.normal(0, 0.02)), 2)
        s["action"] = ("heating" if error > 0 else "cooling") if active else ("off" if s["mode"] == "off" else "idle")


class Cover(HomeDevice):
    """A blind or garage door: OPEN, CLOSE, STOP, position 0-100, moving 10 % a second."""

    component = "cover"
    model = "Tessera sim cover"

    def __init__(self, device_id: str, **kw) -> None:
        super().__init__(device_id, period_s=1.0, **kw)
        self.state = {"state": "closed", "position": 0}
        self.target = 0

    def discovery(self) -> dict:
        """Cover discovery with position."""
        return {**super().discovery(), "command_topic": self.topic("set"), "set_position_topic": self.topic("set") + "/position",
                "position_topic": self.topic("state"), "position_template": "{{ value_json.position }}",
                "value_template": "{{ value_json.state }}"}

    def apply(self, attribute: str, text: str) -> None:
        """OPEN, CLOSE, STOP, or a position."""
        if attribute == "position":
            self.target = _bounded_int(text, 0, 100)
        elif text in ("OPEN", "CLOSE"):
            self.target = 100 if text == "OPEN" else 0
        elif text == "STOP":
            self.target = self.state["position"]
        else:
            raise ValueError(f"cover takes OPEN, CLOSE, STOP or a position, got {text!r}")
        self.periodic(0.0)

    def periodic(self, t: float) -> None:
        """Move toward the target."""
        pos = self.state["position"]
        if pos == self.target:
            self.state["state"] = "open" if pos > 0 else "closed"
            return
        step = 10 if self.target > pos else -10
        self.state["position"] = max(min(pos + step, max(self.target, pos)), min(self.target, pos))
        self.state["state"] = "opening" if step > 0 else "closing"


class Lock(HomeDevice):
    """A door lock."""

    component = "lock"
    model = "Tessera sim lock"

    def __init__(self, device_id: str, **kw) -> None:
        super().__init__(device_id, **kw)
        self.state = {"state": "LOCKED"}

    def discovery(self) -> dict:
        """Lock discovery."""
        return {**super().discovery(), "command_topic": self.topic("set"), "value_template": "{{ value_json.state }}",
                "payload_lock": "LOCK", "payload_unlock": "UNLOCK", "state_locked": "LOCKED", "state_unlocked": "UNLOCKED"}

    def apply(self, attribute: str, text: str) -> None:
        """LOCK or UNLOCK."""
        if text not in ("LOCK", "UNLOCK"):
            raise ValueError(f"lock takes LOCK or UNLOCK, got {text!r}")
        self.state["state"] = text + "ED"


class MotionSensor(HomeDevice):
    """A PIR motion sensor: motion events at random, cleared after `hold_s`."""

    component = "binary_sensor"
    model = "Tessera sim motion sensor"

    def __init__(self, device_id: str, *, events_per_h: float = 6.0, hold_s: float = 30.0, **kw) -> None:
        super().__init__(device_id, period_s=5.0, **kw)
        self.state, self.events_per_h, self.hold_s, self._clear_at = {"motion": "OFF"}, events_per_h, hold_s, 0.0

    def discovery(self) -> dict:
        """Motion binary sensor."""
        return {**super().discovery(), "device_class": "motion", "value_template": "{{ value_json.motion }}"}

    def subscriptions(self) -> list[str]:
        """Sensors take no commands."""
        return []

    def periodic(self, t: float) -> None:
        """Maybe detect motion; clear it after the hold time."""
        if self.rng.random() < self.events_per_h * self.period_s / 3600.0:
            self.state["motion"], self._clear_at = "ON", t + self.hold_s
        elif self.state["motion"] == "ON" and t >= self._clear_at:
            self.state["motion"] = "OFF"


class TemperatureSensor(HomeDevice):
    """A room temperature and humidity sensor reporting every `period_s`."""

    component = "sensor"
    model = "Tessera sim temperature sensor"

    def __init__(self, device_id: str, *, period_s: float = 60.0, base_c: float = 21.0, **kw) -> None:
        super().__init__(device_id, period_s=period_s, **kw)
        self.state = {"temperature": base_c, "humidity": 45.0, "battery": 100}

    def discovery(self) -> dict:
        """Temperature sensor."""
        return {**super().discovery(), "device_class": "temperature", "unit_of_measurement": "°C",
                "value_template": "{{ value_json.temperature }}", "state_class": "measurement"}

    def subscriptions(self) -> list[str]:
        """Sensors take no commands."""
        return []

    def periodic(self, t: float) -> None:
        """A small random walk."""
        self.state["temperature"] = round(self.state["temperature"] + float(self.rng.normal(0, 0.05)), 2)
        self.state["humidity"] = round(min(95.0, max(15.0, self.state["humidity"] + float(self.rng.normal(0, 0.2)))), 1)


def _bounded_int(value: object, low: int, high: int) -> int:
    number = int(float(value))  # ValueError / TypeError on junk, caught by on_command
    if not low <= number <= high:
        raise ValueError(f"{number} outside {low}-{high}")
    return number
