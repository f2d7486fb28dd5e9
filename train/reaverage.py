"""A copy of a finished run whose fold models hold another average of the
same training: the exponential average at another decay, or the plain mean
of the last epochs, read from the weights that ``emoedge train
--keep-epoch-weights`` kept (:mod:`.epoch_weights`).

The copy is scored like any run, so the two sides of the comparison differ
in the averaging alone::

    python -m emoedge.train.reaverage RUN COPY --decay 0.95 [--epoch last]
    python -m emoedge.train.reaverage RUN COPY --mean-of-last 20
    emoedge evaluate COPY --held-out val --seed 0 --card CARD_DIR

``--epoch last`` (the default) is what a refit ships: it has no validation
speakers to choose an epoch. ``--epoch best`` takes the epoch the run chose
on its validation speakers with its own averaging, and with the run's own
decay it must give back the run's ``model.weights.h5`` exactly (a check that
the kept weights are the ones that trained).

An average of weights from different epochs does not hold the average of
their BatchNorm statistics: with ``--recompute-batch-norm`` each BatchNorm
layer's moving mean and variance are set again from the averaged model's own
batch statistics over one epoch of training batches (as stochastic weight
averaging does), the last epoch's batches, drawn as training drew them.

Each fold of the copy says what it holds in ``reaveraged.json``. The copy
drops what would describe the original weights instead: the exported int8
models, the kept epochs and the TensorBoard logs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import shutil
import sys
from typing import Sequence

from .epoch_weights import DIRECTORY, exponential_average, mean_of_last

LEFT_BEHIND = (DIRECTORY, "tensorboard", "*.tflite", "epoch_state.npz")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Averaging:
    """Which average a fold model of the copy holds.

    Attributes:
        decay_per_epoch: the exponential average at this decay, or None.
        mean_of_last_epochs: the plain mean of this many epochs, or None.
        epoch: "last", "best" (the run's chosen epoch) or an epoch number
            (0-based): the epoch the average ends with.
    """

    decay_per_epoch: float | None = None
    mean_of_last_epochs: int | None = None
    epoch: str | int = "last"

    def __post_init__(self) -> None:
        if (self.decay_per_epoch is None) == (self.mean_of_last_epochs is None):
            raise ValueError("give exactly one of a decay and a count of last epochs to average")

    def weights(self, fold_dir: pathlib.Path) -> tuple[list, int]:
        """The fold's averaged weights and the epoch the average ends with."""
        last = _ending_epoch(fold_dir, self.epoch)
        if self.decay_per_epoch is not None:
            return exponential_average(fold_dir, decay_per_epoch=self.decay_per_epoch,
                                       last_epoch=last), last
        return mean_of_last(fold_dir, epochs=self.mean_of_last_epochs, last_epoch=last), last


def _ending_epoch(fold_dir: pathlib.Path, epoch: str | int) -> int:
    trained = len(json.loads((fold_dir / "history.json").read_text()))
    if epoch == "last":
        return trained - 1
    if epoch == "best":
        return int(json.loads((fold_dir / "best.json").read_text())["epoch"])
    if not 0 <= int(epoch) < trained:
        raise ValueError(f"{fold_dir.name} trained epochs 0-{trained - 1}; there is no epoch {epoch}")
    return int(epoch)


def reaverage_run(run_dir: str | pathlib.Path, copy_dir: str | pathlib.Path,
                  averaging: Averaging, *, recompute_batch_norm: bool = False,
                  data_root: str | None = None, cache_dir: str | None = None) -> list[dict]:
    """Write ``copy_dir``: ``run_dir`` with each fold's ``model.weights.h5``
    replaced by ``averaging`` of its kept epochs, with the BatchNorm
    statistics recomputed if asked (which reads the run's data: ``data_root``
    or the one it trained on). Returns each fold's ``reaveraged.json`` record.

    Raises:
        ValueError: no finished fold in ``run_dir``, ``copy_dir`` exists, or
            batch norm is to be recomputed for a speaker-shifted run.
        FileNotFoundError: an epoch's weights were not kept.
    """
    run, copy = pathlib.Path(run_dir), pathlib.Path(copy_dir)
    folds = json.loads((run / "run.json").read_text()).get("folds") if (run / "run.json").exists() else None
    if not folds:
        raise ValueError(f"{run} is not a finished run (its run.json lists no folds)")
    if copy.exists():
        raise ValueError(f"{copy} exists; give a new directory for the copy")
    batches = _TrainingBatches(run, data_root, cache_dir) if recompute_batch_norm else None
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns(*LEFT_BEHIND))
    try:
        return [_reaverage_fold(run / f["directory"], copy / f["directory"], f, averaging, batches)
                for f in folds]
    except BaseException:
        shutil.rmtree(copy)  # a half-written copy would score the original's weights
        raise


def _reaverage_fold(source: pathlib.Path, target: pathlib.Path, fold: dict, averaging: Averaging,
                    batches: _TrainingBatches | None) -> dict:
    """Write one fold of the copy; returns its ``reaveraged.json`` record."""
    from .models import build_model
    from .trainer import fold_spec

    weights, last = averaging.weights(source)
    spec = fold_spec(source)
    if batches is not None:
        weights = batches.recomputed(fold, spec, weights, last)
    model = build_model(spec)
    model.set_weights(weights)
    model.save_weights(str(target / "model.weights.h5"))
    record = {"from": str(source), "ends_with_epoch": last,
              **{k: v for k, v in dataclasses.asdict(averaging).items() if v is not None}}
    if batches is not None:
        record["batch_norm"] = f"recomputed over epoch {last}'s training batches"
    (target / "reaveraged.json").write_text(json.dumps(record, indent=1) + "\n")
    return record


class _TrainingBatches:
    """A finished run's training batches, to recompute BatchNorm statistics."""

    def __init__(self, run: pathlib.Path, data_root: str | None, cache_dir: str | None) -> None:
        from .models import SPEAKER_SHIFTED_NORMS
        from .trainer import open_finished_run

        self.finished = open_finished_run(run, data_root)
        if self.finished.recipe.model.input_norm in SPEAKER_SHIFTED_NORMS:
            raise ValueError("recomputing batch norm is not supported for speaker-shifted runs "
                             f"(input_norm = {self.finished.recipe.model.input_norm!r})")
        self.features = self.finished.training_features(cache_dir, progress=False)

    def recomputed(self, fold: dict, spec, weights: list, epoch: int) -> list:
        """``weights`` with every BatchNorm layer's moving statistics set to
        the mean of its batch statistics over epoch ``epoch``'s batches."""
        from .models import build_model
        from .trainer import FoldTrainer

        recipe = self.finished.recipe
        trainer = FoldTrainer(recipe, recipe.output_names, self.finished.directory / fold["directory"],
                              seed=fold["seed"], progress=False)
        train = trainer.clip_features(self.finished.splits[fold["split"]].train, self.features,
                                      with_variants=True)
        model = build_model(dataclasses.replace(spec, frames=trainer.train_frames))
        model.set_weights(weights)
        recompute_batch_norm(model, (x for x, _, _ in trainer.epoch_batches(train, epoch)))
        return model.get_weights()


def recompute_batch_norm(model, batches) -> int:
    """Set each BatchNormalization layer's moving mean and variance to the
    plain mean, over ``batches`` (model inputs), of the batch statistics the
    layer computes in training mode. Returns how many batches were seen.

    Each batch's update blends by momentum k / (k + 1) for the k-th batch
    (from 0), which makes the moving value the running mean of the batch
    values. Dropout is on in training mode too; in the models here it comes
    after the last BatchNorm layer, so it changes no statistic.
    """
    import tf_keras as keras

    layers = [layer for layer in model.layers
              if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in layers]
    count = 0
    try:
        for x in batches:
            for layer in layers:
                layer.momentum = count / (count + 1)
            model(x, training=True)
            count += 1
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    if count == 0:
        raise ValueError("no training batch to recompute batch norm from")
    return count


def _epoch(text: str) -> str | int:
    return text if text in ("last", "best") else int(text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="a finished run trained with --keep-epoch-weights")
    parser.add_argument("copy", help="the run directory to write (must not exist)")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--decay", type=float, help="exponential average at this decay per epoch")
    which.add_argument("--mean-of-last", type=int, help="plain mean of this many last epochs")
    parser.add_argument("--epoch", type=_epoch, default="last",
                        help="the epoch the average ends with: last (default), best, or a number")
    parser.add_argument("--recompute-batch-norm", action="store_true",
                        help="set BatchNorm statistics again from the averaged model over "
                             "that epoch's training batches (reads the data)")
    parser.add_argument("--data", help="corpus root (default: the one the run trained on)")
    parser.add_argument("--cache", help="feature cache folder")
    args = parser.parse_args(argv)
    try:
        averaging = Averaging(decay_per_epoch=args.decay, mean_of_last_epochs=args.mean_of_last,
                              epoch=args.epoch)
        records = reaverage_run(args.run, args.copy, averaging,
                                recompute_batch_norm=args.recompute_batch_norm,
                                data_root=args.data, cache_dir=args.cache)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for record in records:
        print(f"{record['from']}: averaged up to epoch {record['ends_with_epoch']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
