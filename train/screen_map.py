"""Several rounds' candidates against one control, on one picture.

Each screening round is judged by ``seed_compare`` against a control's
seed cards; when many rounds share the control (the fold-1 screens of
DEFAULT_MODEL.md), this puts them side by side: per candidate, the change
of each corpus's seed-mean UA, with the range of its seeds, against the
band the control's own seeds span. A lever that moved beyond the seed
spread stands out of the band; the rest sit inside it.

    python -m emoedge.train.screen_map --control C0 C1 C2 \\
        --candidate crnn=D0,D1,D2 --candidate mel64=E0,E1,E2 \\
        --x-corpus emodb --y-corpus ravdess --plot screens.png
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .card_compare import read_card
from .seed_compare import card_figure, check_same_clips


@dataclass(frozen=True, kw_only=True)
class ScreenPoint:
    """One candidate's seed-mean UA change on two corpora, in points (0-100)."""

    name: str
    seeds: int
    x_change: float
    x_range: tuple[float, float]   # its seeds' lowest and highest change
    y_change: float
    y_range: tuple[float, float]


def screen_points(control: Sequence[dict], candidates: dict[str, Sequence[dict]], *,
                  x_corpus: str, y_corpus: str) -> tuple[list[ScreenPoint], dict]:
    """Each candidate's change against ``control``, and the control's own
    seed spread per corpus (its seeds' lowest and highest figure minus
    their mean).

    Raises:
        ValueError: a card scored other clips than the first control card,
            or a corpus no card scores.
    """
    cards = [*control, *(card for side in candidates.values() for card in side)]
    check_same_clips(cards, [f"card {i + 1}" for i in range(len(cards))])
    means, spread = {}, {}
    for corpus in (x_corpus, y_corpus):
        if not all(corpus in model for card in control for model in card["per_model"]):
            raise ValueError(f"the control cards score no {corpus} clip in some fold")
        values = [card_figure(card, corpus, "clean", None) for card in control]
        means[corpus] = float(np.mean(values))
        spread[corpus] = (min(values) - means[corpus], max(values) - means[corpus])
    points = []
    for name, side in candidates.items():
        changes = {corpus: [card_figure(card, corpus, "clean", None) - means[corpus]
                            for card in side] for corpus in (x_corpus, y_corpus)}
        points.append(ScreenPoint(
            name=name, seeds=len(side),
            x_change=float(np.mean(changes[x_corpus])),
            x_range=(min(changes[x_corpus]), max(changes[x_corpus])),
            y_change=float(np.mean(changes[y_corpus])),
            y_range=(min(changes[y_corpus]), max(changes[y_corpus]))))
    return points, spread


def table(points: Sequence[ScreenPoint], x_corpus: str, y_corpus: str) -> str:
    """A markdown table of the points, in their order."""
    lines = [f"| candidate | seeds | {x_corpus} change (seed range) | "
             f"{y_corpus} change (seed range) |", "|---|---|---|---|"]
    for p in points:
        lines.append(f"| {p.name} | {p.seeds} | {p.x_change:+.1f} ({p.x_range[0]:+.1f} to "
                     f"{p.x_range[1]:+.1f}) | {p.y_change:+.1f} ({p.y_range[0]:+.1f} to "
                     f"{p.y_range[1]:+.1f}) |")
    return "\n".join(lines) + "\n"


def plot(points: Sequence[ScreenPoint], spread: dict, x_corpus: str, y_corpus: str,
         path: str) -> None:
    """Each candidate at its (x, y) change with its seeds' ranges as bars;
    the control seeds' spread shaded around the origin."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(10, 5.5))
    (x_low, x_high), (y_low, y_high) = spread[x_corpus], spread[y_corpus]
    axes.add_patch(plt.Rectangle((x_low, y_low), x_high - x_low, y_high - y_low,
                                 color="0.85", zorder=0, label="control seeds' spread"))
    axes.axhline(0, color="0.5", lw=0.8)
    axes.axvline(0, color="0.5", lw=0.8)
    # Points are numbered and named in the legend: with many candidates
    # near the origin, names written beside the points overlap.
    for number, p in enumerate(points, start=1):
        axes.errorbar(p.x_change, p.y_change,
                      xerr=[[p.x_change - p.x_range[0]], [p.x_range[1] - p.x_change]],
                      yerr=[[p.y_change - p.y_range[0]], [p.y_range[1] - p.y_change]],
                      fmt="o", capsize=3, lw=1, label=f"{number}  {p.name}")
        axes.annotate(str(number), (p.x_change, p.y_change), textcoords="offset points",
                      xytext=(4, 4), fontsize=8, weight="bold")
    axes.set_xlabel(f"{x_corpus} UA change, seed mean (points)")
    axes.set_ylabel(f"{y_corpus} UA change, seed mean (points)")
    axes.set_title("candidates against one control: seed means, bars span the seeds")
    axes.legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _candidate(text: str) -> tuple[str, list[str]]:
    name, sep, paths = text.partition("=")
    if not sep or not name or not paths:
        raise argparse.ArgumentTypeError(f"{text!r}: give NAME=CARD,CARD,...")
    return name, paths.split(",")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--control", nargs="+", required=True, help="the control's seed cards")
    parser.add_argument("--candidate", type=_candidate, action="append", required=True,
                        help="NAME=CARD,CARD,... one candidate's seed cards (repeatable)")
    parser.add_argument("--x-corpus", default="emodb")
    parser.add_argument("--y-corpus", default="ravdess")
    parser.add_argument("--plot", default=None, help="write the picture here (PNG)")
    args = parser.parse_args(argv)
    try:
        control = [read_card(path) for path in args.control]
        candidates = {name: [read_card(path) for path in paths]
                      for name, paths in args.candidate}
        points, spread = screen_points(control, candidates, x_corpus=args.x_corpus,
                                       y_corpus=args.y_corpus)
        if args.plot:
            plot(points, spread, args.x_corpus, args.y_corpus, args.plot)
    except (OSError, ValueError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(table(points, args.x_corpus, args.y_corpus), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
