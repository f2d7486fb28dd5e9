"""Two model cards of the same folds and speakers, compared corpus by corpus.

A recipe change is judged by scoring both runs' fold models on the same
held-out clips (``python -m emoedge.train.model_card ... --held-out val``)
and comparing the two ``card.json`` files: per fold and corpus the clean UA
(or, with ``--condition``, the UA under one of the card's perturbations)
of each, the mean over folds, how many folds rose, and a paired bootstrap
interval for the change of the mean. The bootstrap resamples the clips
(the same draw for both cards, and for every fold that scores a clip), so
it measures how much the figure depends on which clips happened to be held
out; it does not measure training noise (another seed), which needs more
runs.

    python -m emoedge.train.card_compare CONTROL/card.json CANDIDATE/card.json
"""

from __future__ import annotations

import argparse
import gzip
import json
import pathlib
import sys
from dataclasses import dataclass
from typing import Sequence

import numpy as np


RESAMPLES = 2000


@dataclass(frozen=True, kw_only=True)
class CorpusComparison:
    """One corpus: UA in points (0-100) per fold, control and candidate."""

    corpus: str
    folds: tuple[int, ...]          # 1-based fold numbers that score this corpus
    control_ua: tuple[float, ...]
    candidate_ua: tuple[float, ...]
    interval: tuple[float, float]   # 95 % paired bootstrap interval of the mean change

    @property
    def change(self) -> float:
        return float(np.mean(self.candidate_ua) - np.mean(self.control_ua))

    @property
    def folds_higher(self) -> int:
        return sum(b > a for a, b in zip(self.control_ua, self.candidate_ua))


@dataclass(frozen=True, kw_only=True)
class PairedFold:
    """One fold's clips of one corpus, scored by both cards, in the same order."""

    number: int           # 1-based
    control_ua: float     # the cards' own clean UA, in points
    candidate_ua: float
    paths: tuple[str, ...]  # (clips,) relative audio paths
    true: np.ndarray      # (clips,) label names
    control_correct: np.ndarray   # (clips,) bool: the control card's label is the true one
    candidate_correct: np.ndarray


def paired_folds(control: dict, candidate: dict, corpus: str,
                 condition: str = "clean") -> list[PairedFold]:
    """The folds that score ``corpus``, with both cards' predictions under
    ``condition`` ("clean", or a robustness column such as "snr10")."""
    if len(control["per_model"]) != len(candidate["per_model"]):
        raise ValueError(f"the cards hold {len(control['per_model'])} and "
                         f"{len(candidate['per_model'])} models; compare runs of the same folds")
    folds = []
    for number, (a, b) in enumerate(zip(control["per_model"], candidate["per_model"]), start=1):
        if (corpus in a) != (corpus in b):
            raise ValueError(f"fold {number}: only one card scores {corpus}")
        if corpus not in a:
            continue
        rows_a, rows_b = a[corpus]["predictions"], b[corpus]["predictions"]
        if [r["path"] for r in rows_a] != [r["path"] for r in rows_b]:
            raise ValueError(f"fold {number}, {corpus}: the cards scored different clips")
        for name, card in (("control", a), ("candidate", b)):
            if condition not in card[corpus]:
                raise ValueError(f"fold {number}, {corpus}: the {name} card has no "
                                 f"{condition!r} condition")
        true = np.array([r["true"] for r in rows_a])
        folds.append(PairedFold(number=number, control_ua=100 * a[corpus][condition]["ua"],
                                candidate_ua=100 * b[corpus][condition]["ua"],
                                paths=tuple(r["path"] for r in rows_a), true=true,
                                control_correct=np.array([r[condition] for r in rows_a]) == true,
                                candidate_correct=np.array([r[condition] for r in rows_b]) == true))
    return folds


def weighted_ua(true: np.ndarray, correct: np.ndarray, weights: np.ndarray) -> float:
    """UA with each clip counted ``weights`` times: the mean recall over the
    labels that keep some weight; NaN if none does. Shapes (clips,)."""
    _, label_of = np.unique(true, return_inverse=True)
    total = np.bincount(label_of, weights)
    hits = np.bincount(label_of, weights * correct)
    kept = total > 0
    return float(np.mean(hits[kept] / total[kept])) if kept.any() else float("nan")


def bootstrap_changes(folds: Sequence[PairedFold], *, resamples: int,
                      rng: np.random.Generator) -> np.ndarray:
    """The mean-over-folds UA change (points) under ``resamples`` clip
    bootstraps, shape (resamples,). Clips are drawn from the union of the
    folds' clips, so a clip that several folds score (a validation speaker
    shared by folds) is drawn once for all of them."""
    paths = sorted({path for fold in folds for path in fold.paths})
    position = {path: index for index, path in enumerate(paths)}
    indices = [np.array([position[path] for path in fold.paths]) for fold in folds]
    changes = np.empty(resamples)
    for draw in range(resamples):
        counts = rng.multinomial(len(paths), np.full(len(paths), 1 / len(paths)))
        changes[draw] = np.nanmean([
            weighted_ua(fold.true, fold.candidate_correct, counts[index])
            - weighted_ua(fold.true, fold.control_correct, counts[index])
            for fold, index in zip(folds, indices)])
    return 100 * changes


def compare_corpus(control: dict, candidate: dict, corpus: str, *, condition: str = "clean",
                   resamples: int = RESAMPLES, seed: int = 0) -> CorpusComparison:
    folds = paired_folds(control, candidate, corpus, condition)
    changes = bootstrap_changes(folds, resamples=resamples, rng=np.random.default_rng(seed))
    low, high = np.percentile(changes, [2.5, 97.5])
    return CorpusComparison(
        corpus=corpus, folds=tuple(f.number for f in folds),
        control_ua=tuple(f.control_ua for f in folds),
        candidate_ua=tuple(f.candidate_ua for f in folds),
        interval=(float(low), float(high)))


def markdown(comparisons: Sequence[CorpusComparison], fold_count: int) -> str:
    header = ("| corpus | " + " | ".join(f"fold {n}" for n in range(1, fold_count + 1))
              + " | mean | folds higher | 95 % interval of the change |")
    lines = [header, "|" + "---|" * (fold_count + 4)]
    for c in comparisons:
        cells = {n: f"{a:.1f} → {b:.1f}" for n, a, b in zip(c.folds, c.control_ua,
                                                             c.candidate_ua)}
        lines.append(
            f"| {c.corpus} | " + " | ".join(cells.get(n, "") for n in range(1, fold_count + 1))
            + f" | {np.mean(c.control_ua):.1f} → {np.mean(c.candidate_ua):.1f} "
            f"({c.change:+.1f}) | {c.folds_higher} of {len(c.folds)} "
            f"| {c.interval[0]:+.1f} to {c.interval[1]:+.1f} |")
    return "\n".join(lines) + "\n"


def plot(comparisons: Sequence[CorpusComparison], path: str) -> None:
    """One panel per corpus: each fold's UA, control to candidate, as a line
    (green where it rose, red where it fell, grey where it stayed)."""
    from .report import _pyplot, save_figure

    plt = _pyplot()
    figure, axes = plt.subplots(1, len(comparisons), figsize=(4.5 * len(comparisons), 4),
                                squeeze=False)
    for axis, c in zip(axes[0], comparisons):
        for number, a, b in zip(c.folds, c.control_ua, c.candidate_ua):
            colour = "tab:green" if b > a else "tab:red" if b < a else "tab:gray"
            axis.plot([0, 1], [a, b], marker="o", color=colour)
            axis.annotate(f"fold {number}", (1, b), xytext=(6, 0), textcoords="offset points",
                          va="center", fontsize=8)
        axis.plot([0, 1], [np.mean(c.control_ua), np.mean(c.candidate_ua)], color="black",
                  linewidth=3, label=f"mean {c.change:+.1f}")
        axis.set_xticks([0, 1], ["control", "candidate"])
        axis.set_xlim(-0.2, 1.35)
        axis.set_title(f"{c.corpus}: 95 % interval {c.interval[0]:+.1f} to {c.interval[1]:+.1f}",
                       fontsize=9)
        axis.set_ylabel("UA (%)")
        axis.legend(loc="lower left", fontsize=8)
    save_figure(figure, path)


# model_card wrote no "held_out" before it could score validation speakers
# (commit 3ac9e0c); until then it scored each model's test speakers only.
CARDS_BEFORE_HELD_OUT = "each model's test speakers"


def read_card(path: str | pathlib.Path) -> dict:
    """A card.json, or a gzip-compressed one (``.gz``: how docs/runs keeps
    the control seeds' cards, about a twentieth of the size)."""
    path = pathlib.Path(path)
    data = path.read_bytes()
    return json.loads(gzip.decompress(data) if path.suffix == ".gz" else data)


def write_card(card: dict, path: str | pathlib.Path) -> None:
    """``card`` as JSON, as :func:`read_card` reads it; gzip-compressed (with
    no timestamp, so the bytes follow the card alone) when ``path`` ends in
    ``.gz``."""
    path = pathlib.Path(path)
    text = json.dumps(card, indent=1) + "\n"
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode(), mtime=0))
    else:
        path.write_text(text)


def held_out_speakers(card: dict) -> str:
    """Which speakers a card.json scored, as model_card words it."""
    return card.get("held_out", CARDS_BEFORE_HELD_OUT)


def scored_clips(card: dict) -> list[dict[str, list[str]]]:
    """Per fold, per corpus, the clip paths a card scored."""
    return [{corpus: [row["path"] for row in entry["predictions"]]
             for corpus, entry in model.items()
             if isinstance(entry, dict) and "predictions" in entry}
            for model in card["per_model"]]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("control", help="card.json of the run compared against")
    parser.add_argument("candidate", help="card.json of the changed run")
    parser.add_argument("--resamples", type=int, default=RESAMPLES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--condition", default="clean",
                        help="the card column compared: clean (default), or e.g. snr10, "
                             "gain-12, tilt+6")
    parser.add_argument("--plot", help="also draw each fold's change, per corpus, into this PNG")
    args = parser.parse_args(argv)
    try:
        control, candidate = (read_card(path) for path in (args.control, args.candidate))
        control_speakers, candidate_speakers = map(held_out_speakers, (control, candidate))
        if control_speakers != candidate_speakers:
            raise ValueError(f"the cards scored different speakers: {control_speakers!r} "
                             f"and {candidate_speakers!r}")
        corpora = sorted({corpus for card in (control, candidate)
                          for fold in scored_clips(card) for corpus in fold})
        comparisons = [compare_corpus(control, candidate, corpus, condition=args.condition,
                                      resamples=args.resamples, seed=args.seed)
                       for corpus in corpora]
    except (OSError, ValueError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(markdown(comparisons, len(control["per_model"])), end="")
    if args.plot:
        plot(comparisons, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
