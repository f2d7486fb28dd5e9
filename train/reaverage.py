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
                  averaging: Averaging) -> list[dict]:
    """Write ``copy_dir``: ``run_dir`` with each fold's ``model.weights.h5``
    replaced by ``averaging`` of its kept epochs. Returns each fold's
    ``reaveraged.json`` record.

    Raises:
        ValueError: no finished fold in ``run_dir``, or ``copy_dir`` exists.
        FileNotFoundError: an epoch's weights were not kept.
    """
    from .models import ModelSpec, build_model

    run, copy = pathlib.Path(run_dir), pathlib.Path(copy_dir)
    folds = json.loads((run / "run.json").read_text()).get("folds") if (run / "run.json").exists() else None
    if not folds:
        raise ValueError(f"{run} is not a finished run (its run.json lists no folds)")
    if copy.exists():
        raise ValueError(f"{copy} exists; give a new directory for the copy")
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns(*LEFT_BEHIND))
    records = []
    for fold in folds:
        source, target = run / fold["directory"], copy / fold["directory"]
        weights, last = averaging.weights(source)
        model = build_model(ModelSpec(**json.loads((source / "spec.json").read_text())))
        model.set_weights(weights)
        model.save_weights(str(target / "model.weights.h5"))
        record = {"from": str(source), "ends_with_epoch": last,
                  **{k: v for k, v in dataclasses.asdict(averaging).items() if v is not None}}
        (target / "reaveraged.json").write_text(json.dumps(record, indent=1) + "\n")
        records.append(record)
    return records


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
    args = parser.parse_args(argv)
    try:
        averaging = Averaging(decay_per_epoch=args.decay, mean_of_last_epochs=args.mean_of_last,
                              epoch=args.epoch)
        records = reaverage_run(args.run, args.copy, averaging)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for record in records:
        print(f"{record['from']}: averaged up to epoch {record['ends_with_epoch']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
