"""Traffic encoder: loop-detector aggregates to level of service, congestion and incident tokens.

Registered as modality `traffic` (aliases `loop_detector`, `traffic_loop`).
"""

from __future__ import annotations

from adapters import ENCODERS
from adapters.traffic.encoder import VOCAB, VOCAB_VERSION, TrafficConfig, TrafficEncoder, make_traffic_encoder
from adapters.traffic.incident import CaliforniaConfig, CaliforniaDetector, IncidentState
from adapters.traffic.measures import density, flow_per_lane, level_of_service

ENCODERS.register("traffic", make_traffic_encoder, aliases=("loop", "loop_detector", "traffic_loop"))

__all__ = ["VOCAB", "VOCAB_VERSION", "CaliforniaConfig", "CaliforniaDetector", "IncidentState", "TrafficConfig",
           "TrafficEncoder", "density", "flow_per_lane", "level_of_service", "make_traffic_encoder"]
