"""A card of several runs' float models averaged: what an ensemble would score.

A ceiling for the levers that try to get an ensemble's accuracy out of one
model (distillation from seeds, say): if the ensemble itself does not gain,
a single model trained to imitate it will not. Each fold of the given runs
is scored on its ``held_out`` speakers (as ``emoedge evaluate --card``);
folds of the same split (the same fold groups, other seeds or recipes) are
one ensemble member each, and their clip probabilities (the mean softmax
over each clip's windows) are averaged before the argmax. The card has the
layout of ``evaluate``'s float cards, one ``per_model`` entry per split, so
``seed_compare`` and ``card_compare`` read it beside the members' own cards.

    python -m emoedge.train.ensemble_card -o ensemble.card.json \\
        runs/control_s0 runs/control_s1 runs/control_s2 --held-out val
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from .recipe import RecipeError


def ensemble_card(run_dirs: Sequence[str], *, held_out: str, data_root: str | None,
                  cache_dir: str | None = None, progress: bool = True) -> dict:
    """The card of the runs' folds averaged per split.

    Args:
        run_dirs: finished runs (``emoedge train -o``), at least two folds in all.
        held_out: "val" or "test": which speakers of each fold score.
        data_root: the corpora's folder (or the one each run recorded).
        cache_dir: the feature cache.
    Returns:
        a card: ``models`` (every member), ``held_out``, ``ensemble`` (what
        was averaged), ``per_model`` (one per split, its members averaged)
        and ``summary``.
    Raises:
        RecipeError: a run is not finished; fewer than two folds; runs whose
            recipes differ in labels; members of one split scored on other clips.
        ValueError: ``held_out`` is neither "val" nor "test".
    """
    from .evaluate import card_rows
    from .model_card import combine, corpus_entries

    if held_out not in ("val", "test"):
        raise ValueError(f"held_out must be 'val' or 'test', got {held_out!r}")
    members = list(_scored_members(run_dirs, held_out=held_out, data_root=data_root,
                                   cache_dir=cache_dir, progress=progress))
    if len(members) < 2:
        raise RecipeError(f"an ensemble needs at least two fold models; {len(members)} given")
    labels, root = members[0].labels, members[0].data_root
    splits = dict.fromkeys(m.split for m in members)
    per_model = [corpus_entries(card_rows(*_averaged([m for m in members if m.split == split]),
                                          labels, root), labels, ("clean",))
                 for split in splits]
    # "held_out" as a float card has it, so the compare tools pair this card
    # with its members'; what was averaged is said beside it
    return {"models": [m.model for m in members],
            "held_out": f"each fold's {held_out} speakers (float models)",
            "ensemble": f"clip probabilities averaged over the {len(members)} models of "
                        f"{len(per_model)} split(s)",
            "per_model": per_model, "summary": combine(per_model)}


@dataclass(frozen=True, kw_only=True)
class _Member:
    """One fold model scored on its held-out clips."""

    run_dir: str
    split: str
    labels: list[str]
    data_root: str
    clips: list
    probabilities: np.ndarray   # (clips, labels), each clip's mean softmax
    model: dict                 # the card's entry: directory, seed, machine


def _scored_members(run_dirs: Sequence[str], *, held_out: str, data_root: str | None,
                    cache_dir: str | None, progress: bool) -> Iterator[_Member]:
    """Every fold of every run, scored; runs must share their labels."""
    from .evaluate import fold_outputs, run_features
    from .trainer import open_finished_run

    first_labels = None
    for run_dir in run_dirs:
        finished = open_finished_run(run_dir, data_root)
        labels = list(finished.recipe.output_names)
        if first_labels is not None and labels != first_labels:
            raise RecipeError(f"{run_dir} has labels {labels}, the first run {first_labels}")
        first_labels = labels
        root = data_root or finished.record.get("data_root") or ""
        features = run_features(finished, cache_dir, progress=progress)
        for fold in finished.record["folds"]:
            clips, outputs, model = fold_outputs(finished, fold, features, labels, held_out)
            yield _Member(run_dir=run_dir, split=fold["split"], labels=labels, data_root=root,
                          clips=clips, probabilities=outputs, model=model)


def _averaged(members: Sequence[_Member]) -> tuple[list, np.ndarray]:
    """One split's clips and its members' mean clip probabilities."""
    first = members[0]
    for other in members[1:]:
        if [c.path for c in other.clips] != [c.path for c in first.clips]:
            raise RecipeError(f"{other.run_dir} and {first.run_dir} score other clips in "
                              f"split {first.split}")
    return first.clips, np.mean([m.probabilities for m in members], axis=0)


def main(argv: Sequence[str] | None = None) -> int:
    from .card_compare import write_card
    from .model_card import markdown_table

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="finished run directories")
    parser.add_argument("-o", "--output", required=True, type=pathlib.Path,
                        help="the card (.json, or .json.gz to compress)")
    parser.add_argument("--held-out", default="val", choices=("val", "test"))
    parser.add_argument("--data", default=None, help="corpora folder (default: EMOEDGE_DATA, "
                        "then the folder each run recorded)")
    parser.add_argument("--cache", default=None, help="feature cache folder")
    parser.add_argument("-q", "--quiet", action="store_true")
    args = parser.parse_args(argv)
    try:
        card = ensemble_card(args.runs, held_out=args.held_out,
                             data_root=args.data or os.environ.get("EMOEDGE_DATA"),
                             cache_dir=args.cache, progress=not args.quiet)
        write_card(card, args.output)
    except (RecipeError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"Scored on {card['held_out']}, {card['ensemble']}.\n")
    print(markdown_table(card["summary"]), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
