"""The numbers of a model card, measured through the device runtime.

Each model file names its own held-out speakers in its metadata
(``provenance.test_speakers``), so cross-validation fold models are scored on
exactly the speakers they never saw, per corpus, from the audio files, with
``EmotionModel.predict_file`` - the path ``emoedge score`` takes. Robustness
adds white noise at a given SNR (relative to the clip's own power) before the
frontend; level robustness scales the clip by -12 and +6 dB (saturating), a
stand-in for another microphone gain, since the default frontend has no gain
control; tilt robustness passes the clip through a first-order filter that
tips its spectrum by -6 or +6 dB from 0 Hz to 8 kHz (a duller or brighter
microphone) at an unchanged RMS level.

With ``--held-out val`` each fold model is scored on its fold's validation
speakers instead (from the ``split.json`` beside it): the per-corpus figures
two recipes are compared on, before either one's test speakers are read.

The float column and int8 agreement come from the float model's outputs
on the same clips: ``predictions.json`` beside a fold's file holds them
for its test speakers. For other clips (a final model trained on every
speaker, scored on them with ``--speaker``), ``--float-card`` reads them
from a float card of that one model's fold on the same clips
(``emoedge evaluate RUN --card DIR --held-out train``).

    python -m emoedge.train.model_card --data ../shared/data \\
        --source ravdess:RAVDESS --source tess:TESS --source emodb:EMO-DB \\
        --out docs/model_card runs/default_cv/split*_seed0/model_int8.tflite
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pathlib
import sys
import zlib
from collections import defaultdict
from typing import Sequence

import numpy as np

from emoedge.audio import float_to_pcm16

from .augment import fill_zeros, noise_gate
from .metrics import classification_report, mean_and_std

SNRS_DB = (20.0, 10.0, 0.0)
# Microphone level: the default frontend has no gain control (NR and PCAN off).
GAINS_DB = (-12.0, 6.0)
# Microphone colour: high-frequency level relative to low, 0 Hz to Nyquist.
TILTS_DB = (-6.0, 6.0)
# A noise gate (a voice app, a USB microphone, an editor's spliced silence):
# samples under this level, in dB below int16 full scale, become exact zeros,
# which the frontend sees as its floor whatever the gain.
GATES_DBFS = (-60.0,)
# The inverse: exact-zero samples lifted to +-1 (sign seed 0). RAVDESS's
# silences are digital zeros, which a live microphone never gives.
FILL_ZEROS_CONDITION = "fill-zeros"


def add_noise(pcm: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    """White Gaussian noise at ``snr_db`` below the clip's mean power, clipped to int16."""
    signal = pcm.astype(np.float64)
    power = np.mean(signal ** 2)
    noise = np.random.default_rng(seed).standard_normal(len(pcm)) * np.sqrt(power / 10 ** (snr_db / 10))
    return float_to_pcm16((signal + noise) / 32768.0)


def apply_gain(pcm: np.ndarray, gain_db: float) -> np.ndarray:
    """``pcm`` scaled by ``gain_db`` decibels, rounded and saturated to int16."""
    return float_to_pcm16(pcm.astype(np.float64) * 10 ** (gain_db / 20) / 32768.0)


def apply_tilt(pcm: np.ndarray, tilt_db: float) -> np.ndarray:
    """``pcm`` through y[n] = x[n] - a x[n-1], whose gain at Nyquist is
    ``tilt_db`` decibels above its gain at 0 Hz, rescaled to the clip's own
    RMS level, rounded and saturated to int16."""
    ratio = 10 ** (tilt_db / 20)
    a = (ratio - 1) / (ratio + 1)  # |H(Nyquist)| / |H(0)| = (1 + a) / (1 - a)
    signal = pcm.astype(np.float64)
    tilted = signal - a * np.concatenate([[0.0], signal[:-1]])
    rms_in, rms_out = np.sqrt(np.mean(signal ** 2)), np.sqrt(np.mean(tilted ** 2))
    if rms_out > 0:
        tilted *= rms_in / rms_out
    return float_to_pcm16(tilted / 32768.0)


def gate_condition(gate_dbfs: float) -> str:
    """A card's name for input through a noise gate at ``gate_dbfs``
    (e.g. "gate-60"), the same in int8 and float cards."""
    return f"gate{gate_dbfs:+g}"


def held_out_clips(model, clips, speakers: Sequence[str] | None, limit: int | None):
    """Clips of the model's labels whose speaker the model never trained on."""
    test = set(speakers if speakers else model.metadata.provenance.get("test_speakers", ()))
    if not test:
        raise ValueError(f"{model.path}: its metadata names no test speakers; pass --speaker")
    chosen = [c for c in clips if c.speaker in test and c.label in model.labels]
    if limit:
        per_corpus = defaultdict(list)
        for clip in chosen:
            per_corpus[clip.corpus].append(clip)
        chosen = [c for group in per_corpus.values() for c in group[:limit]]
    return chosen


def split_speakers(model_path: str | os.PathLike, part: str) -> list[str]:
    """The speakers of one part ("val", "test") of the split recorded in the
    ``split.json`` beside a fold's model file (``RUN/splitK_seedS/``)."""
    split_file = pathlib.Path(model_path).parent / "split.json"
    if not split_file.is_file():
        raise ValueError(f"{model_path}: no split.json beside it; --held-out {part} scores "
                         "fold models inside their run folder")
    try:
        speakers = json.loads(split_file.read_text())["parts"].get(part, {}).get("speakers", [])
    except (json.JSONDecodeError, KeyError, AttributeError):
        raise ValueError(f"{split_file}: not a split record written by emoedge train") from None
    if not speakers:
        raise ValueError(f"{split_file}: the fold has no {part} speakers "
                         "(a run trained with val_fraction = 0 has no validation speakers)")
    return speakers


def perturbations(snrs: Sequence[float], gains: Sequence[float], tilts: Sequence[float],
                  gates: Sequence[float], fill: bool):
    """Card condition name -> function of (int16 pcm, relative clip path)
    giving the perturbed pcm, in the card's column order. Noise is seeded by
    the clip's path, so any subset of clips re-draws the same noise."""
    return {
        **{f"snr{snr:g}": lambda pcm, path, snr=snr: add_noise(
            pcm, snr, seed=zlib.crc32(f"{path}@{snr:g}".encode())) for snr in snrs},
        **{f"gain{gain:+g}": lambda pcm, path, gain=gain: apply_gain(pcm, gain) for gain in gains},
        **{f"tilt{tilt:+g}": lambda pcm, path, tilt=tilt: apply_tilt(pcm, tilt) for tilt in tilts},
        **{gate_condition(gate): lambda pcm, path, gate=gate: noise_gate(pcm, gate)
           for gate in gates},
        **({FILL_ZEROS_CONDITION: lambda pcm, path: fill_zeros(pcm, seed=0)} if fill else {}),
    }


def score_model(model, clips, *, snrs: Sequence[float] = SNRS_DB,
                gains: Sequence[float] = GAINS_DB, tilts: Sequence[float] = TILTS_DB,
                gates: Sequence[float] = GATES_DBFS, fill: bool = True,
                data_root: str = "", progress: bool = False) -> dict:
    """Per-corpus metrics of one model: clean, at each SNR, gain, tilt and
    noise gate, and with ``fill`` its exact zeros lifted to +-1.

    Each corpus entry also lists its clips (path relative to ``data_root``,
    true label, and the predicted label per condition), so a card's numbers
    can be traced to, and re-checked against, single files.
    """
    from tqdm import tqdm

    from emoedge.audio import read_pcm

    labels = list(model.labels)
    changes = perturbations(snrs, gains, tilts, gates, fill)
    conditions = ("clean", *changes)
    rows = defaultdict(list)
    for clip in tqdm(clips, desc="clips", unit="clip", disable=not progress):
        path = relative_path(clip.path, data_root)
        predicted = {"clean": model.predict_file(clip.path).label}
        pcm = read_pcm(clip.path, model.sample_rate_hz)[1]
        for condition, perturb in changes.items():
            predicted[condition] = model.predict(perturb(pcm, path), model.sample_rate_hz).label
        rows[clip.corpus].append({"path": path, "true": clip.label, **predicted})
    return corpus_entries(rows, labels, conditions)


def relative_path(path: str, data_root: str) -> str:
    """``path`` relative to ``data_root`` (unchanged without a root), with
    forward slashes: how a card names a clip."""
    return pathlib.Path(os.path.relpath(path, data_root) if data_root else path).as_posix()


def corpus_entries(rows: dict[str, list[dict]], labels: Sequence[str],
                   conditions: Sequence[str]) -> dict:
    """A card's per-corpus entries from its prediction rows.

    Args:
        rows: corpus -> one dict per clip: "path", "true" label and the
            predicted label under each of ``conditions``.
        labels: the model's labels, in output order.
        conditions: "clean" first, then any perturbation names.
    Returns:
        corpus -> clip count, labels present, UA/WA/macro-F1 per condition,
        the clean confusion matrix and the rows themselves.
    """
    labels = list(labels)
    result = {}
    for corpus, records in rows.items():
        truth = [labels.index(r["true"]) for r in records]
        result[corpus] = {"clips": len(records),
                          "labels_present": [labels[i] for i in sorted(set(truth))]}
        for condition in conditions:
            report = classification_report(
                truth, [labels.index(r[condition]) for r in records], labels)
            result[corpus][condition] = _headline(report)
            if condition == "clean":
                result[corpus]["confusion"] = report.confusion.tolist()
        result[corpus]["predictions"] = records
    return result


def fold_float_labels(model_path: str, labels) -> dict[str, str]:
    """The float model's label per clip (real path) from ``predictions.json``
    in the model file's training fold directory: its test clips; empty when
    there is none."""
    predictions = pathlib.Path(model_path).with_name("predictions.json")
    if not predictions.exists():
        return {}
    return {os.path.realpath(row["clip"]): labels[int(np.argmax(row["output"]))]
            for row in json.loads(predictions.read_text())}


def card_float_labels(card_path: str, data_root: str) -> dict[str, str]:
    """The label per clip (real path) of a float card of one model
    (``emoedge evaluate RUN --card DIR``, one fold).

    Raises:
        ValueError: the card is unreadable or holds more than one model, whose
            labels for one clip could differ.
    """
    from .card_compare import read_card

    try:
        card = read_card(card_path)
    except (OSError, ValueError, KeyError) as error:
        raise ValueError(f"--float-card {card_path}: not a readable card ({error})") from error
    if len(card.get("per_model", [])) != 1:
        raise ValueError(f"--float-card {card_path} holds {len(card.get('per_model', []))} "
                         "models; give the card of one fold (emoedge evaluate --seed S on a "
                         "one-fold run)")
    root = card.get("data_root") or data_root  # its paths are relative to its own root
    return {os.path.realpath(os.path.join(root, row["path"])): row["clean"]
            for entry in card["per_model"][0].values() for row in entry["predictions"]}


def add_float_reference(result: dict, float_labels: dict[str, str], data_root: str, labels, *,
                        required: bool = False) -> None:
    """Add the float model's clean UA and the int8 model's argmax agreement
    with it, per corpus, from ``float_labels`` (real clip path -> the float
    model's label). A corpus with clips the float labels lack gets neither,
    or, when ``required``, raises ValueError."""
    for corpus, entry in result.items():
        rows = entry["predictions"]
        floats = [float_labels.get(os.path.realpath(os.path.join(data_root, r["path"])))
                  for r in rows]
        if None in floats:
            if required:
                raise ValueError(f"the float card has no label for {floats.count(None)} of the "
                                 f"{len(rows)} {corpus} clips scored: score the same speakers")
            continue  # not the fold's own test clips: no float reference
        report = classification_report([labels.index(r["true"]) for r in rows],
                                        [labels.index(f) for f in floats], labels)
        entry["float"] = _headline(report)
        entry["agreement_with_float"] = float(np.mean([f == r["clean"] for f, r in zip(floats, rows)]))


def _headline(report) -> dict:
    return {"ua": report.ua, "wa": report.wa, "macro_f1": report.macro_f1}


def combine(per_model: list[dict]) -> dict:
    """Mean ± std over models (folds) of each corpus and condition."""
    summary: dict = {}
    corpora = sorted({c for m in per_model for c in m})
    for corpus in corpora:
        present = [m[corpus] for m in per_model if corpus in m]
        entry = {"folds": len(present), "clips": sum(p["clips"] for p in present)}
        for condition in [k for k in present[0]
                          if isinstance(present[0][k], dict) and all(k in p for p in present)]:
            entry[condition] = {metric: dict(zip(("mean", "std"), mean_and_std(
                [p[condition][metric] for p in present]))) for metric in ("ua", "wa", "macro_f1")}
        entry["confusion"] = np.sum([p["confusion"] for p in present], axis=0).tolist()
        agreements = [p["agreement_with_float"] for p in present if "agreement_with_float" in p]
        if len(agreements) == len(present):
            entry["agreement_with_float"] = dict(zip(("mean", "std"), mean_and_std(agreements)))
        summary[corpus] = entry
    return summary


def plot_robustness(summary: dict, path: pathlib.Path) -> None:
    """UA per corpus against added noise (clean, then falling SNR), with the
    spread over folds as error bars."""
    from .report import _pyplot, save_figure

    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(5.5, 3.6))
    for corpus, entry in summary.items():
        conditions = ["clean", *sorted((k for k in entry if k.startswith("snr")),
                                       key=lambda k: -float(k[3:]))]
        means = [100 * entry[k]["ua"]["mean"] for k in conditions]
        spreads = [100 * entry[k]["ua"]["std"] for k in conditions]
        names = ["clean", *(f"{k[3:]} dB" for k in conditions[1:])]
        axis.errorbar(names, means, yerr=spreads, marker="o", capsize=3, label=corpus)
    axis.set(xlabel="white noise, SNR", ylabel="UA (%)", ylim=(0, 100),
             title="held-out speakers, mean ± std over folds")
    axis.legend()
    save_figure(figure, path, dpi=110)


def markdown_table(summary: dict) -> str:
    """Per corpus: clips, folds, then UA (mean ± std over folds) clean, WA
    and macro-F1, the float model's UA and the int8 agreement with it (when
    known), and UA at each SNR, gain, tilt and noise gate, and with exact
    zeros filled. Percent."""
    entry = next(iter(summary.values()), {})
    robustness = {key: f"UA at {key[len(prefix):]} {unit}"
                  for prefix, unit in (("snr", "dB SNR"), ("gain", "dB gain"), ("tilt", "dB tilt"),
                                       ("gate", "dBFS gate"))
                  for key in entry if key.startswith(prefix)}
    if FILL_ZEROS_CONDITION in entry:
        robustness[FILL_ZEROS_CONDITION] = "UA with exact zeros filled"
    has_float = all("float" in e for e in summary.values())
    header = ["corpus", "held-out clips", "folds", "UA", "WA", "macro-F1",
              *(["float UA", "int8 agreement with float"] if has_float else []),
              *robustness.values()]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]

    def cell(entry, condition, metric="ua"):
        value = entry[condition][metric]
        return f"{100 * value['mean']:.1f} ± {100 * value['std']:.1f}"

    for corpus, entry in summary.items():
        cells = [corpus, str(entry["clips"]), str(entry["folds"]), cell(entry, "clean"),
                 cell(entry, "clean", "wa"), cell(entry, "clean", "macro_f1")]
        if has_float:
            agreement = entry["agreement_with_float"]
            cells += [cell(entry, "float"),
                      f"{100 * agreement['mean']:.1f} ± {100 * agreement['std']:.1f}"]
        cells += [cell(entry, key) for key in robustness]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="model files (fold models of one recipe)")
    parser.add_argument("--data", required=True, help="corpus root")
    parser.add_argument("--source", action="append", required=True, help="kind:path, relative to --data")
    chosen_speakers = parser.add_mutually_exclusive_group()
    chosen_speakers.add_argument("--speaker", action="append", help="override the test speakers")
    chosen_speakers.add_argument(
        "--held-out", choices=("test", "val"), default="test",
        help="test: each model's test speakers (its metadata); val: the validation speakers "
             "of its fold (split.json beside it), to compare recipes without reading test")
    parser.add_argument("--float-card", help="float card (card.json of emoedge evaluate --card) "
                        "of the one model's fold on the same clips: float UA and int8 agreement "
                        "where predictions.json beside the model lacks them")
    parser.add_argument("--limit", type=int, help="at most this many clips per corpus (smoke test)")
    parser.add_argument("--out", required=True, help="folder for card.json, card.md, confusion and robustness PNGs")
    return parser


def _score_models(args, clips) -> tuple[list[dict], list, Sequence[str]]:
    """Each model of ``args.models`` scored on its held-out clips: the
    per-model results, the machine each was trained on, and the labels.

    Raises:
        ValueError: a model's held-out speakers cannot be found.
    """
    import emoedge

    per_model, trained_on, labels = [], [], ()
    card_labels = None
    if args.float_card:  # read before the long scoring, so a bad card fails at once
        if len(args.models) != 1:
            raise ValueError(f"--float-card is the float reference of one model; "
                             f"{len(args.models)} were given")
        card_labels = card_float_labels(args.float_card, args.data)
    for path in args.models:
        model = emoedge.load_model(path, num_threads=1)
        labels = model.labels
        trained_on.append(model.metadata.provenance.get("trained_on"))
        speakers = split_speakers(path, "val") if args.held_out == "val" else args.speaker
        chosen = held_out_clips(model, clips, speakers, args.limit)
        print(f"{path}: {len(chosen)} held-out clips", file=sys.stderr)
        result = score_model(model, chosen, data_root=args.data, progress=True)
        floats = fold_float_labels(path, list(labels)) if card_labels is None else card_labels
        add_float_reference(result, floats, args.data, list(labels),
                            required=card_labels is not None)
        per_model.append(result)
    return per_model, trained_on, labels


def _write_card(args, out: pathlib.Path, per_model: list[dict], trained_on: list,
                labels: Sequence[str]) -> str:
    """Write card.json, card.md and the plots into ``out``; returns card.md's text."""
    from .card_compare import write_card
    from .report import plot_confusion

    summary = combine(per_model)
    for corpus, entry in summary.items():
        plot_confusion(np.asarray(entry["confusion"]), labels, out / f"confusion_{corpus}.png")
    plot_robustness(summary, out / "robustness.png")
    models = [{"path": path, "sha256": hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest(),
               "trained_on": machine} for path, machine in zip(args.models, trained_on)]
    held_out = ("the speakers given by --speaker" if args.speaker
                else f"each model's {args.held_out} speakers")
    write_card({"models": models, "held_out": held_out, "per_model": per_model,
                "summary": summary}, out / "card.json")
    table = f"Scored on {held_out}.\n\n" + markdown_table(summary)
    (out / "card.md").write_text(table)
    return table


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)

    from .corpora import load_sources
    from .recipe import resolve_sources

    clips = load_sources(resolve_sources(args.source, args.data))
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        per_model, trained_on, labels = _score_models(args, clips)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(_write_card(args, out, per_model, trained_on, labels), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
