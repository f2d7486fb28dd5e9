"""One card from the single-fold cards of one seed, so seeds compare over folds.

A validation round trains each fold as a run of its own (one
``data.fold_groups`` entry per run; DEFAULT_MODEL.md), so each card holds one
fold. Merged, the cards of one seed's folds read as the card of a run over
those folds: ``per_model`` lists each fold and the summary is the mean over
them (:func:`.model_card.combine`). ``seed_compare`` then gives each seed the
mean over its folds, which, with the same folds for every seed, makes each
side's seed mean the mean of all its (fold, seed) figures.

    python -m emoedge.train.card_merge -o merged_seed0.card.json \\
        fold2_seed0/card.json fold3_seed0/card.json

A corpus's validation speakers may recur between folds (a speaker is
drawn for validation in one fold and again in another), so a clip may
be scored by two of the cards; only the same fold twice (the same model,
or the same clips with the same predictions) is refused.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
from typing import Sequence

from .card_compare import held_out_speakers, read_card, write_card
from .model_card import combine


def merge_cards(cards: Sequence[dict], names: Sequence[str]) -> dict:
    """The card of all of ``cards``' folds, in their order.

    Args:
        cards: card dicts (``read_card``), each over other folds.
        names: what to call each card in an error, in the same order.
    Returns:
        a card with ``models``, ``held_out``, ``per_model``, ``summary`` and,
        when the cards have them, their ``speaker_shift`` and the first
        card's ``ensemble``.
    Raises:
        ValueError: fewer than two cards; cards over other kinds of held-out
            speakers, other speaker shifts or other seeds; an ensemble's card
            with another; a fold given twice.
    """
    if len(cards) < 2:
        raise ValueError("give two or more cards to merge")
    first, first_name = cards[0], names[0]
    for card, name in zip(cards[1:], names[1:]):
        if held_out_speakers(card) != held_out_speakers(first):
            raise ValueError(f"{name} scored {held_out_speakers(card)!r}, "
                             f"{first_name} {held_out_speakers(first)!r}")
        if card.get("speaker_shift") != first.get("speaker_shift"):
            raise ValueError(f"{name} shifted held-out clips {_shift(card)}, "
                             f"{first_name} {_shift(first)}")
        if ("ensemble" in card) != ("ensemble" in first):
            raise ValueError(f"{name} and {first_name}: merge ensemble cards with ensemble "
                             "cards only")
    _check_one_seed(cards, names)
    _check_each_fold_once(cards, names)
    per_model = [model for card in cards for model in card["per_model"]]
    merged = {"models": [model for card in cards for model in card.get("models", [])],
              "held_out": held_out_speakers(first), "per_model": per_model,
              "summary": combine(per_model)}
    for key in ("speaker_shift", "ensemble"):
        if key in first:
            merged[key] = first[key]
    return merged


def _shift(card: dict) -> str:
    return card.get("speaker_shift", "by each speaker's whole mean or not at all")


def _check_one_seed(cards: Sequence[dict], names: Sequence[str]) -> None:
    """One seed's folds, or one ensemble's (``ensemble_card``): the same
    seeds in every card."""
    seeds = {name: {model["seed"] for model in card.get("models", []) if "seed" in model}
             for card, name in zip(cards, names)}
    every = set().union(*seeds.values())
    if len(every) > 1 and any(found != every for found in seeds.values()):
        listed = "; ".join(f"{name}: {sorted(found)}" for name, found in seeds.items())
        raise ValueError(f"the cards are of other seeds ({listed}); merge one seed's folds")


def _check_each_fold_once(cards: Sequence[dict], names: Sequence[str]) -> None:
    """The same model, or the same fold scored alike (clips and predictions),
    in two cards is one fold given twice."""
    seen: dict[str, str] = {}
    for card, name in zip(cards, names):
        keys = [json.dumps(model, sort_keys=True) for model in card.get("models", [])]
        keys += [json.dumps(fold, sort_keys=True) for fold in card["per_model"]]
        for key in keys:
            if key in seen and seen[key] != name:
                raise ValueError(f"{name} and {seen[key]} hold the same fold")
            seen[key] = name


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cards", nargs="+", help="card.json (or .json.gz) of each fold")
    parser.add_argument("-o", "--output", required=True, type=pathlib.Path,
                        help="the merged card (.json, or .json.gz to compress)")
    args = parser.parse_args(argv)
    try:
        merged = merge_cards([read_card(name) for name in args.cards], args.cards)
        write_card(merged, args.output)
    except (OSError, ValueError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    folds = len(merged["per_model"])
    print(f"wrote {args.output}: {folds} folds from {len(args.cards)} cards")
    return 0


if __name__ == "__main__":
    sys.exit(main())
