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
from typing import Sequence

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
    from .evaluate import _run_features, card_rows, fold_outputs
    from .model_card import combine, corpus_entries
    from .trainer import open_finished_run

    if held_out not in ("val", "test"):
        raise ValueError(f"held_out must be 'val' or 'test', got {held_out!r}")
    members: dict[str, list] = {}
    models, labels, root = [], None, ""
    for run_dir in run_dirs:
        finished = open_finished_run(run_dir, data_root)
        run_labels = list(finished.recipe.output_names)
        if labels is not None and run_labels != labels:
            raise RecipeError(f"{run_dir} has labels {run_labels}, the first run {labels}")
        labels = run_labels
        root = root or data_root or finished.record.get("data_root") or ""
        features = _run_features(finished, cache_dir, progress=progress)
        for fold in finished.record["folds"]:
            clips, outputs, model = fold_outputs(finished, fold, features, labels, held_out)
            members.setdefault(fold["split"], []).append((run_dir, clips, outputs))
            models.append(model)
    if len(models) < 2:
        raise RecipeError(f"an ensemble needs at least two fold models; {len(models)} given")
    per_model = [corpus_entries(card_rows(*_averaged(split, found), labels, root),
                                labels, ("clean",))
                 for split, found in members.items()]
    # "held_out" as a float card has it, so the compare tools pair this card
    # with its members'; what was averaged is said beside it
    return {"models": models, "held_out": f"each fold's {held_out} speakers (float models)",
            "ensemble": f"clip probabilities averaged over the {len(models)} models of "
                        f"{len(per_model)} split(s)",
            "per_model": per_model, "summary": combine(per_model)}


def _averaged(split: str, members: list) -> tuple[list, np.ndarray]:
    """One split's clips and its members' mean clip probabilities."""
    first_run, clips, _ = members[0]
    keys = [c.path for c in clips]
    for run_dir, other, _ in members[1:]:
        if [c.path for c in other] != keys:
            raise RecipeError(f"{run_dir} and {first_run} score other clips in split {split}")
    return clips, np.mean([outputs for _, _, outputs in members], axis=0)


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
