"""The operator console in a real browser (Debian's chromium, headless) against a running service on a real broker.

The gateway decides on a real vibration fault with the real model; with no edge configured
and every decision "unsure", each one falls back and waits in the review queue. The page must
show the stream and the decision as they happen; a correction typed into the page must land
in the review queue and, as a worked example, in the real knowledge store on disk.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import numpy as np
import pytest

from agent.decide.escalation import EscalatingBackend, ThresholdPolicy
from agent.decide.review import ReviewQueue
from agent.ingest.broker import EmbeddedBroker
from agent.services.console import STRIP_POINTS, serve_console, signal_strip
from agent.services.runtime import ServiceRuntime, open_knowledge
from base.errors import ConfigError
from base.settings import load_settings
from firmware_sim.faults import Fault, FaultKind, FaultSchedule
from firmware_sim.runtime import SimRuntime
from firmware_sim.sensors import VibrationNode

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"]


def test_a_strip_keeps_spikes_and_draws_vibration_as_its_envelope() -> None:
    x = np.zeros(10_000)
    x[5_123] = 9.0  # one spike among thousands of samples must survive the thinning
    drawn = signal_strip(x, 1000.0, "ecg")
    assert len(drawn) == STRIP_POINTS and max(drawn) == 9.0
    t = np.arange(12_800) / 12_800
    am = (1 + np.sin(2 * np.pi * 5 * t)) * np.sin(2 * np.pi * 3000 * t)  # a 3 kHz carrier modulated at 5 Hz
    envelope = np.asarray(signal_strip(am, 12_800.0, "vibration"))
    assert envelope.min() >= 0 and np.corrcoef(envelope, 1 + np.sin(2 * np.pi * 5 * t[:: 32][:STRIP_POINTS]))[0, 1] > 0.9


def test_a_console_bound_beyond_loopback_needs_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESSERA_CONSOLE__HOST", "0.0.0.0")
    runtime = ServiceRuntime(load_settings(profile="gateway"), "gateway")
    with pytest.raises(ConfigError, match="set console.token"):
        serve_console(runtime)
    monkeypatch.setenv("TESSERA_CONSOLE__TOKEN", "short")
    with pytest.raises(Exception, match="at least 12 characters"):
        load_settings(profile="gateway")


@pytest.mark.broker
def test_the_token_guards_the_page_and_the_api_but_not_healthz(broker: EmbeddedBroker, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESSERA_MQTT__URL", broker.url)
    monkeypatch.setenv("TESSERA_CONSOLE__TOKEN", "s3cret-console-token")
    runtime = ServiceRuntime(load_settings(profile="gateway"), "gateway").start()
    console = serve_console(runtime)
    try:
        base = console.url.rstrip("/")
        assert httpx.get(f"{base}/api/state").status_code == 401
        assert httpx.get(f"{base}/metrics").status_code == 401
        assert httpx.get(f"{base}/healthz").status_code == 200
        auth = {"Authorization": "Bearer s3cret-console-token"}
        assert httpx.get(f"{base}/api/state", headers=auth).json()["status"]["mqtt_connected"] is True
        assert "tessera_outbox_pending" in httpx.get(f"{base}/metrics", headers=auth).text
        with httpx.Client(follow_redirects=True) as browser_like:  # /?token= once, then the cookie
            assert "Tessera console" in browser_like.get(f"{base}/?token=s3cret-console-token").text
            assert browser_like.get(f"{base}/api/state").status_code == 200
        json_type = auth | {"Content-Type": "application/json"}
        bad = httpx.post(f"{base}/api/review/1", headers=json_type, content=b"not json")
        assert bad.status_code == 400 and "must be JSON" in bad.json()["error"]
        # A form or text/plain post (what another site's page could send without asking) is refused.
        cross_site = httpx.post(f"{base}/api/review/1", headers=auth | {"Content-Type": "text/plain"}, content=b'{"verdict": "confirm"}')
        assert cross_site.status_code == 415
        assert httpx.post(f"{base}/api/say", json={"text": "unlock the front door"}).status_code == 401  # commands need the token too
        assert httpx.post(f"{base}/api/say", headers=auth, json={"text": "turn on the lights"}).status_code == 404  # a gateway takes none
        missing = httpx.post(f"{base}/api/review/99", headers=auth, json={"verdict": "confirm"})
        assert missing.status_code == 400 and "no review item 99" in missing.json()["error"]
    finally:
        console.stop()
        runtime.stop(flush_s=0.2)


@pytest.mark.model
@pytest.mark.broker
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (./run setup installs it when run as root)")
def test_the_page_shows_a_live_decision_and_a_correction_made_in_it_lands_in_the_store(
        broker: EmbeddedBroker, local_backend, seeded_knowledge: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from playwright.sync_api import sync_playwright

    from rag.examples import similar_examples
    from rag.store import Filter

    knowledge_dir = tmp_path / "rag"
    shutil.copytree(seeded_knowledge, knowledge_dir)  # this test writes to its store
    for key, value in {"MQTT__URL": broker.url, "INGEST__WINDOW_S": "2", "INGEST__HOP_S": "2", "INGEST__SITES": '["plant"]',
                       "RAG__PATH": str(knowledge_dir)}.items():
        monkeypatch.setenv(f"TESSERA_{key}", value)
    settings = load_settings(profile="gateway")
    review = ReviewQueue.for_data_dir(settings.data_dir)
    unsure = EscalatingBackend(local_backend, None, ThresholdPolicy(1.0), review)  # no edge: every decision waits for review
    runtime = ServiceRuntime(settings, "gateway", event_backend=unsure, knowledge=open_knowledge(settings)).start()
    console = serve_console(runtime)
    fault = FaultSchedule([Fault(FaultKind.BEARING_DEFECT, 0.0, 600.0, {"fault": "outer_race", "severity": 1.0})])
    sim = SimRuntime(settings.mqtt, [VibrationNode("pump-07", site="plant", faults=fault)]).start()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(console.url)
            # Live, without a reload: the stream with its tokens and strip, then the decision and its review item.
            page.wait_for_selector('.stream[data-device="pump-07"] svg polyline', timeout=60_000)
            assert "<vib:" in page.inner_text('.stream[data-device="pump-07"]')
            page.wait_for_selector("#decisions tr .route.fallback", timeout=90_000)
            row = page.inner_text("#decisions tr:has(.route.fallback)")
            assert all(part in row for part in ("pump-07", "bearing_outer_race", "%", "open_ticket"))  # device, event, confidence, tool
            assert float(row.split(" s\t")[0].split("\t")[-1]) > 0.05  # the latency includes the model's time
            item_id = int(page.wait_for_selector(".review", timeout=30_000).get_attribute("data-id"))
            item = page.locator(f"#review-{item_id}")
            shot = page.screenshot(full_page=True)
            # Correct the decision in the page: a bad argument first (refused, nothing lost), then a right one.
            item.locator("select").select_option("log_observation")
            item.locator("textarea").fill('{"device": "pump 07!"}')
            item.locator("button", has_text="Correct").click()
            page.wait_for_selector(f"#review-{item_id} .err:has-text('not valid')")
            corrected = {"device": "pump-07", "kind": "bearing_outer_race", "summary": "known defect, replacement booked"}
            item.locator("textarea").fill(json.dumps(corrected))
            item.locator("button", has_text="Correct").click()
            page.wait_for_selector(f"#reviewed-{item_id}", timeout=10_000)
            browser.close()
    finally:
        sim.stop()
        console.stop()
        runtime.stop(flush_s=0.5)
    resolved = review.get(item_id)
    assert resolved.resolved_at is not None and json.loads(resolved.resolution) == {"verdict": "correct", "tool": "log_observation", "args": corrected}
    # The correction is a worked example in the knowledge store on disk, found for a similar event.
    store = open_knowledge(settings)
    hits = similar_examples(store, resolved.request["question"], k=1, where=Filter(site="plant", kind="event"))
    assert [(h.tool, h.args) for h in hits] == [("log_observation", corrected)]
    _assert_not_blank(shot, tmp_path)


def _assert_not_blank(png: bytes, tmp_path: Path) -> None:
    """The screenshot has the page's ink: many distinct colours and dark text pixels, not one flat fill."""
    import matplotlib.image as mpimg

    path = tmp_path / "console.png"
    path.write_bytes(png)
    pixels = mpimg.imread(path)[..., :3]
    assert pixels.shape[0] > 500 and pixels.shape[1] > 1000
    dark = (pixels.mean(axis=2) < 0.35).mean()
    colours = len(np.unique((pixels.reshape(-1, 3) * 31).astype(int), axis=0))
    assert dark > 0.01 and colours > 50, (dark, colours)



@pytest.mark.model
@pytest.mark.broker
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (./run setup installs it when run as root)")
def test_a_command_typed_into_the_hub_page_changes_the_home_it_shows(broker: EmbeddedBroker, local_backend, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from playwright.sync_api import sync_playwright

    from agent.decide.command_eval import DEFAULT_HOME
    from agent.decide.planner import CommandPlanner
    from agent.services.hub import HubDaemon
    from firmware_sim.home import Light
    from tools.home import Home

    monkeypatch.setenv("TESSERA_MQTT__URL", broker.url)
    settings = load_settings(profile="hub")
    home = Home.load(DEFAULT_HOME)
    hub = HubDaemon(settings, home, CommandPlanner(home, local_backend)).start()  # the real model behind the templates
    console = serve_console(hub)
    lamp = Light("garden-lamp", name="Garden Lamp", site="home")  # learnt from MQTT discovery; reports its state
    sim = SimRuntime(settings.mqtt, [lamp]).start()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
            page = browser.new_page(viewport={"width": 1200, "height": 1000})
            page.goto(console.url)
            lamp_row = '#home .device[data-entity^="light."]:has-text("Garden Lamp")'
            page.wait_for_selector(f"{lamp_row} .state.off", timeout=20_000)  # its live state, from the broker
            page.fill("#say-input", "set the garden lamp to 40 percent")
            page.press("#say-input", "Enter")
            page.wait_for_selector("#said-answer.ok", timeout=60_000)
            assert page.inner_text("#said-answer") == "Brightness set"
            assert page.inner_text("#said-route") == "fast" and page.inner_text("#said-confidence").startswith("100%")
            assert "HassLightSet" in page.inner_text("#said") and page.locator("#said-candidates").count() == 0  # none given today
            # The lamp reports its new state on the broker; the Home view shows it without a reload, and so does "changed".
            page.wait_for_selector(f"{lamp_row} .state.on", timeout=10_000)
            assert "40%" in page.inner_text(lamp_row)
            page.wait_for_selector("#said-changed .state.on", timeout=10_000)
            assert lamp.state["state"] == "ON" and lamp.state["brightness"] == round(40 * 255 / 100)
            for command in ("set a 10 minute timer for pizza", "add oat milk to my shopping list"):
                page.fill("#say-input", command)
                page.press("#say-input", "Enter")  # the page shows "thinking" at once, then this command's answer
                page.wait_for_selector("#said-answer.ok", timeout=60_000)
            page.wait_for_selector('#timers .timer:has-text("pizza")', timeout=10_000)
            assert "left" in page.inner_text("#timers")
            page.wait_for_selector('#lists [data-list="Shopping List"]:has-text("oat milk")', timeout=10_000)
            # A dangerous action waits for a person's yes, in the page as over MQTT.
            page.fill("#say-input", "unlock the front door")
            page.press("#say-input", "Enter")
            page.wait_for_selector("#say-confirm", timeout=60_000)
            assert page.inner_text("#said-changed") == "nothing" and "confirm" in page.inner_text("#said-answer")
            shot = page.screenshot(full_page=True)
            page.click("#say-confirm")
            page.wait_for_selector('#said-changed:has-text("Front Door") .state.unlocked', timeout=10_000)
            page.wait_for_selector('#home .device[data-entity="lock.front_door"] .state.unlocked', timeout=10_000)
            page.set_viewport_size({"width": 400, "height": 800})  # a phone: nothing wider than the screen
            overflow = page.evaluate("""() => ({scroll: document.documentElement.scrollWidth, inner: window.innerWidth,
                wide: [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > window.innerWidth + 0.5)
                      .map((e) => e.tagName + '#' + e.id + '.' + e.className).slice(0, 5)})""")
            assert overflow["scroll"] <= overflow["inner"] and not overflow["wide"], overflow
            phone = page.screenshot(full_page=True)
            browser.close()
    finally:
        sim.stop()
        console.stop()
        hub.stop()
    decisions = [(r.input, r.tool, r.route) for r in hub.runtime.guard.audit.last(10)]
    assert ("set the garden lamp to 40 percent", "HassLightSet", "fast") in decisions  # audited as an MQTT command is
    _assert_not_blank(shot, tmp_path)
    (tmp_path / "phone.png").write_bytes(phone)
