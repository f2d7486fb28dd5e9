"""The forty-second round's per-clip rows: each validation clip's label with
the shipped windows, with one more window aligned to the clip's end, and
with windows every quarter hop (docs/DEFAULT_MODEL.md, the forty-second
round). Inference only: the same trained weights score every variant.

    EMOEDGE_DATA=... python scripts/tail_window_rows.py OUT.json.gz RUN... \\
        [--kept-cards PATTERN]

Each RUN is a finished run of one fold and one seed whose directory name
ends in ``_fFOLD_sSEED`` (as ``scripts/screen_seeds.sh`` names them, e.g.
``control_f3_s0``). PATTERN names the kept card each run's shipped-window
labels must repeat, with ``{fold}`` and ``{seed}`` in it; the output counts
the clips where they differ, which is 0 only if the run is the one the
card came from. Rows from several OUT files pool per seed in
``scripts/tail_window_summary.py``, so a round's folds can be scored in
different sessions and kept in the repository between them.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import re

import numpy as np

from emoedge.train.card_compare import read_card, write_card
from emoedge.train.dataset import evaluation_windows

KEPT_CARDS = "docs/runs/val_by_corpus/cards/float_control_fold{fold}_seed{seed}_avx512.card.json.gz"


def with_tail(features: np.ndarray, window_frames: int, hop_frames: int,
              padding: str) -> np.ndarray:
    """The shipped windows of one clip, plus a window ending at its last
    frame when the last shipped window ends before it.

    Args:
        features: (frames, channels) frontend features.
        window_frames, hop_frames: the run's window and hop, in frames.
        padding: the run's short-clip padding (a clip of one window or
            less is padded as shipped and gets no extra window).
    Returns:
        uint16 (windows, window_frames, channels).
    """
    windows = evaluation_windows(features, window_frames, hop_frames, padding)
    frames = len(features)
    if frames <= window_frames:
        return windows
    last_end = (len(windows) - 1) * hop_frames + window_frames
    if last_end == frames:
        return windows
    return np.concatenate([windows, features[None, -window_frames:]])


def quarter_hop(features: np.ndarray, window_frames: int, hop_frames: int,
                padding: str) -> np.ndarray:
    """The shipped window every quarter of the shipped hop (250 ms for the
    default model's 1 s)."""
    return evaluation_windows(features, window_frames, max(1, hop_frames // 4), padding)


VARIANTS = {"shipped": evaluation_windows, "tail": with_tail, "hop250": quarter_hop}


def tail_variants(trainer) -> dict:
    """The forty-second round's cuts, which need nothing of the run."""
    return VARIANTS


def fold_and_seed(run: str) -> tuple[int, int]:
    """(fold, seed) from a run directory named ``..._fFOLD_sSEED``."""
    found = re.search(r"_f(\d+)_s(\d+)$", str(run).rstrip("/"))
    if found is None:
        raise SystemExit(f"{run}: the run directory's name must end in _fFOLD_sSEED")
    return int(found[1]), int(found[2])


def predict_cut(trainer, model, clips: list, cut) -> np.ndarray:
    """Clip probabilities with each clip's windows cut by ``cut``, which may
    give different clips windows of different lengths: clips are scored in
    groups of one window length, each group by the run's weights in a graph
    of that length. Returns float64 (clips, labels)."""
    from emoedge.train.trainer import clip_outputs

    windows = [cut(clip.variants[0], trainer.window_frames, trainer.hop_frames, trainer.padding)
               for clip in clips]
    outputs = np.zeros((len(clips), len(trainer.labels)))
    for frames in sorted({w.shape[1] for w in windows}):
        group = [i for i, w in enumerate(windows) if w.shape[1] == frames]
        outputs[group] = clip_outputs(trainer.at_frames(model, frames), [windows[i] for i in group])
    return outputs


def run_rows(run: str, data_root: str | None, cache_dir: str | None,
             variants=tail_variants) -> tuple[list[str], list[dict]]:
    """The run's labels and one row per validation clip: path (as cards
    name it), corpus, true label and the label under each cut that
    ``variants(trainer)`` gives for the run's FoldTrainer (name -> cut,
    called as ``cut(features, window_frames, hop_frames, padding)``)."""
    from emoedge.train.evaluate import run_features
    from emoedge.train.model_card import relative_path
    from emoedge.train.trainer import FoldTrainer, open_finished_run

    finished = open_finished_run(run, data_root)
    labels = list(finished.recipe.output_names)
    features = run_features(finished, cache_dir, progress=False)
    (entry,) = finished.record["folds"]
    trainer = FoldTrainer(finished.recipe, labels, finished.directory / entry["directory"],
                          seed=entry["seed"], progress=False)
    _, model = trainer.load_saved_model()
    chosen = list(finished.splits[entry["split"]].val)
    clips = trainer.clip_features(chosen, features, with_variants=False)
    predicted = {name: predict_cut(trainer, model, clips, cut).argmax(axis=1)
                 for name, cut in variants(trainer).items()}
    rows = [{"path": relative_path(clip.path, data_root), "corpus": clip.corpus, "true": clip.label,
             **{name: labels[int(p[i])] for name, p in predicted.items()}}
            for i, clip in enumerate(chosen)]
    return labels, rows


def differences_from_card(rows: list[dict], card_path: pathlib.Path) -> int | None:
    """How many rows' shipped labels differ from the card's clean labels;
    None without the card. A clip the card lacks counts as a difference."""
    if not card_path.exists():
        return None
    card = read_card(card_path)
    kept = {row["path"]: row["clean"] for corpus in card["per_model"][0].values()
            for row in corpus["predictions"]}
    return sum(kept.get(row["path"]) != row["shipped"] for row in rows)


def main(argv: list[str] | None = None, variants=tail_variants,
         description: str = __doc__) -> None:
    parser = argparse.ArgumentParser(description=description.split("\n\n")[0])
    parser.add_argument("out", help="rows file to write (.json.gz)")
    parser.add_argument("runs", nargs="+", help="finished runs named ..._fFOLD_sSEED")
    parser.add_argument("--kept-cards", default=KEPT_CARDS,
                        help="the card each run must repeat, with {fold} and {seed}")
    args = parser.parse_args(argv)
    data_root, cache_dir = os.environ.get("EMOEDGE_DATA"), os.environ.get("EMOEDGE_CACHE")
    labels, runs = None, {}
    for run in args.runs:
        fold, seed = fold_and_seed(run)
        run_labels, rows = run_rows(run, data_root, cache_dir, variants)
        if labels not in (None, run_labels):
            raise SystemExit(f"{run} has labels {run_labels}, the first run {labels}")
        labels = run_labels
        card = pathlib.Path(args.kept_cards.format(fold=fold, seed=seed))
        differ = differences_from_card(rows, card)
        runs[f"f{fold}_s{seed}"] = {"run": str(run), "kept_card": str(card),
                                    "differ_from_kept_card": differ, "rows": rows}
        print(f"f{fold}_s{seed}: {len(rows)} clips, "
              + ("no kept card" if differ is None else f"{differ} differ from the kept card"),
              flush=True)
    # gzip with no timestamp, as cards are kept: a rescored file shows no diff
    write_card({"labels": labels, "runs": runs}, args.out)


if __name__ == "__main__":
    main()
