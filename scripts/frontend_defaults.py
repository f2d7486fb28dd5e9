"""Measure which noise-reduction / PCAN setting suits speech emotion recognition.

Runs the integer frontend in several configurations over RAVDESS (actors
01-20, 8 classes), summarises each clip by per-channel statistics, and scores
two fixed classifiers (logistic regression, RBF SVM) with 5-fold
leave-actors-out cross-validation, also after gain-augmented training. Each
trained model is also scored on the same test clips after a microphone-gain
change (x0.25 and x2), because PCAN is meant to be gain-invariant while the
raw log-mel energies are not. An optional cross-corpus check trains on
RAVDESS + TESS and tests on EMO-DB.

Usage:
    python scripts/frontend_defaults.py --data /work/shared/data

Everything is deterministic: fixed folds, seeded noise, and classifiers
with fixed hyper-parameters chosen before looking at results.
Features are cached per (corpus, variant, gain) under ``--cache``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import tempfile
import time
import zlib
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import scipy.fft
import soundfile as sf
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from emoedge import FrontendConfig, StreamingFrontend

# Bump when anything that changes cached numbers changes (stats, rendering).
FEATURE_VERSION = 3
SAMPLE_RATE_HZ = 16000
WARMUP_SAMPLES = SAMPLE_RATE_HZ  # 1 s; a multiple of the 160-sample hop.
QUIET_WINDOW_SAMPLES = 1600  # 100 ms
GAINS = (1.0, 0.25, 2.0)
# Training-time gain augmentation (-6 dB, 0, +3.5 dB): deliberately not the
# test gains, so the probe still measures unseen gains.
AUGMENT_GAINS = (0.5, 1.0, 1.5)
RAVDESS_FOLDS = tuple(tuple(range(4 * k + 1, 4 * k + 5)) for k in range(5))

RAVDESS_EMOTIONS = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad",
                    "05": "angry", "06": "fearful", "07": "disgust", "08": "surprised"}
TESS_EMOTIONS = {"angry": "angry", "disgust": "disgust", "fear": "fearful",
                 "happy": "happy", "neutral": "neutral", "sad": "sad"}
EMODB_EMOTIONS = {"W": "angry", "E": "disgust", "A": "fearful", "F": "happy",
                  "N": "neutral", "T": "sad"}
SHARED_EMOTIONS = ("neutral", "happy", "sad", "angry", "fearful", "disgust")


# --------------------------------------------------------------------------
# Corpora
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class Clip:
    """One labelled recording: path, emotion name, speaker id, corpus name."""

    path: str
    emotion: str
    speaker: str
    corpus: str


def list_ravdess(root: Path) -> list[Clip]:
    """All RAVDESS speech clips under ``root/RAVDESS``, 8 emotions."""
    clips = []
    for path in sorted((root / "RAVDESS").glob("Actor_*/*.flac")):
        parts = path.stem.split("-")
        clips.append(Clip(str(path), RAVDESS_EMOTIONS[parts[2]], parts[6], "RAVDESS"))
    return clips


def list_tess(root: Path) -> list[Clip]:
    """TESS clips of the six emotions shared with EMO-DB (no 'pleasant surprise')."""
    clips = []
    for folder in sorted((root / "TESS").iterdir()):
        speaker, _, emotion = folder.name.partition("_")
        if emotion not in TESS_EMOTIONS:
            continue
        for path in sorted(folder.glob("*.flac")):
            clips.append(Clip(str(path), TESS_EMOTIONS[emotion], speaker, "TESS"))
    return clips


def list_emodb(root: Path) -> list[Clip]:
    """EMO-DB clips of the six shared emotions (boredom dropped)."""
    clips = []
    for path in sorted((root / "EMO-DB").glob("*.flac")):
        letter = path.stem[5]
        if letter in EMODB_EMOTIONS:
            clips.append(Clip(str(path), EMODB_EMOTIONS[letter], path.stem[:2], "EMO-DB"))
    return clips


def list_corpus(root: Path, corpus: str) -> list[Clip]:
    """Clips of one corpus, sorted by path."""
    if corpus == "RAVDESS":
        return list_ravdess(root)
    if corpus == "TESS":
        return list_tess(root)
    if corpus == "EMO-DB":
        return list_emodb(root)
    raise ValueError(f"unknown corpus {corpus}")


def load_pcm(path: str) -> np.ndarray:
    """Mono int16 PCM at 16 kHz, shape (samples,)."""
    pcm, rate = sf.read(path, dtype="int16", always_2d=False)
    if rate != SAMPLE_RATE_HZ or pcm.ndim != 1:
        raise ValueError(f"{path}: expected 16 kHz mono, got {rate} Hz, shape {pcm.shape}")
    return pcm


# --------------------------------------------------------------------------
# Input rendering: gain, background, warm-up
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class Variant:
    """A frontend configuration plus how its state is prepared.

    Attributes:
        name: short id used in tables and cache files.
        label: human description for the table.
        config: the frontend configuration.
        warmup: state before the clip: "cold" (fresh state), "quietest" (the
            clip's own quietest 100 ms tiled to 1 s) or "pink" (1 s of pink
            noise at the corpus background level).
        background_under_clip: also mix that pink noise under the whole clip,
            as a device microphone would hear it.
    """

    name: str
    label: str
    config: FrontendConfig
    warmup: str = "cold"
    background_under_clip: bool = False

    def cache_key(self) -> dict:
        return {"config": self.config.to_dict(), "warmup": self.warmup,
                "under": self.background_under_clip}


def pink_noise(num_samples: int, rms: float, seed: int) -> np.ndarray:
    """Float pink (1/f power) noise of the given RMS in int16 LSB, shape (num_samples,).

    Pink rather than white because room and HVAC noise fall off with
    frequency; a 1/f spectrum loads the low mel channels as real rooms do.
    """
    # Shape at a fast FFT length and cut: clip lengths are often prime-ish.
    size = scipy.fft.next_fast_len(num_samples, real=True)
    white = np.random.default_rng(seed).standard_normal(size)
    spectrum = scipy.fft.rfft(white)
    freqs = scipy.fft.rfftfreq(size)
    spectrum[1:] /= np.sqrt(freqs[1:])
    spectrum[0] = 0.0
    noise = scipy.fft.irfft(spectrum, n=size)[:num_samples]
    return noise * (rms / max(float(np.sqrt(np.mean(noise ** 2))), 1e-12))


def to_pcm16(signal: np.ndarray) -> np.ndarray:
    """Round and saturate a float signal (LSB units) to int16, as an ADC would."""
    return np.clip(np.rint(signal), -32768, 32767).astype(np.int16)


def quietest_tile(pcm: np.ndarray, out_samples: int) -> np.ndarray:
    """The clip's quietest 100 ms (10 ms hop) repeated to ``out_samples`` int16 samples."""
    energy = np.concatenate([[0.0], np.cumsum(pcm.astype(np.float64) ** 2)])
    starts = np.arange(0, len(pcm) - QUIET_WINDOW_SAMPLES + 1, 160)
    window_energy = energy[starts + QUIET_WINDOW_SAMPLES] - energy[starts]
    start = int(starts[np.argmin(window_energy)])
    segment = pcm[start:start + QUIET_WINDOW_SAMPLES]
    reps = -(-out_samples // QUIET_WINDOW_SAMPLES)
    return np.tile(segment, reps)[:out_samples]


def clip_seed(path: str) -> int:
    """Stable per-clip noise seed (independent of Python's hash randomisation)."""
    return zlib.crc32(Path(path).name.encode())


def render_input(pcm: np.ndarray, gain: float, variant: Variant, background_rms: float,
                 seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Build the warm-up and clip PCM that the frontend will see.

    The gain multiplies speech and background alike: it models the
    microphone/ADC gain, which scales the room noise too.

    Args:
        pcm: int16 clip, shape (samples,).
        gain: linear gain applied before int16 saturation.
        background_rms: pink background level at gain 1, int16 LSB RMS.
    Returns:
        (warm-up int16 (0 or WARMUP_SAMPLES,), clip int16 (samples,)).
    """
    clip = pcm.astype(np.float64)
    needs_noise = variant.warmup == "pink" or variant.background_under_clip
    noise = pink_noise(WARMUP_SAMPLES + len(pcm), background_rms, seed) if needs_noise else None
    if variant.background_under_clip:
        clip = clip + noise[WARMUP_SAMPLES:]
    clip16 = to_pcm16(gain * clip)
    if variant.warmup == "cold":
        return np.zeros(0, np.int16), clip16
    if variant.warmup == "quietest":
        return quietest_tile(clip16, WARMUP_SAMPLES), clip16
    if variant.warmup == "pink":
        return to_pcm16(gain * noise[:WARMUP_SAMPLES]), clip16
    raise ValueError(f"unknown warm-up {variant.warmup}")


def clip_frames(pcm: np.ndarray, gain: float, variant: Variant,
                background_rms: float, seed: int) -> np.ndarray:
    """Frontend features of the clip only, after any warm-up.

    Returns:
        uint16 features, shape (config.num_frames(len(pcm)), channels).
    """
    warm, clip = render_input(pcm, gain, variant, background_rms, seed)
    frontend = StreamingFrontend(variant.config)
    frontend.process(warm)
    frames = frontend.process(clip)
    # Frames straddling the warm-up/clip boundary are dropped so every
    # variant describes exactly the same stretch of audio.
    keep = variant.config.num_frames(len(clip))
    return frames[len(frames) - keep:]


# --------------------------------------------------------------------------
# Clip-level features
# --------------------------------------------------------------------------
STAT_NAMES = ("mean", "std", "p10", "p50", "p90", "delta_std", "delta_absmean")


def clip_statistics(frames: np.ndarray) -> np.ndarray:
    """Summarise a clip's frames per channel.

    Frame statistics keep loudness and spectral shape; the +-20 ms deltas
    add a crude measure of how fast the spectrum moves (speech rate,
    articulation), which is emotion-relevant and lost by plain means.

    Args:
        frames: uint16 features, shape (frames, channels), frames >= 3.
    Returns:
        float64 vector, shape (len(STAT_NAMES) * channels,).
    """
    x = frames.astype(np.float64)
    p10, p50, p90 = np.percentile(x, [10, 50, 90], axis=0)
    delta = x[2:] - x[:-2]
    parts = [x.mean(0), x.std(0), p10, p50, p90, delta.std(0), np.abs(delta).mean(0)]
    return np.concatenate(parts)


@lru_cache(maxsize=4)
def corpus_audio(root: str, corpus: str) -> tuple[tuple[Clip, ...], tuple[np.ndarray, ...]]:
    """Clips and their PCM, loaded once per process."""
    clips = tuple(list_corpus(Path(root), corpus))
    return clips, tuple(load_pcm(c.path) for c in clips)


def active_level(pcm: np.ndarray) -> float:
    """95th percentile of 25 ms frame RMS, int16 LSB: a rough speech level."""
    n = len(pcm) // 400
    frames = pcm[:n * 400].astype(np.float64).reshape(n, 400)
    return float(np.percentile(np.sqrt((frames ** 2).mean(1)), 95))


@lru_cache(maxsize=4)
def background_rms(root: str, corpus: str, snr_db: float) -> float:
    """One background level per corpus, ``snr_db`` below its median speech level.

    A single absolute level per corpus, not per clip: a room's noise does
    not follow the talker's loudness, and a per-clip level would hand PCAN
    each clip's loudness for free.
    """
    _, audio = corpus_audio(root, corpus)
    median_level = float(np.median([active_level(p) for p in audio]))
    return median_level * 10 ** (-snr_db / 20)


def extract_matrix(root: str, corpus: str, variant: Variant, gain: float,
                   snr_db: float) -> np.ndarray:
    """Clip statistics of a whole corpus, shape (clips, stats)."""
    clips, audio = corpus_audio(root, corpus)
    level = background_rms(root, corpus, snr_db)
    rows = [clip_statistics(clip_frames(pcm, gain, variant, level, clip_seed(c.path)))
            for c, pcm in zip(clips, audio)]
    return np.stack(rows)


def cache_path(cache_dir: Path, corpus: str, variant: Variant, gain: float,
               snr_db: float, clips: list[Clip]) -> Path:
    """Cache file named by everything that determines its contents."""
    key = json.dumps({"v": FEATURE_VERSION, "variant": variant.cache_key(), "gain": gain,
                      "snr": snr_db, "clips": [c.path for c in clips]}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return cache_dir / f"{corpus}_{variant.name}_g{gain:g}_{digest}.npy"


def _extract_job(args: tuple) -> tuple[str, str, float, np.ndarray, float]:
    root, corpus, variant, gain, snr_db = args
    start = time.perf_counter()
    matrix = extract_matrix(root, corpus, variant, gain, snr_db)
    return corpus, variant.name, gain, matrix, time.perf_counter() - start


def extract_all(root: Path, jobs_wanted: list[tuple[str, Variant, float]], snr_db: float,
                cache_dir: Path, workers: int) -> dict[tuple[str, str, float], np.ndarray]:
    """Features for every (corpus, variant, gain), from cache or computed in parallel."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    results, todo = {}, []
    for corpus, variant, gain in jobs_wanted:
        path = cache_path(cache_dir, corpus, variant, gain, snr_db, list_corpus(root, corpus))
        if path.exists():
            results[(corpus, variant.name, gain)] = np.load(path)
        else:
            todo.append(((str(root), corpus, variant, gain, snr_db), path))
    print(f"features: {len(results)} sets cached, {len(todo)} to compute "
          f"({workers} workers)", flush=True)
    paths = {(a[1], a[2].name, a[3]): p for a, p in todo}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_extract_job, args) for args, _ in todo]
        for done, future in enumerate(as_completed(futures), 1):
            corpus, name, gain, matrix, seconds = future.result()
            np.save(paths[(corpus, name, gain)], matrix)
            results[(corpus, name, gain)] = matrix
            print(f"  [{done}/{len(todo)}] {corpus:9s} {name:14s} gain x{gain:<4g} "
                  f"{matrix.shape[0]} clips in {seconds:5.1f} s", flush=True)
    return results


# --------------------------------------------------------------------------
# Classifiers and evaluation
# --------------------------------------------------------------------------
def make_classifier(kind: str, class_weight: str | None = "balanced"):
    """Standardise (fit on training data only) then classify.

    Hyper-parameters are fixed up front, not tuned on the test folds: a
    strongly regularised logistic regression suits ~1000 clips x 280
    features; the RBF SVM is a second, non-linear opinion.
    """
    if kind == "logreg":
        model = LogisticRegression(C=0.1, max_iter=5000, class_weight=class_weight)
    elif kind == "svm":
        model = SVC(C=1.0, gamma="scale", class_weight=class_weight)
    else:
        raise ValueError(kind)
    return make_pipeline(StandardScaler(), model)


def balanced_weights(groups: list[str]) -> np.ndarray:
    """Sample weights giving every (corpus, emotion) cell the same total weight."""
    keys, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    return len(groups) / (len(keys) * counts[inverse])


def cv_scores(features: dict[float, np.ndarray], clips: list[Clip], kind: str,
              train_gains: tuple[float, ...] = (1.0,)) -> dict[float, list[float]]:
    """Leave-actors-out UA per fold and test gain.

    Args:
        features: gain -> (clips, stats) matrix, same clip order as ``clips``;
            must hold every gain in GAINS and ``train_gains``.
        train_gains: the training folds' clips are used at each of these gains.
    Returns:
        test gain (GAINS) -> list of 5 UA values (fraction), one per fold.
    """
    labels = np.array([c.emotion for c in clips])
    actors = np.array([int(c.speaker) for c in clips])
    scores = {g: [] for g in GAINS}
    for fold in RAVDESS_FOLDS:
        train = ~np.isin(actors, fold)
        x = np.concatenate([features[g][train] for g in train_gains])
        y = np.tile(labels[train], len(train_gains))
        model = make_classifier(kind).fit(x, y)
        for gain in GAINS:
            predicted = model.predict(features[gain][~train])
            scores[gain].append(balanced_accuracy_score(labels[~train], predicted))
    return scores


def cross_corpus_scores(train: list[np.ndarray], train_clips: list[Clip],
                        test: dict[float, np.ndarray], test_clips: list[Clip],
                        kind: str) -> dict[float, float]:
    """UA on EMO-DB per gain, for a model trained on RAVDESS + TESS at gain 1.

    TESS has more clips than RAVDESS's six shared emotions and is trivially
    separable, so (corpus, emotion) cells are weighted equally.
    """
    x = np.concatenate(train)
    y = np.array([c.emotion for c in train_clips])
    weights = balanced_weights([f"{c.corpus}/{c.emotion}" for c in train_clips])
    model = make_classifier(kind, class_weight=None)
    model.fit(x, y, **{f"{model.steps[-1][0]}__sample_weight": weights})
    y_test = np.array([c.emotion for c in test_clips])
    return {g: balanced_accuracy_score(y_test, model.predict(m)) for g, m in test.items()}


# --------------------------------------------------------------------------
# Variants
# --------------------------------------------------------------------------
NR = {"min_signal_remaining": 0.05}
PCAN = {"enable_pcan": True}


def variants() -> list[Variant]:
    """The configurations compared; all other fields keep FrontendConfig defaults."""
    off = FrontendConfig()
    both = FrontendConfig(**NR, **PCAN)
    nr = FrontendConfig(**NR)
    pcan = FrontendConfig(**PCAN)
    return [
        Variant("a_off", "a  NR off, PCAN off (current default)", off),
        Variant("b_both_cold", "b  NR+PCAN, cold start", both),
        Variant("c1_both_quiet", "c1 NR+PCAN, warm: quietest 100 ms tiled", both, "quietest"),
        Variant("c2_both_pink", "c2 NR+PCAN, warm: 1 s pink noise", both, "pink"),
        Variant("d_nr_cold", "d  NR only, cold start", nr),
        Variant("d2_nr_pink", "d2 NR only, warm: 1 s pink noise", nr, "pink"),
        Variant("e_pcan_cold", "e  PCAN only, cold start", pcan),
        Variant("e2_pcan_pink", "e2 PCAN only, warm: 1 s pink noise", pcan, "pink"),
        # Device-like input: the same pink background before AND under the
        # clip, so the gated digital silence inside RAVDESS never reaches the
        # frontend. 'a' is repeated so the comparison is on equal input.
        Variant("f_off_dev", "f  NR off, PCAN off", off, "pink", True),
        Variant("f_both_dev", "f  NR+PCAN", both, "pink", True),
        Variant("f_nr_dev", "f  NR only", nr, "pink", True),
        Variant("f_pcan_dev", "f  PCAN only", pcan, "pink", True),
    ]


# Groups of the RAVDESS tables; the first row of each is its paired baseline.
TABLE_GROUPS = {
    "corpus audio as distributed (gated: digital silence between words)":
        ("a_off", "b_both_cold", "c1_both_quiet", "c2_both_pink", "d_nr_cold", "d2_nr_pink",
         "e_pcan_cold", "e2_pcan_pink"),
    "device-like input: pink background before and under every clip":
        ("f_off_dev", "f_both_dev", "f_nr_dev", "f_pcan_dev"),
}
AUGMENTED_VARIANTS = ("a_off", "b_both_cold", "f_off_dev", "f_both_dev")

CROSS_VARIANTS = ("a_off", "b_both_cold", "c1_both_quiet", "c2_both_pink", "d2_nr_pink",
                  "e2_pcan_pink", "f_off_dev", "f_both_dev")


# --------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------
def pct(values) -> str:
    """'mean ± std' in percentage points over folds (population std, ddof=0)."""
    v = 100 * np.asarray(values)
    return f"{v.mean():5.1f} ± {v.std():4.1f}"


def cv_table(scores: dict[str, dict[float, list[float]]], labels: dict[str, str],
             names: tuple[str, ...]) -> str:
    """Markdown table of ``names``: UA per gain, paired difference to the first row.

    "Δ" is per fold, row minus first row, so fold difficulty cancels;
    "drop" is UA at gain 1 minus UA at the test gain, per fold; "mean of
    gains" averages the three test gains, a proxy for an unknown mic gain.
    """
    rows = ["| variant | UA x1 | Δ x1 vs first row | UA x0.25 (−12 dB) | drop | "
            "UA x2 (+6 dB) | drop | mean of gains |",
            "|---|---|---|---|---|---|---|---|"]
    base = np.asarray(scores[names[0]][1.0])
    for name in names:
        s1, s_low, s_high = (np.asarray(scores[name][g]) for g in GAINS)
        rows.append(f"| {labels[name]} | {pct(s1)} | {pct(s1 - base)} | {pct(s_low)} | "
                    f"{pct(s1 - s_low)} | {pct(s_high)} | {pct(s1 - s_high)} | "
                    f"{pct((s1 + s_low + s_high) / 3)} |")
    return "\n".join(rows)


def cross_table(scores: dict[str, dict[float, float]], labels: dict[str, str]) -> str:
    """Markdown table of the single-split cross-corpus UA per gain."""
    rows = ["| variant | EMO-DB UA x1 | x0.25 | x2 |", "|---|---|---|---|"]
    for name, by_gain in scores.items():
        rows.append(f"| {labels[name]} | {100 * by_gain[1.0]:.1f} | "
                    f"{100 * by_gain[0.25]:.1f} | {100 * by_gain[2.0]:.1f} |")
    return "\n".join(rows)


def machine_description() -> str:
    """CPU model and core count, for the write-up."""
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}"


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True,
                        help="folder holding RAVDESS/, TESS/, EMO-DB/ as 16 kHz FLAC")
    parser.add_argument("--cache", type=Path,
                        default=Path(tempfile.gettempdir()) / "emoedge_frontend_defaults",
                        help="feature cache folder")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--background-snr-db", type=float, default=35.0,
                        help="pink background level below the corpus median speech level (dB)")
    parser.add_argument("--no-cross-corpus", action="store_true",
                        help="skip the RAVDESS+TESS -> EMO-DB check")
    parser.add_argument("--classifiers", default="logreg,svm")
    parser.add_argument("--json", type=Path, help="also write all scores here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    all_variants = variants()
    labels = {v.name: v.label for v in all_variants}
    by_name = {v.name: v for v in all_variants}
    print(f"machine: {machine_description()}", flush=True)
    for corpus in ("RAVDESS",) + (() if args.no_cross_corpus else ("TESS", "EMO-DB")):
        level = background_rms(str(args.data), corpus, args.background_snr_db)
        print(f"{corpus}: pink background {level:.1f} LSB RMS "
              f"({20 * np.log10(level / 32768):.1f} dBFS)", flush=True)

    wanted = [("RAVDESS", v, g) for v in all_variants for g in GAINS]
    wanted += [("RAVDESS", by_name[n], g) for n in AUGMENTED_VARIANTS
               for g in AUGMENT_GAINS if g not in GAINS]
    if not args.no_cross_corpus:
        cross = [by_name[n] for n in CROSS_VARIANTS]
        wanted += [("TESS", v, 1.0) for v in cross]
        wanted += [("EMO-DB", v, g) for v in cross for g in GAINS]
    features = extract_all(args.data, wanted, args.background_snr_db, args.cache, args.workers)
    print(f"features ready after {time.perf_counter() - started:.0f} s", flush=True)

    ravdess = list_ravdess(args.data)
    report = {"machine": machine_description(), "cv": {}, "cross": {}}
    for kind in args.classifiers.split(","):
        ravdess_features = {n: {g: m for (c, v, g), m in features.items()
                                if c == "RAVDESS" and v == n} for n in by_name}
        scores = {n: cv_scores(ravdess_features[n], ravdess, kind) for n in by_name}
        for name in AUGMENTED_VARIANTS:
            scores[name + "+aug"] = cv_scores(ravdess_features[name], ravdess, kind,
                                              AUGMENT_GAINS)
            labels[name + "+aug"] = labels[name] + ", trained x0.5/x1/x1.5"
        report["cv"][kind] = scores
        groups = dict(TABLE_GROUPS)
        groups["gain-augmented training"] = tuple(n + "+aug" for n in AUGMENTED_VARIANTS)
        for title, names in groups.items():
            print(f"\nRAVDESS 8-class, 5-fold leave-4-actors-out, {kind}, UA % "
                  f"(mean ± std over folds) -- {title}")
            print(cv_table(scores, labels, names), flush=True)

        if args.no_cross_corpus:
            continue
        shared = np.array([c.emotion in SHARED_EMOTIONS for c in ravdess])
        train_clips = [c for c in ravdess if c.emotion in SHARED_EMOTIONS]
        train_clips += list_corpus(args.data, "TESS")
        test_clips = list_corpus(args.data, "EMO-DB")
        cross_scores = {}
        for name in CROSS_VARIANTS:
            train = [features[("RAVDESS", name, 1.0)][shared], features[("TESS", name, 1.0)]]
            test = {g: features[("EMO-DB", name, g)] for g in GAINS}
            cross_scores[name] = cross_corpus_scores(train, train_clips, test, test_clips, kind)
        report["cross"][kind] = cross_scores
        print(f"\nCross-corpus: train RAVDESS+TESS, test EMO-DB ({len(test_clips)} clips, "
              f"6 classes), {kind}, UA %")
        print(cross_table(cross_scores, labels), flush=True)

    print(f"\ntotal {time.perf_counter() - started:.0f} s", flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
