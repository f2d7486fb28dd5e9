"""Several seeds of a control against several seeds of a candidate.

One retraining moves a fold's validation UA by as much as a recipe change
(DEFAULT_MODEL.md, twelfth round), so a change is judged over seeds: each
seed's run is scored into its own ``card.json`` (or ``card.json.gz``; ``python -m
emoedge.train.model_card RUN/split*_seedS/model_int8.tflite --held-out val
...``), every card over the same folds and clips. Per corpus this prints
each seed's figure (the mean over the card's folds), the seed mean and
range of each side, how many candidate seeds lie above every control seed,
and the exact one-sided permutation p of the mean change (all ways of
dealing the pooled seed figures into two sides of the same sizes). The
figure is the clean UA, or with ``--condition`` one of the card's
perturbations, and with ``--recall LABEL`` also that class's recall.

    python -m emoedge.train.seed_compare --control C0/card.json C1/card.json C2/card.json \\
        --candidate D0/card.json D1/card.json D2/card.json --recall neutral
"""

from __future__ import annotations

import argparse
import itertools
import sys
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .card_compare import held_out_speakers, read_card, scored_clips
from .machine import machines_of


@dataclass(frozen=True, kw_only=True)
class SeedComparison:
    """One corpus and one figure (in points, 0-100), one value per seed's card."""

    corpus: str
    figure: str                     # "UA" or "neutral recall", with the condition
    control: tuple[float, ...]
    candidate: tuple[float, ...]

    @property
    def change(self) -> float:
        return float(np.mean(self.candidate) - np.mean(self.control))

    @property
    def seeds_above_every_control(self) -> int:
        return sum(value > max(self.control) for value in self.candidate)

    @property
    def permutation_p(self) -> float:
        """Share of the ways to deal the pooled values into sides of these
        sizes whose mean change is at least the observed one (one-sided)."""
        pooled = np.array(self.control + self.candidate)
        size = len(self.candidate)
        changes = [pooled[list(chosen)].mean() - np.delete(pooled, chosen).mean()
                   for chosen in itertools.combinations(range(len(pooled)), size)]
        return float(np.mean(np.array(changes) >= self.change - 1e-9))


def recall(rows: Sequence[dict], label: str, condition: str) -> float:
    """Share (0-1) of the clips labelled ``label`` that ``condition``'s
    prediction gets right; NaN when the fold holds none."""
    chosen = [row[condition] == label for row in rows if row["true"] == label]
    return float(np.mean(chosen)) if chosen else float("nan")


def card_figure(card: dict, corpus: str, condition: str, label: str | None) -> float:
    """A card's figure for ``corpus`` in points: the mean over the folds
    that score it of the UA, or of ``label``'s recall."""
    values = []
    for model in card["per_model"]:
        if corpus not in model:
            continue
        entry = model[corpus]
        if condition not in entry:
            raise ValueError(f"a card has no {condition!r} condition for {corpus}")
        values.append(entry[condition]["ua"] if label is None
                      else recall(entry["predictions"], label, condition))
    return 100 * float(np.nanmean(values))


def check_same_clips(cards: Sequence[dict], names: Sequence[str]) -> None:
    """Every card scored the same speakers, folds and clips as the first."""
    first = cards[0]
    for card, name in zip(cards[1:], names[1:]):
        if held_out_speakers(card) != held_out_speakers(first):
            raise ValueError(f"{name} scored {held_out_speakers(card)!r}, "
                             f"{names[0]} {held_out_speakers(first)!r}")
        if scored_clips(card) != scored_clips(first):
            raise ValueError(f"{name} and {names[0]} scored different folds or clips")


def labels_scored(card: dict, corpus: str) -> set[str]:
    """The true labels of the clips a card scored for ``corpus``."""
    return {row["true"] for model in card["per_model"] if corpus in model
            for row in model[corpus]["predictions"]}


def compare(control: Sequence[dict], candidate: Sequence[dict], *, condition: str = "clean",
            recall_labels: Sequence[str] = ()) -> list[SeedComparison]:
    """Per corpus the UA, then each of ``recall_labels`` the corpus has.

    Raises:
        ValueError: a recall label no scored clip has.
    """
    corpora = sorted({c for folds in scored_clips(control[0]) for c in folds})
    present = {corpus: labels_scored(control[0], corpus) for corpus in corpora}
    for label in recall_labels:
        if not any(label in labels for labels in present.values()):
            raise ValueError(f"no scored clip is labelled {label!r}")
    comparisons = []
    for corpus in corpora:
        for label in (None, *(name for name in recall_labels if name in present[corpus])):
            figure = "UA" if label is None else f"{label} recall"
            if condition != "clean":
                figure += f" ({condition})"
            comparisons.append(SeedComparison(
                corpus=corpus, figure=figure,
                control=tuple(card_figure(card, corpus, condition, label) for card in control),
                candidate=tuple(card_figure(card, corpus, condition, label)
                                for card in candidate)))
    return comparisons


def machine_note(control: Sequence[dict], candidate: Sequence[dict]) -> str | None:
    """A warning when the two sides' models were not all trained on
    machines that compute alike (or a card does not say); None when they
    were. Another machine moves the figures about as much as another seed,
    so a difference between sides could be the machines'."""
    sides = {"control": machines_of(control), "candidate": machines_of(candidate)}
    machines = sides["control"] | sides["candidate"]
    if machines == {"unknown"}:
        return ("no card says which machine trained its models; unless all were trained "
                "on one kind of machine, a change may be the machines'")
    if len(machines) == 1:
        return None
    listed = "; ".join(f"{side}: {' | '.join(sorted(keys))}" for side, keys in sides.items())
    unsaid = ", or a card does not say which" if "unknown" in machines else ""
    return (f"the models were trained on machines that compute differently{unsaid} "
            f"({listed}); a change may be the machines'")


def markdown(comparisons: Sequence[SeedComparison]) -> str:
    def side(values):
        return (" / ".join(f"{v:.1f}" for v in values)
                + f" | {np.mean(values):.1f} | {max(values) - min(values):.1f}")

    lines = ["| corpus | figure | control seeds | mean | range | candidate seeds | mean | range "
             "| change | candidate seeds above every control seed | one-sided p |",
             "|" + "---|" * 11]
    for c in comparisons:
        lines.append(f"| {c.corpus} | {c.figure} | {side(c.control)} | {side(c.candidate)} "
                     f"| {c.change:+.1f} | {c.seeds_above_every_control} of {len(c.candidate)} "
                     f"| {c.permutation_p:.2f} |")
    return "\n".join(lines) + "\n"


PANELS_PER_ROW = 4
MIN_SPAN_POINTS = 10.0  # a y range at least this tall, so a 1-point gap does not fill a panel


def plot(comparisons: Sequence[SeedComparison], path: str) -> None:
    """One panel per corpus and figure: each seed a dot, each side's mean a bar."""
    from .report import _pyplot, save_figure

    plt = _pyplot()
    columns = min(PANELS_PER_ROW, len(comparisons))
    rows = -(-len(comparisons) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 3.4 * rows),
                                squeeze=False)
    for axis in axes.flat[len(comparisons):]:
        axis.set_visible(False)
    for axis, c in zip(axes.flat, comparisons):
        for x, values, colour in ((0, c.control, "tab:gray"), (1, c.candidate, "tab:blue")):
            # seeds side by side, so two seeds with the same figure stay two dots
            axis.scatter(x + np.linspace(-0.12, 0.12, len(values)), values, color=colour,
                         zorder=3)
            axis.hlines(np.mean(values), x - 0.25, x + 0.25, color="black", linewidth=2)
        middle = (min(c.control + c.candidate) + max(c.control + c.candidate)) / 2
        low, high = axis.get_ylim()
        half = max(high - low, MIN_SPAN_POINTS) / 2
        axis.set_ylim(middle - half, middle + half)
        axis.set_xticks([0, 1], ["control", "candidate"])
        axis.set_xlim(-0.6, 1.6)
        axis.set_title(f"{c.corpus}, {c.figure}\nchange {c.change:+.1f}, p {c.permutation_p:.2f}",
                       fontsize=9)
        axis.set_ylabel("%")
    save_figure(figure, path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--control", nargs="+", required=True,
                        help="card.json of each control seed")
    parser.add_argument("--candidate", nargs="+", required=True,
                        help="card.json of each candidate seed")
    parser.add_argument("--condition", default="clean",
                        help="the card column compared: clean (default), or e.g. snr10")
    parser.add_argument("--recall", action="append", default=[], metavar="LABEL",
                        help="also compare this class's recall (repeatable)")
    parser.add_argument("--plot", help="also draw the seeds, per corpus and figure, into this PNG")
    args = parser.parse_args(argv)
    names = [*args.control, *args.candidate]
    try:
        cards = [read_card(name) for name in names]
        check_same_clips(cards, names)
        comparisons = compare(cards[:len(args.control)], cards[len(args.control):],
                              condition=args.condition, recall_labels=args.recall)
    except (OSError, ValueError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    note = machine_note(cards[:len(args.control)], cards[len(args.control):])
    if note:
        print(f"note: {note}", file=sys.stderr)
    print(markdown(comparisons), end="")
    if args.plot:
        plot(comparisons, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
