"""How rough a device's per-speaker offsets are: a table per corpus.

A speaker-shifted model is trained and screened with offsets from each
speaker's whole recording set, which a device never has. This prints, for
each corpus of a run, how far the offsets from K heard clips (and from a
clip's own mean, and from nothing heard) lie from the whole-set offsets,
beside how far the speakers' whole-set offsets lie from each other. When
the first is as large as the second, K clips tell the speakers apart no
better than chance::

    python -m emoedge.train.offset_noise RUN_DIR --data ../shared/data --heard 1 5 10 20

All figures are root-mean-square over clips and channels, in feature units
(the frontend's uint16 log-mel scale).
"""

from __future__ import annotations

import argparse
import sys
from typing import Mapping, Sequence

import numpy as np

from .speaker_norm import (OffsetClips, channel_means, clips_by_speaker, offset_errors,
                           population_means, speaker_offset)


def corpus_rows(features: Mapping[str, np.ndarray], speaker_of: Mapping[str, str],
                corpus_of: Mapping[str, str], heard: Sequence[int]) -> list[dict]:
    """One row per corpus: its speaker count, the RMS spread of its speakers'
    whole-set offsets around their mean, and the RMS error of each way of
    setting offsets (``heard`` counts, own clip, nothing heard).

    Args:
        features: clip key -> unshifted uint16 features (frames, channels).
        speaker_of, corpus_of: clip key -> speaker id, corpus name.
        heard: the clip counts K to measure.
    Returns:
        dicts with "corpus", "speakers", "between" and one float per way,
        keyed "K=n", "own clip", "nothing heard"; sorted by corpus.
    """
    by_speaker = clips_by_speaker(features, speaker_of)
    means = {s: channel_means(features[k] for k in keys) for s, keys in by_speaker.items()}
    population = population_means(means, means)
    ways = {**{f"K={n}": OffsetClips(heard_clips=n) for n in heard},
            "own clip": OffsetClips(own_clip=True), "nothing heard": OffsetClips(heard_clips=0)}
    rows = []
    for corpus in sorted(set(corpus_of.values())):
        keys = [k for k in features if corpus_of[k] == corpus]
        speakers = sorted({speaker_of[k] for k in keys})
        whole = np.array([speaker_offset(means[s], population) for s in speakers], float)
        row = {"corpus": corpus, "speakers": len(speakers),
               "between": _rms(whole - whole.mean(axis=0))}
        clips = {k: features[k] for k in keys}
        for name, way in ways.items():
            row[name] = _rms(offset_errors(clips, speaker_of, means, population, way))
        rows.append(row)
    return rows


def _rms(values: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.asarray(values, dtype=np.float64) ** 2)))


def markdown(rows: Sequence[dict]) -> str:
    """``corpus_rows``' rows as a markdown table, one decimal."""
    ways = [name for name in rows[0] if name not in ("corpus", "speakers", "between")]
    lines = ["| corpus | speakers | between speakers | " + " | ".join(ways) + " |",
             "|---|---|---|" + "---|" * len(ways)]
    for row in rows:
        lines.append(f"| {row['corpus']} | {row['speakers']} | {row['between']:.1f} | "
                     + " | ".join(f"{row[name]:.1f}" for name in ways) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", help="a run directory written by emoedge train")
    parser.add_argument("--data", help="the corpora's root, if the run's is gone")
    parser.add_argument("--cache", help="feature cache folder")
    parser.add_argument("--heard", nargs="+", type=int, default=[1, 5, 10, 20], metavar="K",
                        help="heard-clip counts to measure (default 1 5 10 20)")
    args = parser.parse_args(argv)
    from .evaluate import run_originals
    from .recipe import RecipeError
    from .trainer import clip_key, open_finished_run

    try:
        if min(args.heard) < 1:
            raise ValueError("--heard counts must be 1 or more (nothing heard is always shown)")
        finished = open_finished_run(args.run_dir, args.data)
        clips = finished.clips
        rows = corpus_rows(run_originals(finished, args.cache, progress=False),
                           {clip_key(c): c.speaker for c in clips},
                           {clip_key(c): c.corpus for c in clips}, args.heard)
    except (RecipeError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(markdown(rows), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
