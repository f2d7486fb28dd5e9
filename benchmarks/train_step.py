"""Time one training step of a model at several widths, with and without the
channel rounding of ``emoedge.train.models`` (multiples of ``CHANNEL_MULTIPLE``).

All variants are built in one process and timed interleaved, repeat by
repeat, so a neighbour on the machine slows them alike and the ratios to
the first variant compare like with like. Figures are milliseconds of
wall-clock time per ``train_on_batch`` call (forward, backward, Adam update).

    python benchmarks/train_step.py [--architecture cnn2d] [--widths 1.0 1.2]
                                    [--batch 64] [--repeats 4] [--steps 3]
                                    [--quick] [--json OUT]

The unrounded variants scale each channel count by the width and round to
the nearest integer (``CHANNEL_MULTIPLE`` set to 1 while they are built), as
``models._width`` did before the rounding, for every width whose smallest
layer keeps at least 4 channels.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from common import base_machine_info, command_line, git_state, package_version  # noqa: E402

FRAMES, CHANNELS, OUTPUTS = 300, 40, 8   # the default model's window and labels


@contextlib.contextmanager
def unrounded_widths():
    """Build models with each channel count scaled and rounded to an integer
    only: ``models._width`` with a channel multiple of 1."""
    from emoedge.train import models

    multiple = models.CHANNEL_MULTIPLE
    models.CHANNEL_MULTIPLE = 1
    try:
        yield
    finally:
        models.CHANNEL_MULTIPLE = multiple


def build(architecture: str, width: float, frames: int, *, rounded: bool):
    """A compiled tf_keras model (Adam, cross-entropy on logits) and its conv filter counts."""
    import tf_keras as keras

    from emoedge.train.models import ModelSpec, build_model

    spec = ModelSpec(architecture=architecture, frames=frames, channels=CHANNELS,
                     outputs=OUTPUTS, width=width, input_norm="window-mean",
                     feature_mean=400.0, feature_std=150.0)
    with contextlib.nullcontext() if rounded else unrounded_widths():
        model = build_model(spec)
    model.compile(optimizer="adam",
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    filters = [layer.filters for layer in model.layers if hasattr(layer, "filters")]
    return model, filters


def measure(args) -> dict:
    frames = 30 if args.quick else FRAMES
    rng = np.random.default_rng(0)
    x = rng.normal(400, 150, (args.batch, frames, CHANNELS, 1)).astype(np.float32)
    y = np.arange(args.batch) % OUTPUTS
    variants = {}
    for width in args.widths:
        for rounded in (False, True):
            name = f"width {width}" + (", rounded" if rounded else "")
            model, filters = build(args.architecture, width, frames, rounded=rounded)
            if any(v["filters"] == filters for v in variants.values()):
                continue  # rounding changed nothing at this width
            model.train_on_batch(x, y)  # graph tracing and first allocations, untimed
            variants[name] = {"model": model, "filters": filters, "seconds": []}
    for _ in range(args.repeats):
        for variant in variants.values():
            start = time.perf_counter()
            for _ in range(args.steps):
                variant["model"].train_on_batch(x, y)
            variant["seconds"].append((time.perf_counter() - start) / args.steps)
    first = statistics.median(next(iter(variants.values()))["seconds"])
    rows = [{"name": name, "filters": v["filters"], "params": int(v["model"].count_params()),
             "median_ms": 1000 * statistics.median(v["seconds"]),
             "ratio_to_first": statistics.median(v["seconds"]) / first}
            for name, v in variants.items()]
    return {"rows": rows, "batch": args.batch, "frames": frames, "channels": CHANNELS,
            "architecture": args.architecture, "repeats": args.repeats, "steps": args.steps,
            "machine": {**base_machine_info(), "tensorflow": package_version("tensorflow")},
            "code": git_state(), "command": command_line(None)}


def format_table(report: dict) -> str:
    lines = ["| variant | conv filters | parameters | ms per step | ratio |", "|---|---|---|---|---|"]
    lines += [f"| {r['name']} | {'/'.join(map(str, r['filters']))} | {r['params']:,} "
              f"| {r['median_ms']:.0f} | {r['ratio_to_first']:.2f} |" for r in report["rows"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--architecture", default="cnn2d")
    parser.add_argument("--widths", type=float, nargs="+", default=[1.0, 1.2])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--steps", type=int, default=3, help="train steps per timed repeat")
    parser.add_argument("--quick", action="store_true",
                        help="30-frame windows, 1 repeat of 1 step: a smoke run, not a figure")
    parser.add_argument("--json", help="also write the report here")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.steps = 1, 1
    report = measure(args)
    print(format_table(report))
    print(f"batch {report['batch']} of {report['frames']} x {report['channels']} features; "
          f"median of {report['repeats']} repeats of {report['steps']} steps; "
          f"{report['machine']['cpu_model']}, {report['machine']['usable_cores']} cores")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
