"""The demo's audio: a track's parameters rendered by additive synthesis, mixed, distorted, filtered, noised.

Pure numpy on float32 mono arrays. ``render_track`` lays a 16th-note grid over the clip and renders
five buses on it, drums, chords, bass, lead and voice (sung, or rapped), each from one short function
that draws its own randomness from the one generator, in a fixed order, so a seed always gives the
same clip; ``_master`` mixes them and adds the room (reverb), distortion, a low-pass, noise and
crackle. ``render_clip`` seeds a track's parameters and rendering from (seed, track id) alone.

Clips are mono 22,050 Hz (librosa's default rate: features need no resampling, and encoding costs
half of 44.1 kHz), i.e. MPEG-2 Layer III once written as MP3.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import signal

from core.demo.styles import SCALES, draw_track_params

SAMPLE_RATE = 22050  # Hz; librosa's default rate, so feature extraction decodes without resampling
CLIP_SECONDS = 30.0
BUSES = ("drums", "bass", "chords", "lead", "voice")


def _midi_hz(note: float) -> float:
    return 440.0 * 2 ** ((note - 69) / 12)


def _envelope(n: int, sr: int, attack: float, decay: float) -> np.ndarray:
    """Linear attack (s), exponential decay (1/s) and a 5 ms release so notes end without clicks."""
    t = np.arange(n, dtype=np.float32) / sr
    env = np.exp(-decay * t) * np.minimum(1.0, t / max(attack, 1e-3))
    release = min(n, int(0.005 * sr))
    env[n - release:] *= np.linspace(1, 0, release, dtype=np.float32)
    return env.astype(np.float32)


def tone(f0: float, n: int, sr: int, amps: np.ndarray, attack: float, decay: float,
         damping: float = 0.0, vibrato: float = 0.0, glide: float = 0.0) -> np.ndarray:
    """A harmonic note: ``n`` samples, fundamental ``f0`` Hz, harmonic amplitudes ``amps`` (k = 1..).

    ``damping`` makes harmonic k decay ``1 + damping*k`` times faster (a plucked string), ``vibrato``
    is relative pitch depth at 5.5 Hz, ``glide`` a relative pitch fall over the note (808 bass, speech).
    Harmonics above Nyquist are dropped. Returns float32 of shape (n,).
    """
    t = np.arange(n, dtype=np.float32) / sr
    freq = f0 * (1 + vibrato * np.sin(2 * np.pi * 5.5 * t) + glide * np.exp(-8 * t))
    phase = 2 * np.pi * np.cumsum(freq, dtype=np.float64).astype(np.float32) / sr
    k = np.arange(1, len(amps) + 1, dtype=np.float32)
    # Harmonics above Nyquist would alias; those 46 dB below the strongest are inaudible in the mix.
    keep = (k * f0 * (1 + abs(glide)) < sr / 2 * 0.9) & (amps > 0.005 * amps.max())
    k, amps = k[keep], amps[keep]
    if not len(k):
        return np.zeros(n, np.float32)
    partials = np.sin(k[:, None] * phase[None, :])
    if damping:
        partials *= np.exp(-damping * k[:, None] * t[None, :])
    return (amps.astype(np.float32) @ partials) * _envelope(n, sr, attack, decay)


def harmonic_amps(tilt: float, odd: float, count: int = 16) -> np.ndarray:
    """Amplitudes k**-tilt with even harmonics scaled by (1 - odd): 0 = saw-like, 1 = square-like."""
    k = np.arange(1, count + 1)
    return k ** -tilt * np.where(k % 2 == 0, 1 - odd, 1.0)


# Formant centres (Hz) and bandwidths of sung vowels a, e, i, o, u (a male-ish voice).
_VOWELS = ((730, 1090, 2440), (530, 1840, 2480), (270, 2290, 3010), (570, 840, 2410), (300, 870, 2240))


def vowel_amps(f0: float, vowel: int, count: int = 30) -> np.ndarray:
    """Harmonic amplitudes of a voice at ``f0`` Hz shaped by the formants of vowel index 0..4."""
    freqs = f0 * np.arange(1, count + 1)
    gain = sum(np.exp(-0.5 * ((freqs - centre) / (60 + 0.08 * centre)) ** 2) / (i + 1)
               for i, centre in enumerate(_VOWELS[vowel]))
    return (gain + 0.02) * np.arange(1, count + 1) ** -0.7


def drum_kit(rng: np.random.Generator, sr: int, tabla: float) -> dict[str, np.ndarray]:
    """One-shot kick, snare (noisy, or tuned hand drum as ``tabla`` → 1) and hi-hat samples, per track."""
    t = np.arange(int(0.45 * sr), dtype=np.float32) / sr
    low = rng.uniform(42, 60)
    kick_phase = 2 * np.pi * np.cumsum(low + rng.uniform(60, 140) * np.exp(-t * rng.uniform(20, 40))) / sr
    kick = np.sin(kick_phase) * np.exp(-t * rng.uniform(6, 12))
    ts = t[: int(0.3 * sr)]
    noise = rng.standard_normal(ts.size).astype(np.float32)
    noisy = (np.diff(noise, prepend=0) * 0.6 + np.sin(2 * np.pi * rng.uniform(160, 240) * ts)) * np.exp(-ts * rng.uniform(14, 25))
    pitch = rng.uniform(250, 500)
    tuned = (np.sin(2 * np.pi * pitch * ts * (1 + 0.2 * np.exp(-ts * 30))) + 0.4 * np.sin(2 * np.pi * 2.7 * pitch * ts)) * np.exp(-ts * rng.uniform(8, 16))
    th = t[: int(0.12 * sr)]
    hiss = np.diff(np.diff(rng.standard_normal(th.size + 2).astype(np.float32)))
    hat = hiss * np.exp(-th * rng.uniform(25, 70)) * 0.5
    return {"kick": kick.astype(np.float32), "snare": ((1 - tabla) * noisy + tabla * tuned).astype(np.float32),
            "hat": hat.astype(np.float32)}


def _add(bus: np.ndarray, start: int, sound: np.ndarray, gain: float = 1.0) -> None:
    """Mix ``sound`` into ``bus`` at sample ``start``, cut at the bus end."""
    if start >= bus.size:
        return
    start = max(start, 0)
    end = min(bus.size, start + sound.size)
    bus[start:end] += gain * sound[: end - start]


def _normalise(bus: np.ndarray) -> np.ndarray:
    rms = float(np.sqrt(np.mean(bus**2)))
    return bus / rms if rms > 1e-8 else bus


def render_clip(track_id: int, style: dict, seed: int, seconds: float = CLIP_SECONDS,
                sr: int = SAMPLE_RATE) -> np.ndarray:
    """The clip of ``track_id``: its artist ``style`` varied per track, rendered. float32 (seconds*sr,).

    Seeded by (seed, track_id) alone, so a clip is the same whichever worker renders it and in
    whatever order.
    """
    rng = np.random.default_rng([seed, 2, track_id])
    return render_track(draw_track_params(style, rng), rng, seconds, sr)


def render_track(params: dict, rng: np.random.Generator, seconds: float = CLIP_SECONDS,
                 sr: int = SAMPLE_RATE) -> np.ndarray:
    """Render one clip from track parameters (see ``draw_track_params``). Returns float32 (seconds*sr,)."""
    n = int(round(seconds * sr))
    params = {**params, "chaos": float(np.clip(params["chaos"], 0, 1))}  # drawn values may leave 0..1
    grid = _grid(params, rng, seconds, sr)
    drums = _drums(params, grid, rng, sr, n)
    harmony = _Harmony(params, rng)
    notes = _Notes()
    chords = _chords(params, grid, harmony, notes, rng, sr, n)
    bass = _bass(params, grid, harmony, notes, rng, sr, n)
    lead, voice = _melody(params, grid, harmony, notes, rng, sr, n)
    if params["rap"] > 0.05:
        _rap(params, grid, notes, rng, sr, voice)
    buses = {"drums": drums, "bass": bass, "chords": chords, "lead": lead, "voice": voice}
    return _master(buses, params, rng, seconds, sr)


@dataclass(frozen=True)
class _Grid:
    """A clip's 16th-note grid and arrangement.

    ``steps``: step numbers, counted from the bar's start (the clip starts ``offset`` steps into a
    bar); ``starts``: their first samples (swing and chaos shift them); ``bars``: their bar numbers;
    ``step``: seconds per 16th; ``active[bus]``: whether the bus plays in each 8-bar section.
    """

    steps: np.ndarray
    starts: np.ndarray
    bars: np.ndarray
    step: float
    offset: int
    active: dict[str, np.ndarray]

    def plays(self, bus: str, i: int) -> bool:
        """Whether ``bus`` plays at step index ``i``."""
        return bool(self.active[bus][self.bars[i] // 8])


def _grid(params: dict, rng: np.random.Generator, seconds: float, sr: int) -> _Grid:
    step = 60.0 / params["bpm"] / 4  # seconds per 16th
    n_steps = int(seconds / step) + 2
    offset = int(rng.integers(16))  # the clip starts anywhere in a bar
    steps = np.arange(n_steps) + offset
    times = (steps - offset) * step + (steps % 2) * params["swing"] * step
    times = times + params["chaos"] * step * 0.5 * rng.standard_normal(n_steps)
    bars = steps // 16
    # Arrangement: 8-bar sections in which each bus may drop out (verse without drums, a break).
    n_sections = int(bars[-1] // 8) + 1
    active = {name: rng.random(n_sections) < 0.85 for name in BUSES}
    return _Grid(steps, (times * sr).astype(int), bars, step, offset, active)


class _Harmony:
    """The clip's key (a random root, E2..E3, in the track's scale) and the chord of each bar."""

    def __init__(self, params: dict, rng: np.random.Generator):
        self.scale = np.asarray(SCALES[params["scales"]])
        self.root = int(rng.integers(40, 53))
        self.progression = params["progressions"]
        self.bars_per_chord = 2 if rng.random() < 0.4 else 1
        self.sevenths = params["sevenths"]
        self.rng = rng

    def note(self, degree: int) -> int:
        """The MIDI note of a scale degree (degrees past the scale climb octaves)."""
        octave, index = divmod(degree, len(self.scale))
        return self.root + 12 * octave + int(self.scale[index])

    def chord(self, bar: int) -> list[int]:
        """The triad of ``bar`` in the progression, with its seventh a ``sevenths`` share of the time."""
        degree = self.progression[(bar // self.bars_per_chord) % len(self.progression)]
        notes = [self.note(degree + d) for d in (0, 2, 4)]
        if self.rng.random() < self.sevenths:
            notes.append(self.note(degree + 6))
        return notes


class _Notes:
    """Rendered notes by (kind, pitch, length): a clip repeats few distinct notes, and rendering is the cost."""

    def __init__(self):
        self._cache: dict[tuple, np.ndarray] = {}

    def get(self, kind: str, midi: float, n_samples: int, make: Callable[[], np.ndarray]) -> np.ndarray:
        key = (kind, round(midi, 2), n_samples)
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]


def _drums(params: dict, grid: _Grid, rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    """Kick, snare and hat hits drawn step by step from the track's patterns (chaos flattens them)."""
    bus = np.zeros(n, np.float32)
    kit = drum_kit(rng, sr, float(np.clip(params["tabla"], 0, 1)))
    chaos = params["chaos"]
    for i in range(len(grid.steps)):
        if not grid.plays("drums", i):
            continue
        s = grid.steps[i] % 16
        for name in ("kick", "snare", "hat"):
            if rng.random() < params[name][s] * (1 - chaos) + chaos * 0.25:
                _add(bus, grid.starts[i], kit[name], rng.uniform(0.6, 1.0))
    return bus


def _chords(params: dict, grid: _Grid, harmony: _Harmony, notes: _Notes, rng: np.random.Generator,
            sr: int, n: int) -> np.ndarray:
    """One chord per bar in the track's chord style (held, or struck on a rhythm), then its distortion."""
    bus = np.zeros(n, np.float32)
    style, chaos = params["chord_styles"], params["chaos"]
    for bar in range(int(grid.bars[0]), int(grid.bars[-1]) + 1):
        start = int(((bar * 16 - grid.offset) * grid.step) * sr)
        chord = harmony.chord(bar)
        if style == "cluster" or (chaos > 0.5 and rng.random() < chaos):
            chord = list(harmony.root + 12 + rng.integers(0, 14, size=4))
        if style in ("pad", "drone", "cluster"):
            _held_chord(bus, start, chord, params, harmony.root, notes, grid.step, sr)
        else:
            _struck_chord(bus, start, chord, params, notes, grid.step, sr)
    gain = params["chord_drive"]
    if gain > 1:
        bus = np.tanh(gain * _normalise(bus) * 0.5) / np.tanh(gain * 0.5)
    return bus


def _held_chord(bus: np.ndarray, start: int, chord: list, params: dict, root: int, notes: _Notes,
                step: float, sr: int) -> None:
    """A bar-long pad (a drone holds the root and fifth instead), each note doubled and detuned (chorus)."""
    if params["chord_styles"] == "drone":
        chord = [root, root + 7, root + 12]
    amps = harmonic_amps(params["chord_tilt"], params["odd"])
    detune = 2 ** (params["detune"] / 1200)
    bar_samples = int(16 * step * sr)
    for m in chord:
        for d in (1.0, detune):
            snd = notes.get(f"pad{d}", m, bar_samples, lambda m=m, d=d: tone(
                _midi_hz(m + 12) * d, bar_samples, sr, amps, 0.3, params["chord_decay"] * 0.5))
            _add(bus, start, snd, 0.5)


#: Steps of a bar on which each struck chord style plays.
_HITS = {"strum": range(0, 16, 4), "arp": range(0, 16, 2), "stab": range(2, 16, 4), "power": range(0, 16, 2)}


def _struck_chord(bus: np.ndarray, start: int, chord: list, params: dict, notes: _Notes,
                  step: float, sr: int) -> None:
    """Plucked chords on the style's steps: strummed (12 ms apart), arpeggiated, stabs or power chords."""
    style = params["chord_styles"]
    if style == "power":
        chord = [chord[0], chord[0] + 7, chord[0] + 12]
    amps = harmonic_amps(params["chord_tilt"], params["odd"])
    dur = int((16 if style == "strum" else 4) * step * sr)
    for j, h in enumerate(_HITS[style]):
        chosen = [chord[j % len(chord)]] if style == "arp" else chord
        for v, m in enumerate(chosen):
            snd = notes.get(style, m, dur, lambda m=m: tone(
                _midi_hz(m + 12), dur, sr, amps, 0.004, params["chord_decay"], damping=0.05))
            _add(bus, start + int(h * step * sr) + v * int(0.012 * sr), snd, 0.6)


def _bass(params: dict, grid: _Grid, harmony: _Harmony, notes: _Notes, rng: np.random.Generator,
          sr: int, n: int) -> np.ndarray:
    """Bass notes on the chord roots, on the steps the track's bass pattern draws (short ones glide, 808-like)."""
    bus = np.zeros(n, np.float32)
    amps = harmonic_amps(2.5, 0.2, 6)
    dur = int(4 * grid.step * sr)
    glide = 0.3 * (params["bass_decay"] < 1.2)
    for i in range(len(grid.steps)):
        if grid.plays("bass", i) and rng.random() < params["bass_steps"][grid.steps[i] % 16]:
            m = harmony.chord(int(grid.bars[i]))[0] - 12
            snd = notes.get("bass", m, dur, lambda m=m: tone(
                _midi_hz(m), dur, sr, amps, 0.005, params["bass_decay"], glide=glide))
            _add(bus, grid.starts[i], snd)
    return bus


def _melody(params: dict, grid: _Grid, harmony: _Harmony, notes: _Notes, rng: np.random.Generator,
            sr: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """A random-walk melody on 8th notes, played by the lead and sung (vowels) by the voice: (lead, voice)."""
    lead, voice = np.zeros(n, np.float32), np.zeros(n, np.float32)
    amps = harmonic_amps(params["lead_tilt"], params["odd"])
    degree = int(rng.integers(7, 12))
    density = 0.5 + 0.3 * rng.random()
    for i in range(0, len(grid.steps), 2):
        if rng.random() > density:
            continue
        degree = int(np.clip(degree + rng.integers(-2, 3), 4, 16))
        m = harmony.note(degree) + (rng.integers(-3, 4) if rng.random() < params["chaos"] else 0)
        dur = int(grid.step * sr * (2 if rng.random() < 0.6 else 4))
        if grid.plays("lead", i):
            snd = notes.get("lead", m, dur, lambda m=m, dur=dur: tone(
                _midi_hz(m), dur, sr, amps, 0.01, params["lead_decay"], vibrato=params["vibrato"]))
            _add(lead, grid.starts[i], snd)
        if grid.plays("voice", i) and params["voice"] > 0.05:
            vowel = int(rng.integers(5))
            sung = m - 12 if m > 62 else m
            snd = notes.get(f"voice{vowel}", sung, dur, lambda sung=sung, vowel=vowel, dur=dur: tone(
                _midi_hz(sung), dur, sr, vowel_amps(_midi_hz(sung), vowel), 0.04, 0.5, vibrato=0.012))
            _add(voice, grid.starts[i], snd, params["voice"])
    return lead, voice


def _rap(params: dict, grid: _Grid, notes: _Notes, rng: np.random.Generator, sr: int, voice: np.ndarray) -> None:
    """Spoken syllables on 16ths (a falling vowel and a consonant burst), mixed into the ``voice`` bus."""
    speech = 12 * np.log2(rng.uniform(100, 190) / 440) + 69  # the rapper's pitch, as a MIDI number
    dur = int(grid.step * sr * 0.9)
    for i in range(len(grid.steps)):
        if grid.plays("voice", i) and rng.random() < 0.6:
            vowel, pitch = int(rng.integers(5)), speech + int(rng.integers(-2, 3))
            syllable = notes.get(f"rap{vowel}", pitch, dur, lambda vowel=vowel, pitch=pitch: tone(
                _midi_hz(pitch), dur, sr, vowel_amps(_midi_hz(pitch), vowel), 0.005, 6.0, glide=-0.15))
            consonant = np.diff(rng.standard_normal(int(0.02 * sr) + 1)).astype(np.float32) * 0.3
            _add(voice, grid.starts[i], syllable, params["rap"])
            _add(voice, grid.starts[i], consonant, params["rap"])


def _master(buses: dict[str, np.ndarray], params: dict, rng: np.random.Generator, seconds: float,
            sr: int) -> np.ndarray:
    """Mix the buses at the track's levels, then reverb, drive, low-pass, noise, crackle and a random gain."""
    levels = {name: max(params[name], 0.0) for name in ("drums", "bass", "chords", "lead")}
    levels["voice"] = max(params["voice"], params["rap"], 0.0)
    mix = sum(levels[name] * _normalise(bus) for name, bus in buses.items())
    mix = _normalise(mix) * 0.25
    if params["reverb"] > 0.02:
        mix = _reverb(mix, min(params["reverb"], 1.0), rng, sr)
    mix = np.tanh(params["drive"] * mix * 2) / 2
    sos = signal.butter(2, min(params["cutoff"], sr / 2 * 0.95), btype="low", fs=sr, output="sos")
    mix = signal.sosfilt(sos, mix).astype(np.float32)
    rms = float(np.sqrt(np.mean(mix**2))) or 1.0
    mix += params["noise"] * 4 * rms * rng.standard_normal(mix.size).astype(np.float32)
    clicks = rng.integers(0, mix.size, size=int(params["crackle"] * seconds))
    mix[clicks] += rms * rng.uniform(-3, 3, size=clicks.size).astype(np.float32)
    peak = float(np.max(np.abs(mix))) or 1.0
    # Peaks stay below 0.8: MP3 coding overshoots by up to about 10 %, and decoded clips must not clip.
    return (mix * rng.uniform(0.3, 0.8) / peak).astype(np.float32)


def _reverb(mix: np.ndarray, wet: float, rng: np.random.Generator, sr: int) -> np.ndarray:
    """``mix`` plus a ``wet`` (0..1) share of it convolved with decaying noise (a room, 0.3 to 1.5 s long)."""
    ir_len = int(sr * (0.3 + 1.2 * wet))
    t = np.arange(ir_len, dtype=np.float32) / sr
    ir = rng.standard_normal(ir_len).astype(np.float32) * np.exp(-t * 6 / (ir_len / sr))
    tail = signal.oaconvolve(mix, ir, mode="full")[:mix.size]
    return mix + wet * 0.5 * _normalise(tail) * 0.25
