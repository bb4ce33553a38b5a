"""Synthetic single-lead ECG with known truth: R-peak positions and beat labels (N, V, S).

Each beat is a sum of Gaussian waves (P, Q, R, S, T) placed around its R time, in the
spirit of McSharry et al. (2003) but built beat by beat so that ectopic beats, pauses and
atrial fibrillation can be inserted with exact labels. Intervals follow the rate (QT by
Bazett, PR shortening slightly with rate); RR carries respiratory sinus arrhythmia, a
Mayer (0.1 Hz) wave and jitter, so HRV is physiological and known.

Pure numpy; deterministic for a given `numpy.random.Generator`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger(__name__)

BEAT_LABELS = ("N", "V", "S")


@dataclass(slots=True)
class SyntheticECG:
    """A generated record: signal in mV at `fs` Hz, R-peak sample indices and one label per beat."""

    signal: np.ndarray  # float64, mV
    fs: float
    r_peaks: np.ndarray  # int64 sample indices, increasing
    labels: list[str]  # "N", "V" or "S", one per r_peak
    af: bool = False
    options: dict[str, object] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        """Length of the record in seconds."""
        return self.signal.size / self.fs

    def rr_s(self) -> np.ndarray:
        """All RR intervals in seconds."""
        return np.diff(self.r_peaks) / self.fs

    def nn_s(self) -> np.ndarray:
        """RR intervals between two consecutive normal beats, in seconds (the HRV input)."""
        rr = self.rr_s()
        lab = np.asarray(self.labels)
        keep = (lab[:-1] == "N") & (lab[1:] == "N")
        return rr[keep]


@dataclass(slots=True)
class _Options:
    v_fraction: float = 0.0  # share of sinus beats replaced by a ventricular premature beat
    s_fraction: float = 0.0  # share replaced by a supraventricular premature beat
    af: bool = False  # atrial fibrillation: irregularly irregular RR, no P, f-waves
    pauses: int = 0  # number of sinus pauses to insert
    pause_s: float = 2.6  # length of each pause (RR), seconds
    snr_db: float | None = None  # white noise relative to the clean ECG power; None = none
    baseline_mv: float = 0.0  # peak amplitude of respiratory / movement baseline wander
    powerline_hz: float = 0.0  # 50 or 60 to add mains interference
    powerline_mv: float = 0.05
    amplitude_mv: float = 1.0  # R-wave amplitude of a normal beat
    rsa: float = 0.04  # respiratory sinus arrhythmia, fraction of RR
    mayer: float = 0.02  # 0.1 Hz modulation, fraction of RR
    jitter_ms: float = 8.0  # white beat-to-beat jitter of RR, ms
    resp_hz: float = 0.25
    v_polarity: int = 0  # +1 upright V beats, -1 inverted, 0 random per record
    start_s: float = 0.4  # time of the first R peak
    noise_floor_uv: float = 5.0  # amplifier noise (RMS): no real lead is ever perfectly still
    noise: str = "white"  # kind of noise at snr_db: "white" or "mixed" (white, muscle bursts, electrode motion)
    vary_morphology: bool = False  # draw this record's lead shape (R, S, T sizes, QRS width) at random
    v_forms: int = 1  # number of distinct ventricular foci (multiform PVCs when > 1)
    v_runs: int = 0  # salvos of consecutive ventricular beats (ventricular tachycardia when long and fast)
    v_run_beats: int = 6
    v_run_bpm: float = 160.0

    def validate(self) -> None:
        for name in ("v_fraction", "s_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 0.45:
                raise ValueError(f"{name} must be within 0..0.45, got {value}")
        if self.v_fraction + self.s_fraction > 0.5:
            raise ValueError("v_fraction + s_fraction must not exceed 0.5")
        if self.pauses < 0 or self.pause_s <= 0:
            raise ValueError("pauses must be >= 0 and pause_s > 0")
        if self.baseline_mv < 0 or self.powerline_mv < 0 or self.amplitude_mv <= 0:
            raise ValueError("amplitudes must be non-negative (amplitude_mv positive)")
        if self.noise not in ("white", "mixed"):
            raise ValueError(f"noise must be 'white' or 'mixed', got {self.noise!r}")
        if self.v_runs < 0 or self.v_run_beats < 1 or not 60 <= self.v_run_bpm <= 300:
            raise ValueError("v_runs must be >= 0, v_run_beats >= 1 and v_run_bpm within 60..300")
        if self.v_forms < 1:
            raise ValueError(f"v_forms must be at least 1, got {self.v_forms}")
        if self.v_polarity not in (-1, 0, 1):
            raise ValueError(f"v_polarity must be -1, 0 or 1, got {self.v_polarity}")


def synthesize_ecg(
    duration_s: float,
    fs: float,
    hr_bpm: float,
    *,
    rng: np.random.Generator | None = None,
    **options: object,
) -> SyntheticECG:
    """Generate `duration_s` seconds of ECG at `fs` Hz around `hr_bpm`; see `_Options` for the rest."""
    if duration_s <= 0 or fs <= 0:
        raise ValueError(f"duration_s and fs must be positive, got {duration_s}, {fs}")
    if not 20.0 <= hr_bpm <= 250.0:
        raise ValueError(f"hr_bpm must be within 20..250, got {hr_bpm}")
    try:
        opts = _Options(**options)  # type: ignore[arg-type]
    except TypeError as err:
        raise ValueError(f"unknown option: {err}") from err
    opts.validate()
    rng = rng if rng is not None else np.random.default_rng()
    n = int(round(duration_s * fs))
    times, labels = _beat_times(duration_s, hr_bpm, opts, rng)
    clean = _render(times, labels, n, fs, hr_bpm, opts, rng)
    signal = clean.copy()
    if opts.af:
        signal += _fibrillatory_waves(n, fs, rng)
    if opts.noise_floor_uv > 0:
        signal += rng.normal(0.0, opts.noise_floor_uv * 1e-3, n)
    if opts.snr_db is not None:
        power = float(np.var(clean))
        rms = np.sqrt(power / 10 ** (opts.snr_db / 10.0))
        if opts.noise == "white":
            signal += rng.normal(0.0, rms, n)
        else:  # "mixed": equal powers of white noise, muscle bursts and electrode motion
            signal += rms * np.sqrt(1.0 / 3.0) * (rng.normal(0.0, 1.0, n) + _muscle_noise(n, fs, rng) + _motion_noise(n, fs, rng))
    if opts.baseline_mv > 0:
        signal += _baseline_wander(n, fs, opts, rng)
    if opts.powerline_hz > 0:
        t = np.arange(n) / fs
        signal += opts.powerline_mv * np.sin(2 * np.pi * opts.powerline_hz * t + rng.uniform(0, 2 * np.pi))
    r_peaks = np.round(times * fs).astype(np.int64)
    inside = r_peaks < n
    r_peaks, labels = r_peaks[inside], [lab for lab, ok in zip(labels, inside) if ok]
    return SyntheticECG(signal, float(fs), r_peaks, labels, af=opts.af, options=dict(options))


def _beat_times(duration_s: float, hr_bpm: float, opts: _Options, rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    """R times (s) and labels: a modulated sinus RR series with ectopic beats and pauses inserted."""
    rr0 = 60.0 / hr_bpm
    n_max = int(duration_s / (0.3 * rr0)) + 8
    phase_r, phase_m = rng.uniform(0, 2 * np.pi, 2)
    slots = np.arange(3, max(4, int(duration_s / rr0) - 2))
    special = rng.choice(slots, size=min(slots.size, opts.pauses + opts.v_runs), replace=False).tolist()
    pause_at, run_at = set(special[: opts.pauses]), set(special[opts.pauses:])
    times: list[float] = []
    labels: list[str] = []
    t = opts.start_s
    since_ectopic = 3
    k = 0
    while t < duration_s and len(times) < n_max:
        times.append(t)
        labels.append("N")
        k += 1
        if opts.af:
            # Irregularly irregular: independent intervals, wide spread (CV about 0.2).
            rr = float(np.clip(rr0 * rng.lognormal(0.0, 0.2), 0.33, 2.0 * rr0))
        else:
            rr = rr0 * (1 + opts.rsa * np.sin(2 * np.pi * opts.resp_hz * t + phase_r) + opts.mayer * np.sin(2 * np.pi * 0.1 * t + phase_m))
            rr += rng.normal(0.0, opts.jitter_ms / 1000.0)
            rr = max(rr, 0.3)
        if k in pause_at:
            t += opts.pause_s
            since_ectopic = 0
            continue
        if k in run_at:
            # A salvo of ventricular beats at a fixed rate, then the sinus rhythm resumes.
            step = 60.0 / opts.v_run_bpm
            for b in range(opts.v_run_beats):
                if t + (b + 1) * step < duration_s:
                    times.append(t + (b + 1) * step)
                    labels.append("V")
            t += (opts.v_run_beats + 1) * step + rr
            since_ectopic = 0
            continue
        since_ectopic += 1
        draw = rng.uniform()
        # At least two sinus beats between ectopics keeps couplets and runs out of the truth.
        if since_ectopic >= 2 and draw < opts.v_fraction:
            # Ventricular coupling intervals rarely fall under about 360 ms whatever the rate (R-on-T is rare).
            coupling = max(rng.uniform(0.55, 0.7), min(rng.uniform(0.36, 0.42), 0.85 * rr) / rr)
            if t + coupling * rr < duration_s:
                times.append(t + coupling * rr)
                labels.append("V")
            t += 2.0 * rr  # fully compensatory pause: the sinus node is not reset
            since_ectopic = 0
        elif since_ectopic >= 2 and draw < opts.v_fraction + opts.s_fraction and not opts.af:
            coupling = rng.uniform(0.6, 0.75)
            s_time = t + coupling * rr
            if s_time < duration_s:
                times.append(s_time)
                labels.append("S")
            t = s_time + rr  # the sinus node is reset: a non-compensatory pause
            since_ectopic = 0
        else:
            t += rr
    return np.asarray(times), labels


@dataclass(slots=True)
class _Morphology:
    """Per-record shape: how this patient's lead scales each normal wave, and the ventricular foci."""

    n_amp: np.ndarray  # multipliers of P, Q, R, S, T, T2 amplitudes
    n_width: float  # multiplier of QRS wave widths
    v_forms: list[tuple[float, float, float, float]]  # (polarity, main amplitude, width s, T amplitude)


def _morphology(opts: _Options, rng: np.random.Generator) -> _Morphology:
    polarity = float(opts.v_polarity or rng.choice([-1.0, 1.0]))
    if not opts.vary_morphology:
        return _Morphology(np.ones(6), 1.0, [(polarity, 1.25, 0.028, 0.42)])
    # Leads differ: small or tall R, deep S (rS), flat or inverted T, faint P.
    n_amp = np.array([rng.uniform(0.4, 1.5), rng.uniform(0.0, 2.0), rng.uniform(0.5, 1.8), rng.uniform(0.3, 3.0), rng.choice([-0.6, 0.5, 1.0, 1.4]), 1.0])
    n_amp[5] = n_amp[4]
    forms = []
    for k in range(opts.v_forms):
        pol = polarity if k == 0 else float(rng.choice([-1.0, 1.0]))
        forms.append((pol, rng.uniform(0.8, 1.8), rng.uniform(0.022, 0.036), rng.uniform(0.25, 0.6)))
    return _Morphology(n_amp, rng.uniform(0.85, 1.25), forms)


# Wave tables: (amplitude mV, centre s relative to R, width s). Centres of P and T scale with RR.
def _waves(label: str, rr: float, morph: _Morphology, form: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    qt_scale = float(np.sqrt(np.clip(rr, 0.3, 2.0)))  # Bazett: QT ~ sqrt(RR)
    pr_scale = float(np.clip(0.85 + 0.15 * rr, 0.85, 1.1))
    t_centre = 0.30 * qt_scale
    if label == "V":
        pol, main, width, t_amp = morph.v_forms[form % len(morph.v_forms)]
        # Wide, no P, a second lobe, and a T wave discordant to the main deflection.
        return (
            np.array([main * pol, -0.45 * pol, -t_amp * pol, -0.12 * pol]),
            np.array([0.0, 1.9 * width, t_centre + 0.03, t_centre - 0.06]),
            np.array([width, 0.85 * width, 0.07, 0.05]),
        )
    if label == "S":
        p = (-0.09, -0.12 * pr_scale, 0.018)  # ectopic atrial focus: inverted P, short PR
    else:
        p = (0.13, -0.17 * pr_scale, 0.024)
    w = morph.n_width
    waves = [p, (-0.10, -0.028 * w, 0.009 * w), (1.0, 0.0, 0.010 * w), (-0.22, 0.030 * w, 0.010 * w), (0.28, t_centre, 0.055), (0.06, t_centre - 0.07, 0.05)]
    amp, mu, sig = (np.array(col) for col in zip(*waves))
    return amp * morph.n_amp, mu, sig


def _render(times: np.ndarray, labels: list[str], n: int, fs: float, hr_bpm: float, opts: _Options, rng: np.random.Generator) -> np.ndarray:
    """Sum each beat's Gaussian waves into an n-sample signal."""
    out = np.zeros(n)
    morph = _morphology(opts, rng)
    rr0 = 60.0 / hr_bpm
    half_before, half_after = int(0.35 * fs), int(0.75 * fs)
    for i, (t_r, lab) in enumerate(zip(times, labels)):
        rr = times[i] - times[i - 1] if i > 0 else rr0
        if lab != "N":
            rr = rr0  # ectopic repolarisation follows the underlying rate, not the short coupling
        amp, mu, sig = _waves(lab, rr, morph, int(rng.integers(0, len(morph.v_forms))) if lab == "V" else 0)
        if opts.af and lab == "N":
            amp = amp.copy()
            amp[0] = 0.0  # no P waves in AF
        # Respiration modulates the electrical axis, so QRS amplitude breathes slightly.
        scale = opts.amplitude_mv * (1 + 0.05 * np.sin(2 * np.pi * opts.resp_hz * t_r) + rng.normal(0, 0.02))
        c = int(round(t_r * fs))
        lo, hi = max(0, c - half_before), min(n, c + half_after)
        if lo >= hi:
            continue
        tt = np.arange(lo, hi) / fs - t_r
        out[lo:hi] += scale * (amp[:, None] * np.exp(-0.5 * ((tt[None, :] - mu[:, None]) / sig[:, None]) ** 2)).sum(axis=0)
    return out


def _muscle_noise(n: int, fs: float, rng: np.random.Generator) -> np.ndarray:
    """EMG-like noise: broadband (above about 20 Hz) in bursts of a few seconds, unit RMS."""
    white = rng.normal(0.0, 1.0, n)
    # First difference tilts the spectrum toward high frequencies, as muscle noise is.
    hf = np.diff(white, prepend=0.0)
    t = np.arange(n) / fs
    bursts = 0.4 + np.clip(np.sin(2 * np.pi * 0.11 * t + rng.uniform(0, 6.3)) + 0.5 * np.sin(2 * np.pi * 0.37 * t + rng.uniform(0, 6.3)), 0.0, None)
    noise = hf * bursts
    return noise / (np.std(noise) + 1e-12)


def _motion_noise(n: int, fs: float, rng: np.random.Generator) -> np.ndarray:
    """Electrode-motion-like noise: 1-12 Hz (the QRS band's neighbour), in irregular bursts, unit RMS."""
    spectrum = np.fft.rfft(rng.normal(0.0, 1.0, n))
    freqs = np.fft.rfftfreq(n, 1.0 / fs)
    spectrum[(freqs < 1.0) | (freqs > 12.0)] = 0.0
    band = np.fft.irfft(spectrum, n)
    t = np.arange(n) / fs
    bursts = np.clip(np.sin(2 * np.pi * 0.05 * t + rng.uniform(0, 6.3)) + 0.6 * np.sin(2 * np.pi * 0.23 * t + rng.uniform(0, 6.3)), 0.0, None) + 0.2
    noise = band * bursts
    return noise / (np.std(noise) + 1e-12)


def _fibrillatory_waves(n: int, fs: float, rng: np.random.Generator) -> np.ndarray:
    """Atrial f-waves: 4-8 Hz, slowly varying frequency and amplitude (about 0.05 mV)."""
    t = np.arange(n) / fs
    freq = 6.0 + 1.0 * np.sin(2 * np.pi * 0.07 * t + rng.uniform(0, 6.3))
    phase = 2 * np.pi * np.cumsum(freq) / fs
    amp = 0.04 + 0.02 * np.sin(2 * np.pi * 0.13 * t + rng.uniform(0, 6.3))
    return amp * np.sin(phase)


def _baseline_wander(n: int, fs: float, opts: _Options, rng: np.random.Generator) -> np.ndarray:
    """Respiratory and slow movement drift, peak amplitude about `baseline_mv`."""
    t = np.arange(n) / fs
    wander = np.zeros(n)
    for f, w in ((opts.resp_hz, 0.6), (0.05, 0.3), (0.4, 0.1)):
        wander += w * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    return opts.baseline_mv * wander


def electrode_motion(n: int, fs: float, seed: int, lead: int = 0) -> np.ndarray:
    """Electrode-motion artefacts built from their physics, unit RMS: what the NSTDB `em` record holds.

    When the wearer moves, the skin under an electrode stretches and its half-cell potential
    jumps: the front end's high-pass (monitor mode, about 0.5 Hz) turns each jump into a step
    that decays over 0.3-1.5 s (baseline steps). A press or tug on the electrode makes a brief
    deflection of QRS duration, 60-160 ms, bi- or triphasic (beat-like transients), which is
    why motion is the noise that fools QRS detectors. Movement comes in episodes of 2-10 s with
    steps at a gait cadence of 1-2.2 Hz, between quiet spells of 2-15 s. The episodes and
    events are the same on every `lead` (one body moves); each lead's sizes and polarities are
    its own (`seed`, `lead`), so two leads agree on when, not on what.
    """
    out = np.zeros(n)
    if n == 0:
        return out
    for t in _motion_events(n / fs, np.random.default_rng(seed)):
        _add_motion_event(out, fs, int(t * fs), np.random.default_rng([seed, lead, int(t * 1000)]))
    return out / (float(np.sqrt(np.mean(out * out))) + 1e-12)


def _motion_events(duration_s: float, rng: np.random.Generator) -> np.ndarray:
    """Times (s) of motion events: episodes of steps at a gait cadence, separated by quiet spells."""
    times: list[float] = []
    t = float(rng.uniform(0.0, 5.0))
    while t < duration_s:
        end = t + float(rng.uniform(2.0, 10.0))
        period = 1.0 / float(rng.uniform(1.0, 2.2))
        while t < min(end, duration_s):
            times.append(t)
            t += period * float(rng.uniform(0.85, 1.15))
        t = end + float(rng.uniform(2.0, 15.0))
    return np.asarray(times)


def _add_motion_event(out: np.ndarray, fs: float, at: int, rng: np.random.Generator) -> None:
    """One event in place: a decaying baseline step and, most times, a QRS-like transient on top."""
    tau = float(rng.uniform(0.3, 1.5))
    span = np.arange(0, min(out.size - at, int(5 * tau * fs)))
    out[at: at + span.size] += rng.normal(0.0, 1.0) * np.exp(-span / (tau * fs))
    if rng.random() < 0.7:
        sigma = float(rng.uniform(0.015, 0.04)) * fs  # 4 sigma: 60-160 ms, a QRS's duration
        k = np.arange(-int(4 * sigma), int(4 * sigma) + 1)
        u = k / sigma
        biphasic, triphasic = -u * np.exp(-0.5 * u * u), (1 - u * u) * np.exp(-0.5 * u * u)
        mix = float(rng.uniform(0.0, 1.0))
        shape = mix * biphasic / 0.607 + (1 - mix) * triphasic
        lo, hi = max(0, at + k[0]), min(out.size, at + k[-1] + 1)
        if lo < hi:
            out[lo:hi] += 3.0 * rng.normal(0.0, 1.0) * shape[lo - (at + k[0]): hi - (at + k[0])]
