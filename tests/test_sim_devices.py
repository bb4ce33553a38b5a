"""Device firmware without a broker: frames, batching, clocks, faults, scenarios, replay, Home Assistant state."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from base.wire import decode_frame
from firmware_sim.faults import Fault, FaultKind, FaultSchedule
from firmware_sim.firmware import DeviceClock
from firmware_sim.home import Cover, Light, Thermostat
from firmware_sim.replay import ReplayDevice, ReplayError
from firmware_sim.scenario import ScenarioError, load_scenario
from firmware_sim.sensors import EcgPatchDevice, ScalarSensor, TrafficLoop, VibrationNode

T0 = 1_700_000_000.0
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "scenarios"


def run(device, seconds: float, step: float = 0.05) -> list:
    device.boot(T0)
    device.faults.origin = T0
    out = []
    for t in np.arange(T0, T0 + seconds + 1e-9, step):
        out += device.tick(float(t))
    return out


def frames_of(pubs, stream: str):
    return [decode_frame(p.payload) for p in pubs if p.topic.endswith(f"/data/{stream}")]


def test_vibration_node_batches_12k8_samples_with_sequence_numbers_and_drifting_clock() -> None:
    node = VibrationNode("pump-1", frame_s=0.1, clock=DeviceClock(drift_ppm=100.0, offset_s=0.25))
    frames = frames_of(run(node, 2.0), "accel")
    assert [f.seq for f in frames] == list(range(len(frames))) and len(frames) >= 19
    assert all(f.n_samples == 1280 and f.rate == 12800.0 for f in frames)
    assert frames[0].t0 == pytest.approx(T0 + 0.25)
    span = (len(frames) - 1) * 0.1
    assert frames[-1].t0 - frames[0].t0 == pytest.approx(span * (1 + 100e-6), abs=1e-7)  # the clock drift shows
    assert 0.01 < float(np.std(np.concatenate([f.samples for f in frames]))) < 5.0  # g, plausible
    meta = json.loads(node.announce()[1].payload)
    assert meta["bearing"]["n_balls"] >= 3
    assert meta["streams"]["accel"]["rate_hz"] == 12800.0 and meta["rpm"] == node.rpm


def test_bearing_defect_raises_vibration_and_grows() -> None:
    healthy = frames_of(run(VibrationNode("a", seed=1), 4.0), "accel")
    fault = Fault(FaultKind.BEARING_DEFECT, 0.0, 100.0, {"fault": "outer_race", "severity": 1.0, "growth_per_s": 0.5})
    faulty = frames_of(run(VibrationNode("b", seed=1, faults=FaultSchedule([fault])), 4.0), "accel")
    rms = lambda fs: float(np.sqrt(np.mean(np.concatenate([f.samples for f in fs]) ** 2)))  # noqa: E731
    assert rms(faulty) > 1.5 * rms(healthy)
    assert rms(faulty[-10:]) > rms(faulty[:10])


def test_ecg_patch_two_leads_at_360_hz_and_an_arrhythmia_episode() -> None:
    episode = Fault(FaultKind.ARRHYTHMIA, 10.0, 30.0, {"hr_bpm": 150})
    patch = EcgPatchDevice("p", rate_hz=360.0, leads=2, frame_s=0.5, faults=FaultSchedule([episode]))
    frames = frames_of(run(patch, 30.0, step=0.5), "ecg")
    assert frames[0].samples.shape == (2, 180)
    signal = np.concatenate([f.samples[0] for f in frames])
    beats = lambda x: int(np.sum((x[1:-1] > 0.5) & (x[1:-1] >= x[:-2]) & (x[1:-1] > x[2:])))  # noqa: E731
    assert beats(signal[20 * 360:30 * 360]) > 1.6 * beats(signal[:10 * 360])
    with pytest.raises(ValueError, match="250 or 360"):
        EcgPatchDevice("bad", rate_hz=500.0)


def test_stream_faults_dropout_stuck_noise_and_flood() -> None:
    faults = FaultSchedule([Fault(FaultKind.DROPOUT, 2.0, 2.0), Fault(FaultKind.STUCK, 5.0, 2.0),
                            Fault(FaultKind.FLOOD, 8.0, 1.0, {"factor": 10})])
    sensor = ScalarSensor("t", period_s=0.5, batch=2, faults=faults)
    pubs = run(sensor, 10.0)
    seqs = [f.seq for f in frames_of(pubs, "temperature")]
    assert 2 not in seqs and 3 not in seqs and sensor.streams[0].frames_dropped == 2  # lost on the device
    assert seqs.count(8) == 10  # a flooding device repeats itself
    stuck = [f for f in frames_of(pubs, "temperature") if 5 <= f.seq < 7]
    assert len({float(v) for f in stuck for v in f.samples}) == 1


def test_traffic_loop_reports_three_channels_and_an_incident_slows_upstream() -> None:
    incident = Fault(FaultKind.TRAFFIC_INCIDENT, 0.0, 3600.0, {"capacity_fraction": 0.3})
    plain = TrafficLoop("up", interval_s=30.0, seed=2)
    hit = TrafficLoop("up2", interval_s=30.0, seed=2, faults=FaultSchedule([incident]))
    start = T0 - T0 % 86400 + 8 * 3600  # morning rush: demand above the incident's capacity
    speeds = []
    for device in (plain, hit):
        device.boot(start)
        device.faults.origin = start
        pubs = [p for t in np.arange(start, start + 1800, 30.0) for p in device.tick(float(t) + 30.0)]
        frames = frames_of(pubs, "loop")
        assert frames[0].samples.shape == (3, 1) and json.loads(pubs[0].payload)["ch"] == ["count", "speed_kmh", "occupancy_pct"]
        speeds.append(np.mean([f.samples[1, 0] for f in frames[-20:]]))
    assert speeds[1] < 0.7 * speeds[0]


def test_home_devices_discovery_and_commands() -> None:
    light = Light("kitchen-light", site="home")
    light.boot(T0)
    config = json.loads(light.announce()[2].payload)
    assert light.announce()[2].topic == "homeassistant/light/tessera_home_kitchen-light/light/config".replace("-", "_")
    assert config["schema"] == "json" and config["command_topic"] == "tessera/home/kitchen-light/set"
    assert config["availability_topic"] == "tessera/home/kitchen-light/status"
    out = light.on_command("tessera/home/kitchen-light/set", b'{"state": "ON", "brightness": 80, "color": {"r": 255, "g": 0, "b": 0}}', T0)
    assert json.loads(out[0].payload)["color"] == {"r": 255, "g": 0, "b": 0} and out[0].retain
    assert light.on_command("tessera/home/kitchen-light/set", b'{"brightness": 999}', T0) == []
    assert light.on_command("tessera/home/kitchen-light/set", b"\xff\xfe", T0) == [] and light.state["brightness"] == 80
    thermostat = Thermostat("hall", room_c=18.0)
    thermostat.on_command("tessera/home/hall/set/temperature", b"22", T0)
    thermostat.boot(T0)
    for k in range(1, 40):
        thermostat.tick(T0 + 30 * k)
    assert thermostat.state["current"] > 21.0 and thermostat.state["target"] == 22.0
    cover = Cover("blind")
    cover.boot(T0)
    cover.on_command("tessera/home/blind/set/position", b"50", T0)
    for k in range(1, 10):
        cover.tick(T0 + k)
    assert cover.state == {"state": "open", "position": 50}


def test_replay_of_npy_csv_and_wfdb(tmp_path: Path) -> None:
    import wfdb

    x = np.sin(np.arange(1000) / 10.0)
    np.save(tmp_path / "sig.npy", x)
    (tmp_path / "sig.csv").write_text("time_s,value\n" + "\n".join(f"{i / 100},{v}" for i, v in enumerate(x[:300])))
    wfdb.wrsamp("rec", fs=360, units=["mV"], sig_name=["MLII"], p_signal=x[:, None], fmt=["16"], write_dir=str(tmp_path))
    for path, rate in [(tmp_path / "sig.npy", 200.0), (tmp_path / "sig.csv", 100.0), (tmp_path / "rec.hea", 360.0)]:
        device = ReplayDevice("replay", path=str(path), rate_hz=200.0 if path.suffix == ".npy" else None, frame_s=0.5, loop=False)
        assert device.rate_hz == pytest.approx(rate)
        frames = frames_of(run(device, 20.0, step=0.25), "signal")
        joined = np.concatenate([f.samples for f in frames])
        n = {".npy": 1000, ".csv": 300, ".hea": 1000}[path.suffix]
        assert np.allclose(joined[:n], x[:n], atol=1e-3) and device.finished
    with pytest.raises(ReplayError, match="rate_hz"):
        ReplayDevice("r", path=str(tmp_path / "sig.npy"))
    scenario = tmp_path / "replay.yaml"  # a scenario's relative paths start at its own folder
    scenario.write_text("devices:\n  - {kind: replay, id: r1, params: {path: rec.hea, stream: ecg}}\n")
    (device,) = load_scenario(scenario).build()
    assert device.rate_hz == 360.0 and device.names == ["MLII"]


def test_example_scenarios_build_and_mistakes_are_clear(tmp_path: Path) -> None:
    thousand = load_scenario(EXAMPLES / "thousand.yaml")
    assert len(thousand.build()) == 1000
    plant = load_scenario(EXAMPLES / "plant.yaml").build()
    pump1 = next(d for d in plant if d.device_id == "pump-01")
    assert pump1.faults.of_kind(FaultKind.BEARING_DEFECT) and not next(d for d in plant if d.device_id == "pump-02").faults.faults
    bad = tmp_path / "bad.yaml"
    bad.write_text("devices:\n  - {kind: toaster, id: t}\n")
    with pytest.raises(ScenarioError, match="unknown device kind 'toaster'; valid: .*vibration_node"):
        load_scenario(bad).build()
    bad.write_text("devices:\n  - {kind: scalar, id: t, count: 2}\n")
    with pytest.raises(ScenarioError, match="ids repeat"):
        load_scenario(bad).build()
    bad.write_text("devices:\n  - {kind: scalar, id: t, params: {sensor: humidity}}\n")
    with pytest.raises(ScenarioError, match="unknown sensor"):
        load_scenario(bad).build()
    bad.write_text("devices: []\nfaults:\n  - {kind: meteor, at_s: 0, duration_s: 1}\n")
    with pytest.raises(ScenarioError, match="faults.0.kind"):
        load_scenario(bad)
