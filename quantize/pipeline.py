"""``emoedge quantize RUN_DIR``: from a trained run to checked device models.

For each fold of the run: the float Keras model, its float32 ``.tflite``,
full-int8 post-training quantization, optionally pruning to a sparsity then
int8, and optionally quantization-aware training (prune-preserving after
pruning) then int8. Every variant is evaluated on the fold's held-out
speakers (test, to report; or validation, to choose a variant without
looking at test speakers) through the edge runtime's model and decision
layers (not TensorFlow), every int8 file is audited for float tensors, and
all files are written atomically with their metadata, including
quantization provenance.
"""

from __future__ import annotations

import dataclasses
import pathlib
import time

import numpy as np

VARIANTS = ("float_keras", "float_tflite", "int8", "pruned_int8", "qat_int8")
EVALUATION_PARTS = ("test", "val")


@dataclasses.dataclass(frozen=True, kw_only=True)
class QuantizeOptions:
    run_dir: str
    data_root: str | None = None
    cache_dir: str | None = None
    sparsity: float | None = None
    qat: bool = False
    finetune_epochs: int = 3
    folds: tuple[str, ...] = ()  # fold directory names; () = every fold
    allow_float: bool = False
    evaluate_on: str = "test"  # one of EVALUATION_PARTS
    progress: bool = True

    def __post_init__(self):
        if self.evaluate_on not in EVALUATION_PARTS:
            raise ValueError(f"evaluate_on must be one of {', '.join(EVALUATION_PARTS)}, "
                             f"got {self.evaluate_on!r}")


class QuantizeError(RuntimeError):
    """A step that cannot go on (e.g. float ops in an int8 model); one line."""


_OTHER_PART = {"test": "val", "val": "test"}


def quantize_run(options: QuantizeOptions) -> dict:
    """Run every requested variant on every requested fold; write the table."""
    from emoedge.train.trainer import open_finished_run, write_json

    from emoedge.train.export import check_exportable

    finished = open_finished_run(options.run_dir, options.data_root)
    run, recipe, splits = finished.directory, finished.recipe, finished.splits
    check_exportable(recipe)
    features = finished.training_features(options.cache_dir, progress=options.progress)
    folds = [f for f in finished.record["folds"]
             if not options.folds or f["directory"] in options.folds]
    if not folds:
        raise QuantizeError(f"no fold of {run} matches {list(options.folds)}")
    for fold in folds:
        if not splits[fold["split"]].parts()[options.evaluate_on]:
            raise QuantizeError(f"{fold['directory']} has no {options.evaluate_on} speakers "
                                f"(trained with data.{options.evaluate_on}_fraction = 0?), so "
                                "nothing to evaluate its variants on; "
                                f"--evaluate-on {_OTHER_PART[options.evaluate_on]} scores the "
                                "other held-out speakers, if it has them")
    out = run / "quantized"
    rows = []
    for fold in folds:
        rows += quantize_fold(recipe, run / fold["directory"], splits[fold["split"]], fold["seed"],
                              features, out / fold["directory"], options)
    table = summarise(rows)
    # A validation table must not overwrite the test table beside it.
    stem = "table" if options.evaluate_on == "test" else f"table-{options.evaluate_on}"
    write_json(out / f"{stem}.json", {"folds": [f["directory"] for f in folds],
                                      "evaluated_on": options.evaluate_on, "rows": rows,
                                      "summary": table})
    (out / f"{stem}.md").write_text(render_table(table, options))
    return table


def quantize_fold(recipe, fold_dir: pathlib.Path, split, seed: int, features: dict,
                  out: pathlib.Path, options: QuantizeOptions) -> list[dict]:
    from emoedge.train.trainer import FoldTrainer

    labels = recipe.output_names
    trainer = FoldTrainer(recipe, labels, fold_dir, seed=seed, progress=False)
    spec, model = trainer.load_saved_model()
    train = trainer.clip_features(split.train, features, with_variants=True)
    scored = trainer.clip_features(split.parts()[options.evaluate_on], features,
                                   with_variants=False)
    representative = trainer.representative(train)
    out.mkdir(parents=True, exist_ok=True)
    float_outputs = trainer.predict_clips(model, scored)
    rows = [_row("float_keras", fold_dir.name, trainer.score(scored, float_outputs),
                 float_outputs, float_outputs, size=None, sparsity=0.0)]

    batches = _finetune_batches(trainer, train, seed)
    steps = -(-len(train) // recipe.training.batch_size)
    loss = _loss(trainer)
    context = dict(recipe=recipe, labels=labels, trainer=trainer, scored=scored, split=split,
                   representative=representative, reference=float_outputs, out=out,
                   options=options, fold=fold_dir.name)
    rows.append(_export_float(model, spec, **context))
    rows.append(_export_int8("int8", model, spec, sparsity=0.0, method="post-training int8",
                             **context))
    source = model
    if options.sparsity:
        source, row = _pruned_row(model, spec, batches, steps, loss, context)
        rows.append(row)
    if options.qat:
        rows.append(_qat_row(source, spec, batches, steps, loss, context))
    return rows


def _finetune_batches(trainer, train, seed: int):
    """The fine-tuning batches of one epoch, as a function of the epoch: the
    training clips augmented as in training, under a seed of their own."""
    from emoedge.train.dataset import training_batches

    recipe = trainer.recipe

    def batches(epoch: int):
        for x, y, w in training_batches(train, window_frames=trainer.window_frames,
                                        batch_size=recipe.training.batch_size,
                                        augment=recipe.augment, seed=seed + 1000, epoch=epoch,
                                        regression=trainer.regression,
                                        padding=trainer.padding):
            yield x, trainer._encode(y), w

    return batches


def _pruned_row(model, spec, batches, steps, loss, context) -> tuple[object, dict]:
    """The model pruned to the options' sparsity with fine-tuning, and the row
    of its int8 export."""
    from .optimize import overall_sparsity, prune

    options = context["options"]
    pruned, per_layer, schedule = prune(model, batches, sparsity=options.sparsity,
                                        epochs=options.finetune_epochs, steps_per_epoch=steps,
                                        loss=loss)
    row = _export_int8("pruned_int8", pruned, spec, sparsity=overall_sparsity(pruned),
                       method=f"magnitude pruning to {options.sparsity:.2f} "
                              f"(polynomial decay, end step {schedule.end_step}, "
                              f"frequency {schedule.frequency}) + post-training int8",
                       per_layer=per_layer, **context)
    return pruned, row


def _qat_row(source, spec, batches, steps, loss, context) -> dict:
    """The QAT variant, or a row saying why it failed: one variant that cannot
    be made integer-only must not cost the other variants' results."""
    from .convert import ConversionError
    from .optimize import quantization_aware

    options = context["options"]
    try:
        qat_model = quantization_aware(source, batches, epochs=options.finetune_epochs,
                                       steps_per_epoch=steps, loss=loss,
                                       preserve_sparsity=bool(options.sparsity))
        method = ("prune-preserving quantization-aware training" if options.sparsity
                  else "quantization-aware training")
        return _export_int8("qat_int8", qat_model, spec, qat=True,
                            sparsity=_overall_qat(qat_model) if options.sparsity else 0.0,
                            method=method, **context)
    except (QuantizeError, ConversionError, ValueError, RuntimeError) as error:
        row = _row("qat_int8", context["fold"], {}, context["reference"], context["reference"],
                   size=None, sparsity=None)
        row.update(agreement_with_float=None, error=" ".join(str(error).split()))
        return row


def _loss(trainer):
    import tf_keras as keras

    if trainer.regression:
        return keras.losses.MeanSquaredError()
    return keras.losses.CategoricalCrossentropy(from_logits=True)


def _overall_qat(model) -> float:
    kernels = [w.numpy().ravel() for w in model.weights
               if w.name.endswith("kernel:0") and "depthwise" not in w.name]
    return float(np.mean(np.concatenate(kernels) == 0)) if kernels else 0.0


def _export_float(model, spec, *, recipe, labels, trainer, scored, split, representative,
                  reference, out, options, fold) -> dict:
    from emoedge.train.export import build_metadata
    from emoedge.train.models import with_batch_one

    from .convert import convert_float
    from .export import embed_metadata, write_model_atomically

    content = convert_float(with_batch_one(model, spec))
    provenance = _provenance(recipe, split, trainer, "float32 export", 0.0, 0)
    metadata = build_metadata(recipe, labels, content, provenance)
    content = embed_metadata(content, metadata)
    write_model_atomically(out / "model_float.tflite", content)
    return _evaluate_file("float_tflite", content, metadata, trainer, scored, reference, fold, 0.0)


def _export_int8(name, model, spec, *, sparsity, method, recipe, labels, trainer, scored, split,
                 representative, reference, out, options, fold, qat=False,
                 per_layer=None) -> dict:
    from emoedge.model_audit import audit_model
    from emoedge.train.export import build_metadata
    from emoedge.train.models import with_batch_one

    from .export import embed_metadata, write_model_atomically
    from .isolated import convert_int8_isolated

    if qat:
        from .optimize import with_batch_one as qat_with_batch_one

        graph = qat_with_batch_one(model)
    else:
        graph = with_batch_one(model, spec)
    content = convert_int8_isolated(graph, representative, qat=qat)
    audit = audit_model(content)
    if not audit.integer_only and not options.allow_float:
        raise QuantizeError(f"{name} of {fold} is not integer-only: "
                            f"{', '.join(audit.float_tensors[:3])} (pass --allow-float to keep it)")
    provenance = _provenance(recipe, split, trainer, method, sparsity, len(representative))
    if per_layer:
        provenance["quantization"]["sparsity_per_layer"] = per_layer
    metadata = build_metadata(recipe, labels, content, provenance)
    content = embed_metadata(content, metadata)
    write_model_atomically(out / f"model_{name}.tflite", content)
    row = _evaluate_file(name, content, metadata, trainer, scored, reference, fold, sparsity)
    row["integer_only"] = audit.integer_only
    return row


def _provenance(recipe, split, trainer, method: str, sparsity: float, representative: int) -> dict:
    from emoedge.train.machine import read_machine

    return {"data": list(recipe.data.sources), "split": split.name,
            "test_speakers": split.speakers()["test"], "seed": trainer.seed,
            "quantization": {"method": method, "sparsity": round(sparsity, 4),
                             "representative_windows": representative},
            "recipe": recipe.to_dict(), "trained_on": read_machine(trainer.directory)}


def _evaluate_file(name, content, metadata, trainer, scored, reference, fold, sparsity) -> dict:
    from emoedge.runner import ModelRunner
    from emoedge.train.export import runtime_clip_outputs

    outputs = runtime_clip_outputs(content, metadata, trainer, scored)
    runner = ModelRunner(content, metadata, num_threads=1)
    windows = [w for clip in scored[:20] for w in trainer.clip_windows(clip)][:50]
    runner(windows[0])  # warm-up
    timings = []
    for window in windows:
        started = time.perf_counter_ns()
        runner(window)
        timings.append((time.perf_counter_ns() - started) / 1e6)
    row = _row(name, fold, trainer.score(scored, outputs), outputs, reference,
               size=len(content), sparsity=sparsity)
    row["latency_ms_p50"] = float(np.median(timings))
    import gzip

    row["gzip_bytes"] = len(gzip.compress(content, compresslevel=9, mtime=0))
    return row


def _row(name, fold, metrics, outputs, reference, *, size, sparsity) -> dict:
    agreement = float(np.mean(outputs.argmax(axis=1) == reference.argmax(axis=1)))
    return {"variant": name, "fold": fold, "ua": metrics.get("ua"), "wa": metrics.get("wa"),
            "macro_f1": metrics.get("macro_f1"), "agreement_with_float": agreement,
            "size_bytes": size, "gzip_bytes": None, "sparsity": sparsity,
            "latency_ms_p50": None}


def summarise(rows: list[dict]) -> list[dict]:
    """Mean over folds of each variant's numbers."""
    table = []
    for variant in VARIANTS:
        mine = [r for r in rows if r["variant"] == variant]
        if not mine:
            continue
        entry = {"variant": variant, "folds": len(mine),
                 "errors": sorted({r["error"] for r in mine if r.get("error")})}
        for key in ("ua", "wa", "macro_f1", "agreement_with_float", "size_bytes", "gzip_bytes",
                    "sparsity", "latency_ms_p50"):
            values = [r[key] for r in mine if r.get(key) is not None]
            entry[key] = float(np.mean(values)) if values else None
            if key == "ua" and values:
                entry["ua_std"] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
        table.append(entry)
    return table


def render_table(table: list[dict], options: QuantizeOptions) -> str:
    part = {"test": "test", "val": "validation"}[options.evaluate_on]
    lines = ["# emoedge quantize", "",
             f"Every variant evaluated on each fold's {part} speakers through the edge "
             f"runtime; means over folds. Agreement = share of {part} clips whose label equals "
             "the float Keras model's. Latency = median per-window time of one interpreter "
             "call with its int8 bridge, 1 thread, on the machine that ran this.", "",
             "| variant | UA | WA | macro-F1 | agreement | size (bytes) | gzip (bytes) | sparsity | latency p50 (ms) |",
             "|---|---|---|---|---|---|---|---|---|"]

    def cell(value, spec="{:.4f}"):
        return "-" if value is None else spec.format(value)

    for row in table:
        ua = cell(row["ua"]) + (f" ± {row['ua_std']:.4f}" if row.get("ua_std") else "")
        lines.append(f"| {row['variant']} | {ua} | {cell(row['wa'])} | {cell(row['macro_f1'])} | "
                     f"{cell(row['agreement_with_float'], '{:.3f}')} | "
                     f"{cell(row['size_bytes'], '{:,.0f}')} | {cell(row['gzip_bytes'], '{:,.0f}')} | "
                     f"{cell(row['sparsity'], '{:.3f}')} | {cell(row['latency_ms_p50'], '{:.3f}')} |")
    failures = [(row["variant"], error) for row in table for error in row.get("errors", [])]
    if failures:
        lines += ["", "Failed variants:", ""]
        lines += [f"- {variant}: {error}" for variant, error in failures]
    return "\n".join(lines) + "\n"
