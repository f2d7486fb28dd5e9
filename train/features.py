"""Training features: the device's own frontend, cached on disk, extracted in parallel.

Features come from :func:`emoedge.compute_features`, the very code the
device runs, so training and device features are bit-identical. The cache
key is a sha256 over the frontend config, the audio content (the file's
bytes, or the in-memory samples) and, for augmented copies, the augmentation
config and seed: change any of them and the features are recomputed.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from emoedge.frontend import FrontendConfig, compute_features

from .augment import AugmentConfig, augment_waveform, stable_seed

KEY_VERSION = 1  # bump when the meaning of cached files changes


def default_cache_dir() -> pathlib.Path:
    """``$EMOEDGE_CACHE``, else ``~/.cache/emoedge/features``."""
    root = os.environ.get("EMOEDGE_CACHE")
    return pathlib.Path(root) if root else pathlib.Path.home() / ".cache" / "emoedge" / "features"


@dataclass(frozen=True, kw_only=True)
class FeatureJob:
    """One feature array to produce: a clip, optionally an augmented copy."""

    path: str
    pcm: np.ndarray | None = field(default=None, compare=False, repr=False)
    variant: int = 0  # 0 = the original audio, n > 0 = augmented copy n
    augment: AugmentConfig | None = None
    seed: int = 0


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0


class FeatureCache:
    """Feature arrays on disk, one ``.npy`` per key."""

    def __init__(self, root: str | os.PathLike, frontend: FrontendConfig) -> None:
        self.root = pathlib.Path(root)
        self.frontend = frontend
        self._config_digest = json.dumps({"frontend": _keyed_fields(frontend), "v": KEY_VERSION},
                                         sort_keys=True)
        self.stats = CacheStats()

    def key(self, job: FeatureJob) -> str:
        """sha256 of frontend config, audio content and augmentation."""
        digest = hashlib.sha256(self._config_digest.encode())
        digest.update(_audio_digest(job).encode())
        if job.variant:
            augment = dict(job.augment.__dict__) if job.augment else {}
            # augment_waveform never reads it (AugmentConfig.for_corpus turns it
            # into gate_p), and leaving it out keeps the keys cached before it
            augment.pop("gate_corpora", None)
            digest.update(json.dumps({"augment": augment, "seed": job.seed,
                                      "variant": job.variant}, sort_keys=True, default=str).encode())
        return digest.hexdigest()

    def path_for(self, key: str) -> pathlib.Path:
        return self.root / key[:2] / f"{key}.npy"

    def get(self, job: FeatureJob) -> np.ndarray:
        """Cached features of ``job``, computing and storing them on a miss."""
        path = self.path_for(self.key(job))
        if path.exists():
            try:
                features = np.load(path)
                self.stats.hits += 1
                return features
            except (OSError, ValueError):
                pass  # a torn write from an interrupted run: recompute
        self.stats.misses += 1
        features = compute_job(job, self.frontend)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        with open(temporary, "wb") as handle:
            np.save(handle, features)
        os.replace(temporary, path)
        return features


def compute_job(job: FeatureJob, frontend: FrontendConfig) -> np.ndarray:
    """uint16 features (frames, channels) of one job, uncached."""
    pcm = job.pcm if job.pcm is not None else _read(job.path, frontend.sample_rate_hz)
    if job.variant:
        seed = stable_seed(job.seed, job.path, job.variant)
        pcm = augment_waveform(pcm, job.augment or AugmentConfig(), seed, frontend.sample_rate_hz)
    return compute_features(pcm, frontend)


def _read(path: str, rate: int) -> np.ndarray:
    from emoedge.audio import read_pcm

    return read_pcm(path, rate)[1]


_FIELDS_ADDED_AFTER_V1 = {"magnitude_floor": 0}
"""Frontend fields newer than the first cache keys, with the value that means off."""


def _keyed_fields(frontend: FrontendConfig) -> dict:
    """The frontend's fields for the key; a newer field at its off value is left
    out, so it keeps every key cached before the field existed."""
    fields = frontend.to_dict()
    for name, off in _FIELDS_ADDED_AFTER_V1.items():
        if fields[name] == off:
            del fields[name]
    return fields


def _audio_digest(job: FeatureJob) -> str:
    if job.pcm is not None:
        return "pcm:" + hashlib.sha256(np.ascontiguousarray(job.pcm).tobytes()).hexdigest()
    digest = hashlib.sha256()
    with open(job.path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return "file:" + digest.hexdigest()


_WORKER_CACHE: FeatureCache | None = None


def _init_worker(root: str, frontend: dict) -> None:
    global _WORKER_CACHE
    _WORKER_CACHE = FeatureCache(root, FrontendConfig.from_dict(frontend))


def _worker_get(job: FeatureJob) -> tuple[np.ndarray, int]:
    before = _WORKER_CACHE.stats.hits
    features = _WORKER_CACHE.get(job)
    return features, _WORKER_CACHE.stats.hits - before


def extract(jobs: Sequence[FeatureJob], cache: FeatureCache, *, workers: int = 1,
            progress: bool = True, description: str = "features") -> list[np.ndarray]:
    """Features of every job, in order, using ``workers`` processes.

    Shows a progress bar on stderr (tqdm) unless ``progress`` is False.
    """
    from tqdm import tqdm

    bar = tqdm(total=len(jobs), desc=description, unit="clip", disable=not progress,
               mininterval=1.0)
    results: list[np.ndarray] = []
    try:
        if workers <= 1 or len(jobs) < 8:
            for job in jobs:
                results.append(cache.get(job))
                bar.update()
            return results
        with ProcessPoolExecutor(workers, initializer=_init_worker,
                                 initargs=(str(cache.root), cache.frontend.to_dict())) as pool:
            for features, hit in pool.map(_worker_get, jobs, chunksize=8):
                results.append(features)
                cache.stats.hits += hit
                cache.stats.misses += 1 - hit
                bar.update()
        return results
    finally:
        bar.close()
