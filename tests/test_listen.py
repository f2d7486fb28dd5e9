"""``emoedge listen``: live emotion end to end.

- Through the real audio path: PortAudio (ALSA's pulse plugin) recording
  from a user-level PulseAudio daemon that this module starts and stops
  itself, with a ``module-pipe-source`` fed in real time from a FIFO by a
  thread (100 ms chunks), selected with ``PULSE_SOURCE``.
- Overload: a deliberately slowed worker drops blocks, counts them, keeps
  running and reports them.
- Soak: one hour of audio through ``--input --fast``; memory stays flat.
- The pieces: voice-activity gate, smoothing, the ``--json`` line format,
  and every user-facing error (with a fake sounddevice module).

Under CI (``CI`` set) a missing PulseAudio, PortAudio or sounddevice fails
instead of skipping, like the other optional dependencies in conftest.py.
"""

from __future__ import annotations

import collections
import importlib.abc
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import types

import numpy as np
import pytest
import soundfile
from typer.testing import CliRunner

import emoedge
from emoedge.cli import app
from emoedge.live.config import SessionConfig, SmoothingConfig, VadConfig
from emoedge.live.output import JSON_KEYS, JSON_VA_KEYS, event_record, json_line
from emoedge.live.session import HopEvent, LivePipeline
from emoedge.live.smoothing import EmaSmoother
from emoedge.live.vad import EnergyVad, pink_noise
from emoedge.results import WindowResult, frozen_mapping
from child_process import default_sigint
from signals import voiced_speech, white_noise

IN_CI = bool(os.environ.get("CI"))
ROOT = pathlib.Path(__file__).resolve().parents[1]
FIXTURE = str(ROOT / "tests" / "fixtures" / "tiny_int8.tflite")
LABELS = ("neutral", "happy", "sad", "angry")
RATE = 16000
SPEECH_CLIP = "RAVDESS/Actor_01/03-01-05-02-01-01-01.flac"  # angry, strong; 4.1 s
runner = CliRunner()


def _unavailable(reason: str):
    if IN_CI:
        pytest.fail(f"{reason} (required under CI)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def model():
    return emoedge.load_model(FIXTURE)


def syllabic_speech(seconds: float, seed: int = 0) -> np.ndarray:
    """Generated voiced speech with a 4 Hz syllable envelope and a quiet noise floor."""
    vowel = voiced_speech(seconds, seed=seed).astype(np.float64)
    t = np.arange(len(vowel)) / RATE
    envelope = np.clip(np.sin(2 * np.pi * 4.0 * t), 0.0, None) ** 0.5
    noisy = vowel * envelope + white_noise(seconds, rms=20, seed=seed + 1)[:len(vowel)]
    return np.clip(np.round(noisy), -32768, 32767).astype(np.int16)


@pytest.fixture(scope="module")
def speech_clip() -> np.ndarray:
    """A real speech clip from EMOEDGE_DATA when set, else generated speech."""
    root = os.environ.get("EMOEDGE_DATA")
    if root and (pathlib.Path(root) / SPEECH_CLIP).is_file():
        pcm, rate = soundfile.read(pathlib.Path(root) / SPEECH_CLIP, dtype="int16")
        assert rate == RATE and pcm.ndim == 1
        return pcm
    return syllabic_speech(3.0)


def _write_wav(path, pcm, rate=RATE) -> str:
    soundfile.write(path, pcm, rate, subtype="PCM_16")
    return str(path)


def _events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def _scores(events: list[dict]) -> np.ndarray:
    return np.array([[event["scores"][label] for label in LABELS] for event in events])


# --- a user-level PulseAudio daemon with a pipe source -----------------------
class Pulse(types.SimpleNamespace):
    """env (for clients, with PULSE_SOURCE set), fifo, source."""


@pytest.fixture(scope="module")
def pulse():
    for tool in ("pulseaudio", "pactl"):
        if shutil.which(tool) is None:
            _unavailable(f"{tool} is not installed "
                         "(apt-get install pulseaudio pulseaudio-utils libportaudio2)")
    probe = subprocess.run([sys.executable, "-c", "import sounddevice"], capture_output=True,
                           text=True)
    if probe.returncode:
        _unavailable(f"sounddevice/PortAudio unusable: {probe.stderr.strip().splitlines()[-1]}")
    runtime = tempfile.mkdtemp(prefix="emoedge-pa-")  # short: the socket path must fit
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
    env.update(XDG_RUNTIME_DIR=runtime, HOME=runtime, XDG_CONFIG_HOME=f"{runtime}/config")
    script = pathlib.Path(runtime, "daemon.pa")
    script.write_text("load-module module-native-protocol-unix\n")
    log = pathlib.Path(runtime, "pulse.log")
    started = subprocess.run(
        ["pulseaudio", "--daemonize=yes", "--exit-idle-time=-1", "-n", "-F", str(script),
         f"--log-target=file:{log}"], env=env, capture_output=True, text=True, timeout=30)
    pid_file = pathlib.Path(runtime, "pulse", "pid")
    try:
        if started.returncode:
            pytest.fail(f"pulseaudio did not start: {started.stderr} "
                        f"{log.read_text() if log.exists() else ''}")
        deadline = time.monotonic() + 15
        while subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode:
            if time.monotonic() > deadline:
                pytest.fail("pulseaudio started but pactl cannot reach it")
            time.sleep(0.1)
        fifo = pathlib.Path(runtime, "source.fifo")  # the module creates it
        source = "emoedge_test"
        subprocess.run(["pactl", "load-module", "module-pipe-source", f"source_name={source}",
                        f"file={fifo}", "format=s16le", f"rate={RATE}", "channels=1"],
                       env=env, check=True, capture_output=True, timeout=15)
        yield Pulse(env={**env, "PULSE_SOURCE": source}, fifo=str(fifo), source=source)
    finally:
        if pid_file.exists():
            pid = int(pid_file.read_text().split()[0])
            try:
                os.kill(pid, signal.SIGTERM)
                for _ in range(50):
                    os.kill(pid, 0)
                    time.sleep(0.1)
            except ProcessLookupError:
                pass
        shutil.rmtree(runtime, ignore_errors=True)


class FifoFeeder(threading.Thread):
    """Writes 100 ms chunks into the pipe source at real-time pace.

    Between clips it writes ``idle`` (looped; digital zeros by default), so
    the source never waits for data and the stream is continuous.
    """

    CHUNK = RATE // 10

    def __init__(self, fifo: str, idle: np.ndarray | None = None) -> None:
        super().__init__(daemon=True)
        self.fd = os.open(fifo, os.O_WRONLY)  # the pipe source holds the read end open
        self.idle = np.zeros(self.CHUNK, np.int16) if idle is None else idle
        self._idle_at = 0
        self._pending: collections.deque = collections.deque()
        self._lock = threading.Lock()
        self._halt = threading.Event()

    def play(self, pcm: np.ndarray) -> None:
        with self._lock:
            self._pending.append(pcm)

    def _next_chunk(self) -> np.ndarray:
        out = np.zeros(0, np.int16)
        with self._lock:
            while len(out) < self.CHUNK and self._pending:
                clip = self._pending[0]
                take = self.CHUNK - len(out)
                out = np.concatenate([out, clip[:take]])
                if len(clip) <= take:
                    self._pending.popleft()
                else:
                    self._pending[0] = clip[take:]
        while len(out) < self.CHUNK:
            take = min(self.CHUNK - len(out), len(self.idle) - self._idle_at)
            out = np.concatenate([out, self.idle[self._idle_at:self._idle_at + take]])
            self._idle_at = (self._idle_at + take) % len(self.idle)
        return out

    def run(self) -> None:
        due = time.monotonic()
        while not self._halt.is_set():
            os.write(self.fd, self._next_chunk().astype("<i2").tobytes())
            due += self.CHUNK / RATE
            self._halt.wait(max(0.0, due - time.monotonic()))

    def close(self) -> None:
        self._halt.set()
        self.join(timeout=5)
        os.close(self.fd)


class Listener:
    """``emoedge listen`` in a subprocess; stderr read by a thread."""

    def __init__(self, args: list[str], env: dict, code: str | None = None) -> None:
        command = ([sys.executable, "-c", code] if code
                   else [sys.executable, "-m", "emoedge"]) + ["listen", *args]
        self.proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True,
                                     preexec_fn=default_sigint)
        self.stderr_lines: list[str] = []
        self.listening = threading.Event()
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()

    def _read_stderr(self) -> None:
        for line in self.proc.stderr:
            self.stderr_lines.append(line)
            if "listening to" in line:
                self.listening.set()

    def wait_listening(self, timeout_s: float = 30) -> None:
        if not self.listening.wait(timeout_s):
            self.proc.kill()
            pytest.fail(f"listen did not start: {''.join(self.stderr_lines)}")

    def finish(self, timeout_s: float = 60) -> tuple[int, str, str]:
        """Wait for the end (killed after ``timeout_s``); (exit code, stdout, stderr)."""
        watchdog = threading.Timer(timeout_s, self.proc.kill)
        watchdog.start()
        try:
            stdout = self.proc.stdout.read()  # stderr belongs to the reader thread
            self.proc.wait()
        finally:
            watchdog.cancel()
        self._reader.join(timeout=5)
        return self.proc.returncode, stdout, "".join(self.stderr_lines)


def _best_offset(model, clip: np.ndarray, live: np.ndarray, total: int) -> tuple[int, float]:
    """The clip's start offset in the captured stream, and the error there.

    The stream is zeros(d) + clip + zeros, ``total`` samples long. Windows of
    pure zeros are identical whatever d is, so the first live window that
    differs from them brackets d within one hop; then d is searched on the
    10 ms frame grid in that bracket and, unless that already matches, refined
    sample by sample around the best grid point.
    """
    hop, window = 8000, 16000

    def offline(d: int) -> np.ndarray:
        audio = np.zeros(total, np.int16)
        part = clip[:max(total - d, 0)]
        audio[d:d + len(part)] = part
        prediction = model.predict(audio, RATE, segments=True)
        return np.array([[w.probabilities[label] for label in LABELS]
                         for w in prediction.segments])

    def error(d: int) -> float:
        reference = offline(d)
        assert reference.shape == live.shape, (reference.shape, live.shape)
        return float(np.abs(reference - live).max())

    zero_window = np.array([model.stream().process(np.zeros(window, np.int16))[0]
                            .probabilities[label] for label in LABELS])
    differs = np.abs(live - zero_window).max(axis=1) > 2e-6
    first = int(np.argmax(differs))
    first_sound = int(np.flatnonzero(clip)[0])
    # window k covers samples [k*hop, k*hop + window); the clip's first sound
    # lies after window first-1's end and inside window `first`.
    low = max((first - 1) * hop + window - 160 - first_sound, 0) if first else 0
    high = first * hop + window - first_sound
    errors = {d: error(d) for d in range(low - low % 160, high + 160, 160) if d >= 0}
    if min(errors.values()) > 2e-6:  # the bracket missed (a first sound too faint to show)
        errors.update({d: error(d) for d in range(0, 3 * RATE, 160)})
    best = min(errors, key=errors.get)
    if errors[best] > 2e-6:  # off the 10 ms grid: to the sample
        errors.update({d: error(d) for d in range(max(best - 160, 0), best + 161)})
        best = min(errors, key=errors.get)
    return best, errors[best]


# --- 1. end to end through PortAudio + PulseAudio ----------------------------
def test_listen_json_through_pulseaudio_matches_offline_predict(pulse, model, speech_clip):
    """Hop results from the microphone path equal offline windows of the same audio.

    Tolerance: the capture starts at an arbitrary moment of the feed, so the
    clip sits at an unknown offset d in what listen heard (zeros before and
    after it). Offline ``predict(..., segments=True)`` of zeros(d) + clip +
    zeros gives the reference; d is found by search (see ``_best_offset``).
    PulseAudio passes s16le 16 kHz mono through untouched and streaming
    equals offline for any chunking, so at the right d every score must
    match to 2e-6, the JSON's 6-decimal rounding: bit-exact. (Observed:
    d a multiple of the feeder's 100 ms chunk, error <= 5e-7.) Labels must
    match on every speech window (smoothing off, so each hop is its window).
    """
    feeder = FifoFeeder(pulse.fifo)
    feeder.start()
    try:
        duration_s = 2.0 + len(speech_clip) / RATE + 1.5
        listener = Listener(["--json", "--duration", str(duration_s), "--model", FIXTURE,
                             "--smoothing", "0"], pulse.env)
        listener.wait_listening()  # printed once the stream runs
        time.sleep(0.5)
        feeder.play(speech_clip)
        code, stdout, stderr = listener.finish()
    finally:
        feeder.close()
    assert code == 0, stderr
    events = _events(stdout)
    assert events, stderr
    for event in events:
        assert list(event) == list(JSON_KEYS + JSON_VA_KEYS)
    assert [e["t"] for e in events] == [1.0 + 0.5 * k for k in range(len(events))]
    total = int(round(duration_s * RATE))
    live = _scores(events)
    offset, error = _best_offset(model, speech_clip, live, total)
    print(f"\ncapture offset {offset} samples ({offset / RATE:.3f} s), "
          f"max |score - offline| {error:.2e} over {len(events)} hops")
    assert 0 < offset < 3.0 * RATE
    assert error <= 2e-6
    audio = np.zeros(total, np.int16)
    audio[offset:offset + len(speech_clip)] = speech_clip[:total - offset]
    offline = model.predict(audio, RATE, segments=True).segments
    clip_end = offset + len(speech_clip)
    for event, window in zip(events, offline):
        start, end = round(window.start_s * RATE), round(window.end_s * RATE)
        if event["speech"]:
            assert event["label"] == window.label
        else:
            assert event["label"] is None and event["confidence"] is None
        if end <= offset or start >= clip_end:  # pure digital silence
            assert event["speech"] is False, event
    assert sum(e["speech"] for e in events) >= 2
    assert "ended by duration" in stderr


def test_silence_through_pulseaudio_is_no_speech(pulse):
    """Room-like noise (pink, -50 dBFS) fed the same way: every hop is "no speech"."""
    feeder = FifoFeeder(pulse.fifo, idle=pink_noise(RATE * 5, rms=32768 * 10 ** (-50 / 20)))
    feeder.start()
    try:
        listener = Listener(["--json", "--duration", "3.5", "--model", FIXTURE], pulse.env)
        code, stdout, stderr = listener.finish()
    finally:
        feeder.close()
    assert code == 0, stderr
    events = _events(stdout)
    assert len(events) == 6
    assert all(e["speech"] is False and e["label"] is None for e in events), events
    assert "no speech 3.0 s (100 %)" in stderr


def test_devices_lists_the_pulse_device(pulse):
    result = subprocess.run([sys.executable, "-m", "emoedge", "devices"], env=pulse.env,
                            capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "pulse" in result.stdout


# --- 2. overload: a slowed worker drops blocks and goes on ------------------
SLOW_WORKER = """
import sys, time
import emoedge.live.session as session
original = session.LivePipeline.process
def slowed(self, pcm):
    time.sleep(0.4)  # a worker far slower than real time
    return original(self, pcm)
session.LivePipeline.process = slowed
from emoedge.cli import main
sys.argv = ["emoedge", *sys.argv[1:]]
main()
"""


def test_slowed_worker_on_the_microphone_path_counts_drops_and_keeps_running(pulse):
    feeder = FifoFeeder(pulse.fifo, idle=white_noise(1.0, rms=300))
    feeder.start()
    try:
        listener = Listener(["--json", "--duration", "1.5", "--buffer", "0.2", "--model",
                             FIXTURE], pulse.env, code=SLOW_WORKER)
        code, stdout, stderr = listener.finish()
    finally:
        feeder.close()
    assert code == 0, stderr
    events = _events(stdout)
    assert [e["t"] for e in events] == [1.0, 1.5]  # 1.5 s of audio reached the worker
    assert "dropped blocks so far (the worker fell behind); still listening" in stderr
    drops = int(stderr.split("dropped blocks ")[-1].split()[0])
    print(f"\nmicrophone path, slowed worker: {drops} blocks dropped")
    assert drops > 0


def test_slowed_worker_on_replay_counts_drops(tmp_path, monkeypatch):
    """The same with --input at real-time pace, in process."""
    path = _write_wav(tmp_path / "speech.wav", syllabic_speech(4.0))
    original = LivePipeline.process

    def slowed(self, pcm):
        time.sleep(0.25)  # takes 0.25 s for the 0.2 s the queue can hold
        return original(self, pcm)

    monkeypatch.setattr(LivePipeline, "process", slowed)
    result = runner.invoke(app, ["listen", "--input", path, "--json", "--buffer", "0.2",
                                 "--model", FIXTURE])
    assert result.exit_code == 0, result.stderr
    events = _events(result.stdout)
    assert len(events) >= 3  # still producing after the drops
    drops = int(result.stderr.split("dropped blocks ")[-1].split()[0])
    print(f"\nreplay path, slowed worker: {drops} blocks dropped")
    assert drops > 0
    assert "ended by end of input" in result.stderr


# --- 3. soak: one hour of audio, memory flat ---------------------------------
def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.slow
def test_one_hour_soak_keeps_memory_flat(tmp_path, speech_clip):
    """1 h of speech and noise through --input --fast (about 5 s here).

    RSS of the child is sampled every 100 hops from its /proc status. Start:
    the first sample after 60 s of audio (imports, interpreter and arenas
    are allocated by then); end: the last sample, taken once the child is
    past 3000 s. Bound: growth under 2 MiB, where one retained float per
    hop would already cost far more over 7200 hops of everything the
    session keeps (measured: +36 KiB).
    """
    unit = np.concatenate([speech_clip, white_noise(2.0, rms=20)])
    path = tmp_path / "hour.wav"
    with soundfile.SoundFile(path, "w", RATE, 1, "PCM_16") as out:
        remaining = 3600 * RATE
        while remaining:
            part = unit[:min(len(unit), remaining)]
            out.write(part)
            remaining -= len(part)
    proc = subprocess.Popen([sys.executable, "-m", "emoedge", "listen", "--input", str(path),
                             "--fast", "--json", "--model", FIXTURE], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    samples, hops = [], 0
    started = time.monotonic()
    for line in proc.stdout:
        hops += 1
        if hops % 100 == 0:
            t = json.loads(line)["t"]
            try:
                samples.append((t, _rss_kib(proc.pid)))
            except (OSError, AssertionError):
                break
    stderr = proc.stderr.read()
    proc.wait(timeout=60)
    wall = time.monotonic() - started
    assert proc.returncode == 0, stderr
    assert "listened to 3600.0 s of audio" in stderr and "ended by end of input" in stderr
    first = next((t, rss) for t, rss in samples if t >= 60)
    last = samples[-1]
    print(f"\nsoak: {hops} hops in {wall:.1f} s; RSS {first[1]} KiB at t={first[0]} s, "
          f"{last[1]} KiB at t={last[0]} s")
    assert hops == 7199
    assert last[0] >= 3000
    assert last[1] - first[1] < 2048


# --- 4. the pieces -----------------------------------------------------------
FRONTEND = emoedge.FrontendConfig()


def _gate(pcm: np.ndarray, config: VadConfig = VadConfig(), window: int = 98,
          hop: int = 50) -> list[bool]:
    vad = EnergyVad(config, FRONTEND, window_frames=window)
    frontend = emoedge.StreamingFrontend(FRONTEND)
    out, seen, start = [], 0, 0
    for i in range(0, len(pcm), 800):
        frames = frontend.process(pcm[i:i + 800])
        vad.push(frames)
        seen += len(frames)
        while start + window <= seen:
            out.append(vad.is_speech(start))
            start += hop
    return out


@pytest.mark.parametrize("name, noise", [
    ("digital silence", np.zeros(6 * RATE, np.int16)),
    ("white -60 dBFS", white_noise(6.0, rms=33)),
    ("white -30 dBFS", white_noise(6.0, rms=1036)),
    ("pink -40 dBFS", pink_noise(6 * RATE, rms=328)),
    ("50 Hz hum", np.round(600 * np.sin(2 * np.pi * 50 * np.arange(6 * RATE) / RATE)).astype(np.int16)),
])
def test_gate_calls_steady_noise_no_speech(name, noise):
    assert not any(_gate(noise)), name


def test_gate_finds_speech_and_its_absence():
    speech = syllabic_speech(3.0)
    quiet = white_noise(3.0, rms=20, seed=9)
    decisions = _gate(np.concatenate([quiet, speech, quiet]))
    # windows (1 s, hop 0.5 s) fully inside the speech (3..6 s) are speech,
    # those fully inside the noise are not.
    starts = np.arange(len(decisions)) * 0.5
    inside = [d for s, d in zip(starts, decisions) if 3.0 <= s and s + 1 <= 6.0]
    outside = [d for s, d in zip(starts, decisions) if s + 1 <= 3.0 or s >= 6.0]
    assert all(inside) and inside
    assert not any(outside)


def test_gate_thresholds_are_configurable():
    speech = syllabic_speech(3.0)
    assert any(_gate(speech))
    assert not any(_gate(speech, VadConfig(min_level_dbfs=0.0)))  # nothing is that loud
    assert not any(_gate(speech, VadConfig(margin_db=80.0)))
    everything = VadConfig(min_speech_fraction=0.0, min_dynamic_range_db=0.0)
    assert all(_gate(np.zeros(3 * RATE, np.int16), everything))


def test_gate_energy_is_calibrated_to_dbfs():
    vad = EnergyVad(VadConfig(), FRONTEND, window_frames=98)
    for level in (-50.0, -30.0, -10.0):
        noise = pink_noise(RATE, rms=32768 * 10 ** (level / 20), seed=3)
        energy = vad.frame_energy_dbfs(emoedge.compute_features(noise, FRONTEND)[2:])
        assert abs(float(np.median(energy)) - level) < 1.0


def test_gate_on_real_speech(real_clips):
    missed = [name for name, pcm in real_clips.items() if not any(_gate(pcm))]
    assert not missed


def test_ema_smoothing():
    smoother = EmaSmoother(SmoothingConfig(time_constant_s=1.0), hop_s=0.5)
    alpha = 1 - np.exp(-0.5)
    assert smoother.alpha == pytest.approx(alpha)
    first = smoother.update(np.array([1.0, 0.0]))
    np.testing.assert_allclose(first, [1.0, 0.0])  # the first window is taken as is
    second = smoother.update(np.array([0.0, 1.0]))
    np.testing.assert_allclose(second, [1 - alpha, alpha])
    smoother.skip()  # a no-speech hop leaves the average alone
    np.testing.assert_allclose(smoother.value, second)
    for _ in range(6):  # 3 s without speech: the next speech starts afresh
        smoother.skip()
    np.testing.assert_allclose(smoother.update(np.array([0.0, 1.0])), [0.0, 1.0])


def test_smoothing_off_passes_windows_through():
    smoother = EmaSmoother(SmoothingConfig(time_constant_s=0.0), hop_s=0.5)
    for vector in np.random.default_rng(0).random((5, 4)):
        np.testing.assert_array_equal(smoother.update(vector), vector)


def test_pipeline_smooths_speech_windows_only(model):
    """Shown scores are the EMA of the speech windows' own scores; no-speech
    hops show their window's scores and leave the average alone."""
    pcm = np.concatenate([syllabic_speech(2.0, seed=1), white_noise(1.5, rms=20),
                          syllabic_speech(2.0, seed=2)])
    config = SessionConfig(smoothing=SmoothingConfig(time_constant_s=1.0,
                                                     reset_after_no_speech_s=10.0))
    pipeline = LivePipeline(model, input_rate_hz=RATE, input_channels=1, config=config)
    events = pipeline.process(pcm)
    assert {e.speech for e in events} == {True, False}
    alpha, state = 1 - np.exp(-0.5), None
    for event in events:
        raw = np.array([event.window.probabilities[label] for label in LABELS]
                       + [event.window.valence, event.window.arousal])
        shown = np.array([event.scores[label] for label in LABELS]
                         + [event.valence, event.arousal])
        if event.speech:
            state = raw if state is None else state + alpha * (raw - state)
            np.testing.assert_allclose(shown, state, atol=1e-12)
            assert event.label == LABELS[int(np.argmax(state[:4]))]
        else:
            np.testing.assert_allclose(shown, raw, atol=1e-12)
            assert event.label is None


def _event(**changes) -> HopEvent:
    window = WindowResult(start_s=0.0, end_s=1.0, label="happy", confidence=0.4,
                          probabilities=frozen_mapping({"neutral": 0.1, "happy": 0.4,
                                                        "sad": 0.2, "angry": 0.3}))
    values = dict(t_s=1.0, label="happy", confidence=0.4, scores=window.probabilities,
                  speech=True, valence=0.123456789, arousal=-0.5, level_dbfs=-20.0,
                  overflows=0, drops=0, window=window)
    values.update(changes)
    return HopEvent(**values)


def test_json_line_format():
    line = json_line(_event())
    assert "\n" not in line
    record = json.loads(line)
    assert list(record) == ["t", "label", "confidence", "scores", "speech", "valence",
                            "arousal"]
    assert record == {"t": 1.0, "label": "happy", "confidence": 0.4,
                      "scores": {"neutral": 0.1, "happy": 0.4, "sad": 0.2, "angry": 0.3},
                      "speech": True, "valence": 0.123457, "arousal": -0.5}
    silent = event_record(_event(label=None, confidence=None, speech=False))
    assert silent["label"] is None and silent["confidence"] is None
    assert silent["speech"] is False
    no_va = event_record(_event(valence=None, arousal=None))
    assert list(no_va) == list(JSON_KEYS)


def test_json_mode_prints_only_json_on_stdout(tmp_path):
    path = _write_wav(tmp_path / "a.wav", np.concatenate([syllabic_speech(2.0),
                                                          white_noise(1.5, rms=20)]))
    result = runner.invoke(app, ["listen", "--input", path, "--fast", "--json", "--model",
                                 FIXTURE, "--hop", "0.25"])
    assert result.exit_code == 0, result.stderr
    events = _events(result.stdout)  # every stdout line parses
    assert [e["t"] for e in events] == [1.0 + 0.25 * k for k in range(len(events))]
    assert len(events) == 11  # 3.5 s: windows ending at 1.0, 1.25 .. 3.5 s
    assert all(list(e) == list(JSON_KEYS + JSON_VA_KEYS) for e in events)
    assert "time per emotion:" in result.stderr and "time per emotion" not in result.stdout


def test_replay_equals_offline_windows(tmp_path, model, speech_clip):
    """--input --fast goes through the same streaming path: its windows are offline's."""
    path = _write_wav(tmp_path / "clip.wav", speech_clip)
    result = runner.invoke(app, ["listen", "--input", path, "--fast", "--json", "--smoothing",
                                 "0", "--model", FIXTURE])
    assert result.exit_code == 0, result.stderr
    offline = model.predict(speech_clip, RATE, segments=True).segments
    live = _scores(_events(result.stdout))
    reference = np.array([[w.probabilities[label] for label in LABELS] for w in offline])
    np.testing.assert_allclose(live, reference, atol=1e-6)


@pytest.mark.parametrize("signum, ended_by", [(signal.SIGINT, "Ctrl-C"),
                                              (signal.SIGTERM, "SIGTERM")])
def test_ctrl_c_ends_cleanly_with_a_summary(tmp_path, signum, ended_by):
    path = _write_wav(tmp_path / "long.wav", np.tile(syllabic_speech(2.0), 10))
    listener = Listener(["--input", path, "--json", "--model", FIXTURE], dict(os.environ))
    line = listener.proc.stdout.readline()  # the first hop
    assert json.loads(line)["t"] == 1.0
    listener.proc.send_signal(signum)
    code, stdout, stderr = listener.finish(timeout_s=30)
    assert code == 0, stderr
    assert f"ended by {ended_by}" in stderr
    assert "time per emotion: happy" in stderr
    assert "input overflows 0, dropped blocks 0" in stderr
    assert "Traceback" not in stderr


def test_closed_stdout_ends_cleanly(tmp_path):
    """``emoedge listen --json | head -1``: no traceback, the summary on stderr."""
    path = _write_wav(tmp_path / "long.wav", np.tile(syllabic_speech(2.0), 10))
    listener = Listener(["--input", path, "--json", "--model", FIXTURE],  # real time: 20 s
                        dict(os.environ))
    assert json.loads(listener.proc.stdout.readline())["t"] == 1.0
    listener.proc.stdout.close()
    assert listener.proc.wait(timeout=30) == 0
    listener._reader.join(timeout=5)
    stderr = "".join(listener.stderr_lines)
    assert "ended by closed output" in stderr and "Traceback" not in stderr


def test_cli_loads_no_audio_library_until_listen_runs():
    code = "import sys, emoedge.cli; print(sorted(m for m in ('sounddevice', 'soxr') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


def test_missing_packaged_model_is_a_one_line_usage_error(monkeypatch):
    import emoedge.recognizer

    monkeypatch.setattr(emoedge.recognizer, "DEFAULT_MODEL_RESOURCE", ("models", "gone.tflite"))
    result = runner.invoke(app, ["listen", "--input", "x.wav"])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "emoedge: error: the packaged default model emoedge/models/gone.tflite is missing "
        "from this install; pass one with --model PATH")


@pytest.mark.parametrize("args, message", [
    (["--fast"], "--fast needs --input FILE"),
    (["--input", "{wav}", "--hop", "0.123"], "--hop: hop of 123 ms is not a positive multiple"),
    (["--input", "{wav}", "--hop", "-1"], "--hop must be a positive"),
    (["--input", "{wav}", "--duration", "0"], "--duration must be positive"),
    (["--input", "{wav}", "--smoothing", "-1"], "--smoothing must be 0"),
    (["--input", "/nonexistent.wav"], "cannot read /nonexistent.wav"),
])
def test_usage_errors_are_one_line(args, message, tmp_path):
    wav = _write_wav(tmp_path / "a.wav", syllabic_speech(1.0))
    args = [arg.format(wav=wav) for arg in args]
    result = runner.invoke(app, ["listen", "--model", FIXTURE, *args])
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and result.stdout == ""


# --- errors of the microphone path, with a fake sounddevice -----------------
class FakePortAudioError(Exception):
    def __str__(self):
        return f"{self.args[0]} [PaErrorCode {self.args[1]}]" if len(self.args) > 1 else self.args[0]


class FakeStream:
    def __init__(self, sd, *, device, samplerate, channels, dtype, blocksize, callback,
                 finished_callback):
        assert dtype == "int16"
        self.sd, self.device, self.rate, self.channels = sd, device, samplerate, channels
        self.blocksize, self.callback, self.finished = blocksize, callback, finished_callback
        self.active = False
        self._stop = threading.Event()
        sd.opened.append(self)

    def start(self):
        self.active = True
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        signal_ = self.sd.signal_at(self.rate)
        blocks = 0
        for start in range(0, len(signal_) - self.blocksize + 1, self.blocksize):
            if self._stop.is_set():
                return
            block = np.repeat(signal_[start:start + self.blocksize, None], self.channels, 1)
            blocks += 1
            overflow = bool(self.sd.overflow_every and blocks % self.sd.overflow_every == 0)
            self.callback(block, self.blocksize, None, types.SimpleNamespace(input_overflow=overflow))
            time.sleep(self.blocksize / self.rate / self.sd.speed)
        if self.sd.vanish:
            self.active = False
            self.finished()

    def abort(self):
        self._stop.set()
        self.active = False

    def close(self):
        pass


class FakeSoundDevice(types.ModuleType):
    """What emoedge uses of sounddevice, with a scripted device."""

    PortAudioError = FakePortAudioError

    def __init__(self, *, devices, default_input=0, accepts=lambda rate, channels: True,
                 refusal=("Invalid sample rate", -9997), open_error=None, pcm=None,
                 pcm_rate=RATE, speed=20.0, vanish=False, overflow_every=0):
        super().__init__("sounddevice")
        self.devices, self.accepts, self.refusal = devices, accepts, refusal
        self.open_error, self.pcm, self.pcm_rate = open_error, pcm, pcm_rate
        self.speed, self.vanish, self.overflow_every = speed, vanish, overflow_every
        self.default = types.SimpleNamespace(device=[default_input, -1])
        self.opened: list[FakeStream] = []

    def query_devices(self):
        return self.devices

    def query_hostapis(self):
        return [{"name": "FakeAPI"}]

    def check_input_settings(self, *, device, channels, dtype, samplerate):
        if not self.accepts(samplerate, channels):
            raise FakePortAudioError(*self.refusal)

    def InputStream(self, **kwargs):  # noqa: N802 - sounddevice's name
        if self.open_error:
            raise self.open_error
        return FakeStream(self, **kwargs)

    def signal_at(self, rate):
        if rate == self.pcm_rate:
            return self.pcm
        import soxr
        return np.round(soxr.resample(self.pcm.astype(np.float64), self.pcm_rate, rate)
                        ).astype(np.int16)


def _device(name, inputs=2, rate=44100):
    return {"name": name, "hostapi": 0, "max_input_channels": inputs,
            "max_output_channels": 2, "default_samplerate": float(rate)}


def _fake(monkeypatch, **kwargs) -> FakeSoundDevice:
    kwargs.setdefault("devices", [_device("USB Mic")])
    kwargs.setdefault("pcm", syllabic_speech(3.0))
    fake = FakeSoundDevice(**kwargs)
    monkeypatch.setitem(sys.modules, "sounddevice", fake)
    return fake


def _listen(*args):
    return runner.invoke(app, ["listen", "--model", FIXTURE, *args])


def test_fake_microphone_path_runs(monkeypatch, model):
    fake = _fake(monkeypatch, overflow_every=7)
    result = _listen("--json", "--duration", "2.5", "--smoothing", "0")
    assert result.exit_code == 0, result.stderr
    assert fake.opened[0].rate == RATE and fake.opened[0].channels == 1
    live = _scores(_events(result.stdout))
    offline = model.predict(fake.pcm[:int(2.5 * RATE)], RATE, segments=True).segments
    reference = np.array([[w.probabilities[label] for label in LABELS] for w in offline])
    np.testing.assert_allclose(live, reference, atol=1e-6)
    overflows = int(result.stderr.split("input overflows ")[-1].split(",")[0])
    assert overflows >= 5  # every 7th of 50+ blocks was flagged; counted, not fatal


def test_refused_rate_falls_back_to_native_and_resamples(monkeypatch, model):
    fake = _fake(monkeypatch, accepts=lambda rate, channels: rate == 44100)
    result = _listen("--json", "--duration", "2.5", "--smoothing", "0")
    assert result.exit_code == 0, result.stderr
    assert fake.opened[0].rate == 44100
    assert "at 44100 Hz" in result.stderr
    live = _scores(_events(result.stdout))
    offline = model.predict(fake.signal_at(44100), 44100, segments=True).segments
    reference = np.array([[w.probabilities[label] for label in LABELS] for w in offline])
    # streaming float32 soxr vs offline float64 soxr: the resampled PCM
    # differs by a few LSB, the tiny model's scores by far less than 1e-3.
    np.testing.assert_allclose(live, reference[:len(live)], atol=1e-3)


def test_refused_mono_falls_back_to_stereo_and_downmixes(monkeypatch, model):
    fake = _fake(monkeypatch, accepts=lambda rate, channels: channels == 2,
                 refusal=("Invalid number of channels", -9998))
    result = _listen("--json", "--duration", "2.0", "--smoothing", "0")
    assert result.exit_code == 0, result.stderr
    assert fake.opened[0].channels == 2 and fake.opened[0].rate == RATE
    live = _scores(_events(result.stdout))
    offline = model.predict(fake.pcm[:2 * RATE], RATE, segments=True).segments
    reference = np.array([[w.probabilities[label] for label in LABELS] for w in offline])
    np.testing.assert_allclose(live, reference, atol=1e-6)


def test_rate_refused_everywhere_is_a_clear_error(monkeypatch):
    _fake(monkeypatch, accepts=lambda rate, channels: False)
    result = _listen("--json", "--duration", "1")
    assert result.exit_code == 2
    assert result.stderr.strip() == ("emoedge: error: input device USB Mic [0, FakeAPI] refuses "
                                     "16000 Hz and its native 44100 Hz; choose another device "
                                     "with --device")


def test_no_input_device(monkeypatch):
    _fake(monkeypatch, devices=[_device("HDMI out", inputs=0)], default_input=-1)
    for command in (["listen", "--model", FIXTURE], ["devices"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2
        assert "no input device" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_busy_device(monkeypatch):
    _fake(monkeypatch, open_error=FakePortAudioError(
        "Error opening InputStream: Device unavailable", -9985))
    result = _listen("--json")
    assert result.exit_code == 2
    assert result.stderr.strip() == ("emoedge: error: input device USB Mic [0, FakeAPI] is busy "
                                     "or unavailable (another program may be using it)")


def test_vanished_device_ends_with_an_error_and_a_summary(monkeypatch):
    _fake(monkeypatch, pcm=syllabic_speech(2.0), vanish=True)
    result = _listen("--json")
    assert result.exit_code == 2
    assert len(_events(result.stdout)) == 3  # what came before it went
    assert ("emoedge: error: input device USB Mic [0, FakeAPI] stopped (unplugged, or taken "
            "over by another program)") in result.stderr
    assert "time per emotion:" in result.stderr


def test_device_selection(monkeypatch):
    fake = _fake(monkeypatch, devices=[_device("HDA Intel PCH: ALC257 Analog"),
                                       _device("USB PnP Sound Device: Audio"),
                                       _device("USB Camera: Mic")])
    assert _listen("--json", "--duration", "1", "--device", "pnp").exit_code == 0
    assert _listen("--json", "--duration", "1", "--device", "2").exit_code == 0
    assert [stream.device for stream in fake.opened] == [1, 2]
    result = _listen("--json", "--device", "usb")
    assert result.exit_code == 2 and "matches several input devices" in result.stderr
    result = _listen("--json", "--device", "bluetooth")
    assert result.exit_code == 2 and "no input device matches 'bluetooth'" in result.stderr
    result = _listen("--json", "--device", "7")
    assert result.exit_code == 2 and "no input device has index 7" in result.stderr
    listing = runner.invoke(app, ["devices"])
    assert listing.exit_code == 0
    assert "* " in listing.stdout and "USB Camera: Mic" in listing.stdout
    assert len(fake.opened) == 2


class _NoPortAudio(importlib.abc.MetaPathFinder):
    """Makes ``import sounddevice`` fail as it does without libportaudio."""

    def find_spec(self, name, path=None, target=None):
        if name == "sounddevice":
            raise OSError("PortAudio library not found")
        return None


def test_portaudio_missing_names_the_apt_package(monkeypatch, tmp_path):
    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_NoPortAudio(), *sys.meta_path])
    for command in (["listen", "--model", FIXTURE], ["devices"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2
        assert result.stderr.strip() == (
            "emoedge: error: PortAudio is missing (PortAudio library not found); install it "
            "with 'sudo apt-get install libportaudio2'")
    # --input replay needs no PortAudio at all
    wav = _write_wav(tmp_path / "a.wav", syllabic_speech(1.5))
    result = runner.invoke(app, ["listen", "--model", FIXTURE, "--input", wav, "--fast",
                                 "--json"])
    assert result.exit_code == 0, result.stderr
    assert len(_events(result.stdout)) == 2


def test_audio_held_for_batching_is_scored_when_the_device_goes(model):
    """The worker holds blocks back until min_batch_s of audio is there; a
    device that vanishes meanwhile must not take that audio with it."""
    from emoedge.live.capture import BlockQueue, CaptureError, StreamFormat
    from emoedge.live.session import run_session

    class VanishedSource:
        description, format = "scripted", StreamFormat(sample_rate_hz=RATE, channels=1)

        def __init__(self, pcm):
            self.queue = BlockQueue(1000)
            for start in range(0, len(pcm), 800):  # 50 ms blocks, all there at once
                self.queue.offer(pcm[start:start + 800, None])

        def start(self):
            pass

        def check(self):
            if self.queue.empty():
                raise CaptureError("scripted device stopped")

        def stop(self):
            pass

    pcm = syllabic_speech(1.2)
    config = SessionConfig(min_batch_s=2.0)  # more than the 1.2 s the device delivers
    pipeline = LivePipeline(model, input_rate_hz=RATE, input_channels=1, config=config)
    events = []
    summary = run_session(VanishedSource(pcm), pipeline, [events.append], config=config)
    assert summary.error == "scripted device stopped"
    offline = model.predict(pcm, RATE, segments=True).segments
    assert [round(e.t_s, 3) for e in events] == [round(w.end_s, 3) for w in offline] == [1.0]


@pytest.mark.parametrize("hops,words", [(1, "(1 hop of 1 s)"), (3, "(3 hops of 1 s)")])
def test_summary_counts_hops_in_words(hops, words):
    from emoedge.live.session import SessionSummary

    summary = SessionSummary(audio_s=3.4, hops=hops, hop_s=1.0, wall_s=3.4,
                             ended_by="end of input")
    assert words in summary.text().splitlines()[0]
