"""Validation UA against how many of a held-out speaker's clips set its offset.

A speaker-shifted model knows a held-out speaker only as well as the clips
it has heard from them. Each point of a curve is one card of the same model,
scored with ``emoedge evaluate RUN --held-out val --seed S --card DIR
--heard-clips K`` (``all``: without ``--heard-clips``, every clip of the
speaker). Per corpus this prints each curve's UA at each count and draws it
beside the control seeds' range, so the number of utterances a device must
hear before the speaker's offset pays can be read off the plot.

    python -m emoedge.train.heard_curve --control C0/card.json C1/card.json C2/card.json \\
        --curve "seed 0" 0=K0/card.json 5=K5/card.json all=KALL/card.json --plot heard.png
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .card_compare import read_card, scored_clips
from .seed_compare import card_figure, check_same_clips

ALL_CLIPS = "all"


@dataclass(frozen=True, kw_only=True)
class HeardCurve:
    """One model's UA (points, 0-100) per corpus at each count of clips
    heard; ``heard`` is in increasing order, ``None`` (all clips) last."""

    name: str
    heard: tuple[int | None, ...]
    ua: dict[str, tuple[float, ...]]


def parse_point(text: str) -> tuple[int | None, str]:
    """``"K=path"`` -> (K, path): K a count of 0 or more, or ``all`` (None).

    Raises:
        ValueError: no ``=``, or a K that is neither.
    """
    heard, separator, path = text.partition("=")
    if not separator or not path:
        raise ValueError(f"a curve point is K=card.json (K a count or {ALL_CLIPS!r}), "
                         f"got {text!r}")
    if heard == ALL_CLIPS:
        return None, path
    if not heard.isdigit():
        raise ValueError(f"clips heard must be a count of 0 or more or {ALL_CLIPS!r}, "
                         f"got {heard!r}")
    return int(heard), path


def _order(heard: int | None) -> float:
    return float("inf") if heard is None else heard


def build_curve(name: str, points: Sequence[tuple[int | None, dict]],
                corpora: Sequence[str]) -> HeardCurve:
    """A curve from (K, card) pairs, sorted by K.

    Raises:
        ValueError: the same K twice.
    """
    counts = [heard for heard, _ in points]
    if len(set(counts)) != len(counts):
        raise ValueError(f"curve {name!r} gives the same count of clips heard twice")
    ordered = sorted(points, key=lambda point: _order(point[0]))
    return HeardCurve(name=name, heard=tuple(heard for heard, _ in ordered),
                      ua={corpus: tuple(card_figure(card, corpus, "clean", None)
                                        for _, card in ordered) for corpus in corpora})


def heard_label(heard: int | None) -> str:
    return ALL_CLIPS if heard is None else str(heard)


def markdown(curves: Sequence[HeardCurve], control: dict[str, tuple[float, ...]]) -> str:
    """One row per curve and count, one column per corpus; the control's
    seeds first (mean, then the seeds)."""
    corpora = sorted(control)
    lines = ["| model | clips heard | " + " | ".join(f"{c} UA" for c in corpora) + " |",
             "|" + "---|" * (2 + len(corpora))]
    seeds = [f"{np.mean(control[c]):.1f} ({' / '.join(f'{v:.1f}' for v in control[c])})"
             for c in corpora]
    lines.append("| control seeds: mean (each) | any | " + " | ".join(seeds) + " |")
    for curve in curves:
        for i, heard in enumerate(curve.heard):
            values = " | ".join(f"{curve.ua[c][i]:.1f}" for c in corpora)
            lines.append(f"| {curve.name} | {heard_label(heard)} | {values} |")
    return "\n".join(lines) + "\n"


def plot(curves: Sequence[HeardCurve], control: dict[str, tuple[float, ...]], path: str) -> None:
    """One panel per corpus: each curve's UA against clips heard (evenly
    spaced counts, all clips last), over the control seeds' range (band)
    and mean (dashed)."""
    from .report import _pyplot, save_figure

    plt = _pyplot()
    counts = sorted({h for curve in curves for h in curve.heard}, key=_order)
    x_of = {heard: i for i, heard in enumerate(counts)}
    corpora = sorted(control)
    figure, axes = plt.subplots(1, len(corpora), figsize=(4.6 * len(corpora), 3.6),
                                squeeze=False)
    for axis, corpus in zip(axes.flat, corpora):
        seeds = control[corpus]
        axis.axhspan(min(seeds), max(seeds), color="tab:gray", alpha=0.25,
                     label="control seeds' range")
        axis.axhline(np.mean(seeds), color="tab:gray", linestyle="--", label="control mean")
        for curve in curves:
            axis.plot([x_of[h] for h in curve.heard], curve.ua[corpus], marker="o",
                      label=curve.name)
        axis.set_xticks(range(len(counts)), [heard_label(h) for h in counts])
        axis.set_xlabel("clips of the speaker heard")
        axis.set_ylabel("UA, %")
        axis.set_title(corpus, fontsize=10)
    axes.flat[0].legend(fontsize=7, loc="lower right")
    save_figure(figure, path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--control", nargs="+", required=True,
                        help="card.json of each control seed")
    parser.add_argument("--curve", nargs="+", action="append", required=True,
                        metavar="NAME K=CARD",
                        help="a name, then K=card.json for each count heard (repeatable)")
    parser.add_argument("--plot", help="also draw the curves into this PNG")
    args = parser.parse_args(argv)
    try:
        control = [read_card(name) for name in args.control]
        named = [(spec[0], [parse_point(text) for text in spec[1:]]) for spec in args.curve]
        if any(not points for _, points in named):
            raise ValueError("each --curve needs a name and at least one K=card.json")
        cards = {path: read_card(path) for _, points in named for _, path in points}
        check_same_clips([*control, *cards.values()], [*args.control, *cards])
        corpora = sorted({c for folds in scored_clips(control[0]) for c in folds})
        curves = [build_curve(name, [(heard, cards[path]) for heard, path in points], corpora)
                  for name, points in named]
        control_ua = {c: tuple(card_figure(card, c, "clean", None) for card in control)
                      for c in corpora}
    except (OSError, ValueError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(markdown(curves, control_ua), end="")
    if args.plot:
        plot(curves, control_ua, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
