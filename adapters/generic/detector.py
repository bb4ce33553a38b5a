"""Streaming anomaly detector for any scalar stream, with a learned seasonal baseline.

Three baselines learn side by side from the stream itself, each with its own
scale (an exponentially weighted mean absolute residual):

- a level: exponentially weighted mean over `level_memory_s`;
- a time-of-day profile: one weighted mean per bin of the day;
- a day-of-week x time-of-day profile, for weekly rhythms (office hours, traffic).

A sample is anomalous only if no baseline that explains the stream about as well
as the best one (scale within `model_slack` of the best) expects it: the robust
z-score is the smallest |residual / scale| among those. This is why a daily
square wave, rush hour or a weekend is not an anomaly once learned, while a
holiday or a failed sensor is. Residuals are clipped at `clip_z` scales before
they update a baseline so that one spike does not teach the baseline its shape.

Events (kind, severity, time, evidence): one deviation of the value (spike, level
shift or new extreme) and each sensor fault (stuck, noise burst) at most once per
episode (an episode ends after `quiet_s` without anomalous samples, so a shift
that the baselines take days to learn stays one event) or per `rearm_s` in an
episode that never quietens; `one_event_per_episode=False` raises each kind once:

- `spike`: one sample with |z| >= `z_spike` and `novelty` times beyond the largest
  residual of recent days (half-life `peak_memory_s`): heavy tails and spikes that
  recur at one height are that stream's normal;
- `level_shift`: a weighted mean of z over about `shift_persist_s` reaches `z_shift`,
  or Page's two-sided CUSUM of z (drift allowance `cusum_k`) reaches `cusum_h`:
  a smaller deviation that persists is a change point too; and `shift_novelty` times
  the largest shift score of the episodes before (decaying like the spike peak):
  bursts that recur at one size are a busy stream's normal. A shift that comes
  inside an episode whose deviation was raised already is learned as if raised;
- `stuck`: an exactly repeated value for longer than the learned rate of
  repeats makes plausible (a sensor that never repeats is stuck after a few
  samples; a coarse or idle one only after many);
- `noise_burst`: sample-to-sample variation `noise_ratio` times its learned level
  for `noise_persist_s`;
- `dropout`: the first sample after `dropout_s` or more without any (a sensor,
  link or process that failed and came back), raised on that sample;
- `out_of_range`: a new extreme, one sample beyond the extremes of everything seen
  (relaxing towards the level with half-life `range_memory_s`) by `record_share`
  of their span (the novelty that NAB's best detectors reward: a value this
  stream has never shown) and at least `record_z` scales from every baseline (a
  record that the seasonal baseline expects, a slow trend, is not news); or values beyond the envelope by `range_margin` level
  scales for about `shift_persist_s`: a slow excursion (a failing cooler) that the
  level baseline follows but nothing before matched.

The continuous anomaly score of a sample (`DetectorOutput.score`) is how far it
has gone towards the spike, level-shift and new-extreme rules: the largest of
|z| / `z_spike` (and, once spikes have been seen, the residual over `novelty`
times the largest recent one), |mean z| / `z_shift` or the CUSUM over `cusum_h`
(over `shift_novelty` times the largest of earlier episodes, once there were
any) and the new-extreme share over `record_share` (0 within `record_z`);
1 is at a threshold. The event rule
fires at `1 / sensitivity`: `sensitivity` is the one setting that trades false
alarms (lower) for misses (higher), and `PROFILE_SENSITIVITY` holds the value
chosen for each NAB profile by leave-one-category-out (`evaluation.anomaly_tuning`).

Severity grows with magnitude and persistence: CRITICAL from `z_critical`, or when
the anomaly has lasted `critical_persist_s`; otherwise WARNING. No event is raised
during the first `warmup_s` of data. The detector is stateful; `reset()` forgets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from adapters.base import Event, Severity

_DAY = 86400.0
_WEEK = 7 * _DAY
# 1970-01-01 was a Thursday: shift so that day 0 of the week is Monday.
_EPOCH_WEEKDAY = 3
# The baselines in the order _score offers them, as an event's evidence names them, and in a technician's words.
_BASELINE_NAMES = ("level", "time_of_day", "day_of_week")
# Kinds that tell of one deviation of the value: one event for all of them per episode.
_DEVIATIONS = frozenset({"spike", "level_shift", "out_of_range"})
_USUAL_WHEN = {"time_of_day": "at this hour", "day_of_week": "at this hour on this weekday", "level": "lately"}


def in_words(event: Event, label: str, unit: str = "") -> str | None:
    """How unusual an event's value is, as a technician reads it: 'speed 12 km/h, usual 55-70 at this hour'."""
    ev = event.evidence
    unit = f" {unit}" if unit else ""
    if event.kind.endswith("dropout") and "gap_s" in ev:
        return f"{label} silent for {float(ev['gap_s']) / 3600:.3g} h, back at {float(ev['value']):.4g}{unit}"
    if "usual_low" not in ev:
        return None
    when = _USUAL_WHEN.get(str(ev.get("baseline")), "lately")
    return f"{label} {float(ev['value']):.4g}{unit}, usual {float(ev['usual_low']):.4g}-{float(ev['usual_high']):.4g} {when}"


# Event threshold (as a sensitivity: the score threshold is its inverse) per NAB application profile,
# chosen by leave-one-category-out on the real NAB series (docs/adapters/generic.md, "Measured").
# On those categories 1.25 won for the standard and low-FP profiles, 1.5 for low FN (grid 0.8 to 1.75).
PROFILE_SENSITIVITY = {"standard": 1.25, "reward_low_FP_rate": 1.25, "reward_low_FN_rate": 1.5}


@dataclass(slots=True, frozen=True)
class DetectorConfig:
    """Detector settings in seconds and robust z units (residual / mean absolute residual)."""

    sample_period_s: float = 60.0  # nominal spacing of samples; sets bins and persistence in samples
    warmup_s: float = _DAY  # no events until this much data has been seen
    level_memory_s: float = 6 * 3600.0  # time constant of the level baseline
    profile_bin_s: float = 300.0  # width of a time-of-day bin (at least one sample period)
    profile_memory_days: float = 3.0  # how many days (weeks for the weekly profile) a profile remembers
    scale_memory_s: float = _DAY  # time constant of each baseline's scale
    model_slack: float = 2.0  # baselines within this factor of the best scale may explain a sample
    clip_z: float = 3.0  # residuals beyond this many scales update a baseline as if at the limit
    z_spike: float = 9.0  # one sample this far from every baseline is a spike...
    peak_memory_s: float = 7 * _DAY  # ...and `novelty` times beyond the largest residual (decaying with this half-life)
    novelty: float = 3.0
    z_shift: float = 5.0  # sustained deviation this far is a level shift
    shift_persist_s: float = 3600.0  # about how long a deviation must last to be a level shift
    cusum_k: float = 1.5  # Page's CUSUM on z: drift allowance per sample (z units)...
    cusum_h: float = 100.0  # ...and the decision interval: a sustained excess summing to this is a level shift
    shift_novelty: float = 2.0  # a level shift must reach this many times the largest shift score of earlier episodes (0: off)
    z_critical: float = 20.0  # magnitude that makes an event critical
    critical_persist_s: float = 6 * 3600.0  # persistence that makes an event critical
    quiet_s: float = 6 * 3600.0  # an episode ends after this long without anomalous samples
    rearm_s: float = _DAY  # within an episode that never quietens, an event may be raised again after this long
    accept_s: float = 3 * _DAY  # after a level shift, baselines learn the new level unclipped this long (the profiles' memory)
    accept_shift: float = 0.8  # shift score at which a shift inside an already raised episode is learned so
    stuck_min_samples: int = 6  # never call a run of fewer repeated samples stuck
    stuck_false_rate: float = 1e-4  # accepted chance that a normal run of repeats looks stuck
    stuck_z: float = 2.0  # a sensor that often repeats is stuck only this far from the baseline
    range_memory_s: float = 14 * _DAY  # half-life of the learned envelope (highest and lowest values)
    range_margin: float = 2.0  # level scales beyond the envelope that count as a new extreme
    noise_ratio: float = 4.0  # short-term variation over learned variation that is a noise burst
    noise_persist_s: float = 1800.0  # how long the excess variation must last
    dropout_s: float = 2 * _DAY  # no finite sample for this long is a dropout (0: never)
    relative_floor: float = 0.02  # a profile never claims a scale below this share of the level's
    record_share: float = 0.2  # beyond the extremes of everything seen by this share of their span: a new extreme (0: off)...
    record_z: float = 3.0  # ...that is also this many scales from every baseline (0: any new extreme)
    noise_min_samples: int = 8  # a noise burst needs at least this many samples of excess variation
    one_event_per_episode: bool = True  # one spike, level shift or new extreme per episode; False: each kind once
    sensitivity: float = PROFILE_SENSITIVITY["standard"]  # events fire at score 1 / sensitivity: higher, fewer misses; lower, fewer false alarms

    def __post_init__(self) -> None:
        positive = ("sample_period_s", "peak_memory_s", "range_memory_s", "range_margin", "level_memory_s",
                    "profile_bin_s", "profile_memory_days", "scale_memory_s", "model_slack", "novelty", "stuck_z",
                    "clip_z", "z_spike", "z_shift", "cusum_k", "cusum_h", "z_critical", "quiet_s", "rearm_s", "noise_ratio",
                    "sensitivity")
        for name in positive:
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive finite number, got {value!r}")
        for name in ("record_share", "record_z", "shift_novelty", "accept_shift", "warmup_s", "dropout_s", "accept_s", "shift_persist_s", "critical_persist_s", "noise_persist_s", "relative_floor"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a non-negative finite number, got {value!r}")
        if self.model_slack < 1:
            raise ValueError(f"model_slack must be at least 1, got {self.model_slack}")
        if self.z_spike < self.z_shift:
            raise ValueError(f"z_spike ({self.z_spike}) must not be below z_shift ({self.z_shift})")
        if self.noise_min_samples < 1:
            raise ValueError(f"noise_min_samples must be at least 1, got {self.noise_min_samples}")
        if self.stuck_min_samples < 2:
            raise ValueError(f"stuck_min_samples must be at least 2, got {self.stuck_min_samples}")
        if not 0 < self.stuck_false_rate < 1:
            raise ValueError(f"stuck_false_rate must lie in (0, 1), got {self.stuck_false_rate}")

    @classmethod
    def for_profile(cls, profile: str, **settings: float) -> "DetectorConfig":
        """Settings with the sensitivity chosen for a NAB profile (standard, reward_low_FP_rate, reward_low_FN_rate)."""
        if profile not in PROFILE_SENSITIVITY:
            raise ValueError(f"unknown profile {profile!r}: choose one of {', '.join(PROFILE_SENSITIVITY)}")
        return cls(**{"sensitivity": PROFILE_SENSITIVITY[profile], **settings})

    def samples(self, seconds: float) -> int:
        """A duration in whole samples, at least one."""
        return max(1, int(round(seconds / self.sample_period_s)))


@dataclass(slots=True)
class DetectorOutput:
    """Per-sample scores of one batch and the events raised in it."""

    z: np.ndarray  # robust z-score per sample (NaN during warm-up or for missing samples)
    score: np.ndarray  # anomaly score per sample: 1 at a spike, shift or new-extreme threshold (NaN where z is)
    expected: np.ndarray  # the baseline's expectation per sample (NaN where none yet)
    scale: float  # the scale of the best baseline after the batch
    warming_up: bool  # True while events are still suppressed
    events: list[Event] = field(default_factory=list)


class _Profile:
    """Seasonal means per slot and mean absolute residuals per hour of day (scalars, for speed).

    Means start as running averages and become exponentially weighted once a slot
    has seen 1/alpha values, so that a young baseline is not biased towards its first sample.
    """

    __slots__ = ("alpha", "alpha_s", "period_s", "mean", "count", "first", "mad", "mad_n", "n")

    def __init__(self, n_slots: int, n_scale: int, alpha: float, alpha_s: float, period_s: float = math.inf) -> None:
        self.alpha, self.alpha_s, self.period_s = alpha, alpha_s, period_s
        self.first: list[float] = [math.inf] * n_slots  # period index in which a slot was first filled
        self.mean: list[float] = [0.0] * n_slots
        self.count: list[int] = [0] * n_slots
        self.mad: list[float] = [0.0] * n_scale
        self.mad_n: list[int] = [0] * n_scale
        self.n = 0  # residuals seen in all

    def scale(self, k: int) -> float:
        """Mean absolute residual of scale slot k, never below half the average of all slots."""
        seen = [m for m, c in zip(self.mad, self.mad_n) if c]
        overall = sum(seen) / len(seen) if seen else 0.0
        return max(self.mad[k], 0.5 * overall) if self.mad_n[k] else overall

    def period(self, t: float) -> float:
        """Index of the day (week) that t falls in; 0 for a baseline without a period."""
        return t // self.period_s if math.isfinite(self.period_s) else 0.0

    def knows(self, slot: int, t: float) -> bool:
        """True when the slot holds data from an earlier period (a level: any data at all)."""
        if not math.isfinite(self.period_s):
            return self.count[slot] > 0
        return self.count[slot] > 0 and self.period(t) > self.first[slot]

    def learn(self, slot: int, k: int, x: float, clip_z: float, ready: bool, t: float) -> None:
        """Update slot `slot` with x and scale slot k with its residual, clipped when ready."""
        if self.count[slot] == 0:
            self.mean[slot], self.count[slot], self.first[slot] = x, 1, self.period(t)
            return
        if not self.knows(slot, t):
            # Within the first period a slot only averages: residuals against the sample a minute
            # ago would teach a persistence forecast, not a seasonal one.
            self.count[slot] += 1
            self.mean[slot] += (x - self.mean[slot]) / self.count[slot]
            return
        r = x - self.mean[slot]
        lim = clip_z * self.scale(k) if ready else math.inf
        self.mad_n[k] += 1
        self.mad[k] += max(self.alpha_s, 1.0 / self.mad_n[k]) * (min(abs(r), lim) - self.mad[k])
        self.count[slot] += 1
        self.mean[slot] += max(self.alpha, 1.0 / self.count[slot]) * max(-lim, min(lim, r))
        self.n += 1


class AnomalyDetector:
    """Feeds samples one at a time through the baselines and the episode logic; see the module doc."""

    def __init__(self, config: DetectorConfig | None = None) -> None:
        self.config = config or DetectorConfig()
        c = self.config
        self._bin_s = max(c.profile_bin_s, c.sample_period_s)
        self._n_bins = max(1, int(round(_DAY / self._bin_s)))
        # Scales per hour of day: noise often follows the daily rhythm (busy hours are noisier).
        self._scale_bin_s = max(3600.0, self._bin_s)
        self._n_scale = max(1, int(round(_DAY / self._scale_bin_s)))
        per_bin = max(1.0, self._bin_s / c.sample_period_s)  # updates a bin gets per day (per week, weekly)
        self._alpha_level = 1 - math.exp(-c.sample_period_s / c.level_memory_s)
        self._alpha_scale = 1 - math.exp(-c.sample_period_s / c.scale_memory_s)
        self._alpha_profile = 1 - math.exp(-1 / (per_bin * c.profile_memory_days))
        # A baseline votes once its scales rest on about half a day of residuals.
        self._min_votes = max(8, c.samples(_DAY) // 2)
        # At least three samples, so that a spike is never taken for a shift.
        self._shift_n = max(3, c.samples(c.shift_persist_s))
        self._alpha_shift = 1.0 / self._shift_n
        self._range_decay = math.exp(-math.log(2) * c.sample_period_s / c.range_memory_s)
        self._peak_decay = math.exp(-math.log(2) * c.sample_period_s / c.peak_memory_s)
        # A burst is a share of recent steps: too few samples (hourly data) make one big step a "burst".
        self._noise_n = max(c.noise_min_samples, c.samples(c.noise_persist_s))
        self._quiet_n = c.samples(c.quiet_s)
        self._critical_n = c.samples(c.critical_persist_s)
        self.reset()

    def reset(self) -> None:
        """Forget every baseline and episode."""
        a_s = self._alpha_scale
        self._level = _Profile(1, 1, self._alpha_level, a_s)
        self._day = _Profile(self._n_bins, self._n_scale, self._alpha_profile, a_s, _DAY)
        self._week = _Profile(7 * self._n_bins, self._n_scale, self._alpha_profile, a_s, _WEEK)
        self._t_first: float | None = None
        self._t_last: float | None = None  # time of the last finite sample
        self._last_x: float | None = None
        self._n_diffs = 0
        self._resolution = math.inf  # smallest non-zero step seen: the sensor's quantization
        self._diff_mean = 0.0  # learned mean |x[i] - x[i-1]|
        self._burst = 0.0  # short-term share of steps far above the learned mean
        self._repeat_rate = 0.0  # learned share of exact repeats
        self._run = 0  # current run of exact repeats
        self._longest_run = 0  # longest run of repeats that raised nothing
        self._peak = 0.0  # decaying maximum |residual|: spikes as large recur and are not news
        self._voters = 0  # baselines voting at the last sample
        self._voters_scale = math.inf  # best scale when the number of voters last changed
        self._zbar = 0.0  # weighted mean of recent clipped z-scores
        self._accept_until = -math.inf  # baselines learn unclipped until then, after a level shift
        self._rbar = 0.0  # weighted mean of recent residuals, the size of a shift
        self._shift_peak = 0.0  # largest shift score of the excursions that have ended, decaying like the spike peak...
        self._shift_peak_t = 0.0  # ...from this time
        self._excursion = 0.0  # largest shift score of the current excursion (shift score above a half)...
        self._calm = 0  # ...which ends after quiet_s of samples below a half
        self._cusum_hi = 0.0  # Page's two-sided CUSUM of clipped z beyond the drift allowance
        self._cusum_lo = 0.0
        self._hi = -math.inf  # envelope of values seen, relaxing towards the level
        self._rec_hi = -math.inf  # extremes of every value seen, relaxing like the envelope but always widened
        self._rec_lo = math.inf
        self._lo = math.inf
        self._beyond = 0.0  # recent share of samples beyond the envelope
        self._noise_run = 0
        self._anomalous_run = 0
        self._quiet = 0
        self._in_episode = False
        self._raised: dict[str, float] = {}  # kinds raised in the current episode, and when
        self._explained_by = "level"  # the baseline that explained the last sample, and its scale
        self._explained_scale = math.nan
        self._last_score = 0.0

    # -- baselines ---------------------------------------------------------------------------

    def _slots(self, t: float) -> tuple[int, int, int]:
        tod = int((t % _DAY) // self._bin_s) % self._n_bins
        dow = (int(t // _DAY) + _EPOCH_WEEKDAY) % 7
        hour = int((t % _DAY) // self._scale_bin_s) % self._n_scale
        return tod, dow * self._n_bins + tod, hour

    def _score(self, t: float, x: float, tod: int, wk: int, hour: int) -> tuple[float, float, float]:
        """(z, expected, best scale) for x under the baselines that may vote; NaN z if none.

        Also keeps which baseline explained the sample and its scale, for the event's words."""
        c = self.config
        lv = self._level
        # A quantized sensor has half a step of rounding error: no scale below that.
        resolution = 0.5 * self._resolution if math.isfinite(self._resolution) else 0.0
        floor = max(1e-12, 1e-9 * abs(x), c.relative_floor * lv.mad[0], resolution)
        cands: list[tuple[float, float]] = []  # (scale, residual)
        for model, slot, k in ((lv, 0, 0), (self._day, tod, hour), (self._week, wk, hour)):
            if model.knows(slot, t) and model.n >= self._min_votes:
                cands.append((max(model.scale(k), floor), x - model.mean[slot]))
        if not cands:
            return math.nan, (lv.mean[0] if lv.count[0] else math.nan), math.nan
        best = min(s for s, _ in cands)
        if len(cands) != self._voters:
            # A seasonal baseline just started voting and explains far more than the level did:
            # residuals from before it no longer say what a normal peak is.
            if len(cands) > self._voters and best < 0.5 * self._voters_scale:
                self._peak = 0.0
            self._voters, self._voters_scale = len(cands), best
        z, expected = math.inf, math.nan
        for i, (s, r) in enumerate(cands):
            if s <= c.model_slack * best and abs(r / s) < abs(z):
                z, expected = r / s, x - r
                self._explained_by, self._explained_scale = _BASELINE_NAMES[i], s
        return z, expected, best

    def _learn(self, t: float, x: float, tod: int, wk: int, hour: int) -> None:
        clip = self.config.clip_z
        # Once a level shift has been reported, the new level is news no more: learn it unclipped
        # for a while, or a seasonal profile would take weeks to follow it one clipped step a day.
        accept = t < self._accept_until
        self._level.learn(0, 0, x, clip, self._level.n >= self._min_votes and not accept, t)
        self._day.learn(tod, hour, x, clip, self._day.n >= self._min_votes and not accept, t)
        self._week.learn(wk, hour, x, clip, self._week.n >= self._min_votes and not accept, t)

    # -- stream --------------------------------------------------------------------------------

    def update(self, t: np.ndarray, x: np.ndarray) -> DetectorOutput:
        """Score and learn a batch of samples at times `t` (epoch seconds); NaN samples are skipped."""
        t = np.asarray(t, dtype=np.float64).ravel()
        x = np.asarray(x, dtype=np.float64).ravel()
        if t.shape != x.shape:
            raise ValueError(f"t and x must have the same length, got {t.size} and {x.size}")
        c = self.config
        z_out = np.full(x.size, np.nan)
        score_out = np.full(x.size, np.nan)
        exp_out = np.full(x.size, np.nan)
        events: list[Event] = []
        best = math.nan
        for i, (ti, xi) in enumerate(zip(t.tolist(), x.tolist())):
            if not math.isfinite(xi):
                continue
            if self._t_first is None:
                self._t_first = ti
            gap = ti - self._t_last if self._t_last is not None else 0.0
            self._t_last = ti
            if c.dropout_s > 0 and gap >= max(c.dropout_s, 2 * c.sample_period_s) and ti - self._t_first >= c.warmup_s:
                # The stream went silent and came back: a failed sensor, link or process, said on the first sample.
                events.append(Event(kind="dropout", severity=Severity.WARNING, t=ti,
                                    evidence={"value": xi, "gap_s": gap}))
            tod, wk, hour = self._slots(ti)
            z, expected, scale = self._score(ti, xi, tod, wk, hour)
            if math.isfinite(scale):
                best = scale
            facts = self._step_shape(xi)
            facts["beyond"] = self._envelope(xi)
            facts["record"] = self._record(xi)
            if ti - self._t_first >= c.warmup_s and math.isfinite(z):
                z_out[i], exp_out[i] = z, expected
                ev = self._episode(ti, xi, z, expected, facts)
                score_out[i] = self._last_score
                if ev is not None:
                    events.append(ev)
            self._learn(ti, xi, tod, wk, hour)
            if math.isfinite(expected) and math.isfinite(z_out[i]):
                self._peak = max(self._peak * self._peak_decay, abs(xi - expected))
        warming = self._t_first is None or (t.size > 0 and t[-1] - self._t_first < c.warmup_s)
        return DetectorOutput(z=z_out, score=score_out, expected=exp_out, scale=best, warming_up=bool(warming), events=events)

    def _step_shape(self, x: float) -> dict[str, float]:
        """Update the repeat and variation statistics; return the stuck/noise facts of this sample."""
        facts: dict[str, float] = {}
        c = self.config
        if self._last_x is not None:
            dx = abs(x - self._last_x)
            repeat = dx == 0.0
            if not repeat and dx < self._resolution:
                self._resolution = dx
            if not repeat and self._run:
                self._longest_run = max(self._longest_run, self._run) if "stuck" not in self._raised else self._longest_run
            self._run = self._run + 1 if repeat else 0
            self._n_diffs += 1
            a = max(self._alpha_scale, 1.0 / self._n_diffs)
            self._repeat_rate += a * ((1.0 if repeat else 0.0) - self._repeat_rate)
            # A step far above the usual one counts towards a burst; a single jump (a square wave's edge) does not.
            big = self._diff_mean > 0 and dx > c.noise_ratio * self._diff_mean
            self._burst += (1 - math.exp(-1 / max(2, self._noise_n))) * ((1.0 if big else 0.0) - self._burst)
            self._diff_mean += a * (min(dx, 3 * c.noise_ratio * self._diff_mean if self._n_diffs > 10 else dx)
                                    - self._diff_mean)
            facts["run"] = self._run
            facts["burst"] = self._burst
        self._last_x = x
        return facts

    def _record(self, x: float) -> float:
        """How far x goes beyond the extremes seen, in shares of their span (0 inside); then widen them."""
        lv = self._level
        out = 0.0
        if lv.n >= self._min_votes and self._rec_hi > self._rec_lo:
            span = self._rec_hi - self._rec_lo
            out = max(x - self._rec_hi, self._rec_lo - x, 0.0) / span
        if lv.count[0]:
            m = lv.mean[0]
            self._rec_hi = max(x, m + (self._rec_hi - m) * self._range_decay) if math.isfinite(self._rec_hi) else x
            self._rec_lo = min(x, m + (self._rec_lo - m) * self._range_decay) if math.isfinite(self._rec_lo) else x
        return out

    def _envelope(self, x: float) -> float:
        """Share of recent samples beyond the learned envelope, then widen the envelope with x."""
        lv = self._level
        margin = self.config.range_margin * lv.mad[0]
        out = 1.0 if lv.n >= self._min_votes and (x > self._hi + margin or x < self._lo - margin) else 0.0
        self._beyond += self._alpha_shift * (out - self._beyond)
        # Samples beyond the envelope do not widen it, so a sustained excursion stays beyond;
        # a slow seasonal rise widens it by up to one margin per sample.
        if lv.count[0] and not out:
            m = lv.mean[0]
            self._hi = max(x, m + (self._hi - m) * self._range_decay) if math.isfinite(self._hi) else x
            self._lo = min(x, m + (self._lo - m) * self._range_decay) if math.isfinite(self._lo) else x
        return self._beyond

    def _stuck_run_needed(self) -> int:
        c = self.config
        need = max(c.stuck_min_samples, int(math.ceil(1.5 * self._longest_run)))
        p = min(0.999, self._repeat_rate)
        if p > 0:
            need = max(need, int(math.ceil(math.log(c.stuck_false_rate) / math.log(p))))
        return need

    def _episode(self, t: float, x: float, z: float, expected: float, facts: dict[str, float]) -> Event | None:
        c = self.config
        az = abs(z)
        # A weighted mean of z (each sample clipped at z_spike) over about the persistence time:
        # one noisy sample neither makes nor breaks a shift, a lone spike cannot fake one.
        self._zbar += self._alpha_shift * (max(-c.z_spike, min(c.z_spike, z)) - self._zbar)
        self._rbar += self._alpha_shift * ((x - expected) - self._rbar)
        zc = max(-c.z_spike, min(c.z_spike, z))
        self._cusum_hi = max(0.0, self._cusum_hi + zc - c.cusum_k)
        self._cusum_lo = max(0.0, self._cusum_lo - zc - c.cusum_k)
        if t < self._accept_until:
            # A reported shift is news no more while the baselines learn it: no evidence piles up meanwhile.
            self._cusum_hi = self._cusum_lo = 0.0
        spike_score = az / c.z_spike
        if self._peak > 0 and math.isfinite(expected):
            # Spikes that recur at one height are this stream's normal: it must also outgrow the largest recent one.
            spike_score = min(spike_score, abs(x - expected) / (c.novelty * self._peak))
        shift_score = max(abs(self._zbar) / c.z_shift, max(self._cusum_hi, self._cusum_lo) / c.cusum_h)
        # Like spikes, shifts that recur at one size (bursts of a busy stream) are its normal: a shift must also
        # outgrow `shift_novelty` times the largest of the excursions before this one. An excursion is a stretch
        # with the shift score above a half, whatever the sensitivity, so that the score does not depend on it.
        earlier = self._shift_peak * math.exp(-math.log(2) * (t - self._shift_peak_t) / c.peak_memory_s)
        if shift_score >= 0.5:
            self._excursion, self._calm = max(self._excursion, shift_score), 0
        elif self._excursion > 0:
            self._calm += 1
            if self._calm >= self._quiet_n:
                self._shift_peak, self._shift_peak_t = max(earlier, self._excursion), t
                self._excursion = 0.0
        if c.shift_novelty > 0 and earlier > 0:
            shift_score = min(shift_score, shift_score / (c.shift_novelty * earlier))
        # A new extreme that the seasonal baseline expects within `record_z` scales (a slow trend, a busier
        # day's usual peak) is not news.
        record_score = (facts.get("record", 0.0) / c.record_share
                        if c.record_share > 0 and az >= c.record_z else 0.0)
        self._last_score = max(spike_score, shift_score, record_score)
        threshold = 1.0 / c.sensitivity
        burst = facts.get("burst", 0.0)
        self._noise_run = self._noise_run + 1 if burst >= 0.5 else 0
        run = int(facts.get("run", 0))
        # A stream that never varied (a constant) cannot be stuck; one that repeats often needs long runs.
        stuck = self._diff_mean > 0 and run >= self._stuck_run_needed()
        # A coarse sensor that repeats often also sits on one value through a slow stretch: call it
        # stuck only once the baseline has moved away from the frozen value.
        if stuck and self._repeat_rate >= 0.01 and az < c.stuck_z:
            stuck = False
        kind = None
        if spike_score >= threshold:
            kind = "spike"
        elif shift_score >= threshold:
            kind = "level_shift"
        elif record_score >= threshold:
            kind = "out_of_range"
        elif stuck:
            kind = "stuck"
        elif self._noise_run >= self._noise_n:
            kind = "noise_burst"
        elif facts.get("beyond", 0.0) >= 0.5:
            kind = "out_of_range"
        anomalous = kind is not None or az >= c.z_shift or self._noise_run > 0 or stuck
        if anomalous:
            self._anomalous_run += 1
            self._quiet = 0
            self._in_episode = True
        elif self._in_episode:
            self._quiet += 1
            if self._quiet >= self._quiet_n:
                self._in_episode, self._anomalous_run = False, 0
                self._raised.clear()
        # One incident is one event: the spike, shift and new extreme of one incident come within minutes of
        # each other, and each later one would be a false alarm to whoever reads them. A sensor fault (stuck,
        # noise burst) is another incident, raised once per episode on its own. An episode that
        # never quietens (a spiky stream) must not silence the detector for good: it re-arms after rearm_s.
        key = "deviation" if c.one_event_per_episode and kind in _DEVIATIONS else kind
        if kind is None or t - self._raised.get(key, -math.inf) < c.rearm_s:
            if "deviation" in self._raised and shift_score >= c.accept_shift and t >= self._accept_until:
                # The episode's deviation was raised already (a spike, say) and the value stays away: a new level,
                # learned as if it had been raised as a shift, or it would be raised again at the re-arm.
                # (At a fixed share of the shift threshold, not the sensitivity's, which only moves events.)
                self._cusum_hi = self._cusum_lo = 0.0
                self._accept_until = t + c.accept_s
            return None
        self._raised[key] = t
        critical = az >= c.z_critical or self._anomalous_run >= self._critical_n
        evidence: dict[str, float | int | str] = {"value": x, "expected": expected, "z": z,
                                                  "score": round(self._last_score, 2)}
        if math.isfinite(self._explained_scale) and math.isfinite(expected):
            # What the baseline that explained the stream best calls usual: its expectation +- 2 of its scales
            # (a mean absolute residual), the range a technician compares the value with.
            evidence["usual_low"] = expected - 2 * self._explained_scale
            evidence["usual_high"] = expected + 2 * self._explained_scale
            evidence["baseline"] = self._explained_by
        if kind == "stuck":
            evidence["repeats"] = run
        elif kind == "noise_burst":
            evidence["burst_share"] = burst
        elif kind == "level_shift":
            evidence["mean_z"] = round(self._zbar, 2)
            evidence["step"] = self._rbar
            evidence["cusum"] = round(max(self._cusum_hi, self._cusum_lo), 2)
            self._cusum_hi = self._cusum_lo = 0.0
            self._accept_until = t + c.accept_s

        return Event(kind=kind, severity=Severity.CRITICAL if critical else Severity.WARNING, t=t, evidence=evidence)
