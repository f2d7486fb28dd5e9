"""The run report: one Markdown file a person can open, with PNG plots.

Plots: training curves per fold, the confusion matrix (summed over folds,
rows normalised to recall), and the worst-predicted test clips with their
feature spectrograms (lowest probability given to the true label).
"""

from __future__ import annotations

import pathlib
from typing import Sequence

import numpy as np

WORST_CLIPS = 6


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; no display on a server or Pi
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure, path, *, dpi: int = 100) -> None:
    """Lay ``figure`` out, write it to ``path`` and close it (pyplot keeps
    every figure it made until closed, so a loop of plots would grow)."""
    figure.tight_layout()
    figure.savefig(path, dpi=dpi)
    _pyplot().close(figure)


def plot_curves(results, path: pathlib.Path) -> None:
    plt = _pyplot()
    figure, (loss_axis, val_axis) = plt.subplots(1, 2, figsize=(11, 4))
    averaged = False
    for result in results:
        epochs = [h["epoch"] for h in result.history]
        label = f"{result.name} s{result.seed}"
        loss_axis.plot(epochs, [h["loss"] for h in result.history], label=label)
        if not any("val" in h for h in result.history):
            continue  # no validation speakers
        line, = val_axis.plot(epochs, [h["val"] for h in result.history], label=label)
        if all("val_raw" in h for h in result.history):
            # weight averaging on: "val" is the averaged weights', dashed the raw
            averaged = True
            val_axis.plot(epochs, [h["val_raw"] for h in result.history], linestyle="--",
                          linewidth=0.8, color=line.get_color())
    loss_axis.set(title="training loss", xlabel="epoch")
    val_axis.set(title="validation score (UA or mean CCC)"
                 + (";\naveraged weights solid, raw dashed" if averaged else ""), xlabel="epoch")
    if val_axis.lines:
        val_axis.legend(fontsize=7)
    else:
        loss_axis.legend(fontsize=7)
        val_axis.text(0.5, 0.5, "no validation speakers", ha="center", va="center",
                      transform=val_axis.transAxes)
    save_figure(figure, path, dpi=110)


def plot_confusion(confusion: np.ndarray, labels: Sequence[str], path: pathlib.Path,
                   title: str = "confusion (row = recall), all folds") -> None:
    plt = _pyplot()
    rows = confusion.sum(axis=1, keepdims=True)
    recall = np.divide(confusion, rows, out=np.zeros(confusion.shape), where=rows > 0)
    figure, axis = plt.subplots(figsize=(1.0 + 0.75 * len(labels), 0.8 + 0.7 * len(labels)))
    axis.imshow(recall, cmap="Blues", vmin=0, vmax=1)
    axis.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    axis.set_yticks(range(len(labels)), labels)
    axis.set(xlabel="predicted", ylabel="true", title=title)
    for i in range(len(labels)):
        for j in range(len(labels)):
            axis.text(j, i, f"{confusion[i, j]}", ha="center", va="center", fontsize=8,
                      color="white" if recall[i, j] > 0.5 else "black")
    save_figure(figure, path, dpi=110)


def worst_clips(results, labels: Sequence[str], count: int = WORST_CLIPS) -> list[dict]:
    """Test clips whose true label got the lowest probability, over all folds."""
    scored = [{"clip": p["clip"], "true": labels[p["target"]],
               "predicted": labels[int(np.argmax(p["output"]))],
               "p_true": float(p["output"][p["target"]]), "fold": r.name}
              for r in results for p in r.predictions]
    return sorted(scored, key=lambda item: item["p_true"])[:count]


def plot_worst(worst: list[dict], features: dict, path: pathlib.Path) -> None:
    plt = _pyplot()
    figure, axes = plt.subplots(len(worst), 1, figsize=(10, 1.9 * len(worst)), squeeze=False)
    for axis, item in zip(axes[:, 0], worst):
        frames = features[item["clip"]][0]
        axis.imshow(frames.T, aspect="auto", origin="lower", cmap="magma")
        name = pathlib.Path(item["clip"]).name
        axis.set_title(f"{name}: true {item['true']}, predicted {item['predicted']} "
                       f"(p_true {item['p_true']:.2f})", fontsize=9)
        axis.set_ylabel("channel")
    axes[-1, 0].set_xlabel("frame (10 ms)")
    save_figure(figure, path, dpi=60)  # smooth spectrograms compress poorly; keep files small


def write_report(run: pathlib.Path, recipe, results, summary: dict, features: dict | None = None) -> pathlib.Path:
    """Write ``report.md`` and its plots into the run directory."""
    regression = recipe.training.task == "regression"
    labels = list(recipe.output_names)
    lines = [f"# emoedge training run: {run.name}", ""]
    for warning in summary.get("warnings", []):
        lines += [f"> **Warning:** {warning}", ""]
    pooling = ("" if recipe.model.pooling == "global-average"
               else f", pooling `{recipe.model.pooling}`")
    lines += [f"Model `{recipe.model.architecture}` (width {recipe.model.width}{pooling}), "
              f"window {recipe.window.window_ms} ms / hop {recipe.window.hop_ms} ms, "
              f"split `{recipe.data.split}`, seeds {list(recipe.training.seeds)}.", "",
              _held_out_sentence(recipe, summary), ""]
    figures = [f"| {name} | {value['mean']:.4f} | {value['std']:.4f} |"
               for name, value in summary.items() if isinstance(value, dict) and "mean" in value]
    if figures:  # none when every speaker trained: no header over an empty table
        lines += ["| metric | mean | std |", "|---|---|---|", *figures, ""]
    lines += [_fold_table(results, regression), ""]
    plot_curves(results, run / "curves.png")
    lines += ["![training curves](curves.png)", ""]
    if not regression and any("confusion" in r.metrics for r in results):
        confusion = sum(np.asarray(r.metrics["confusion"]) for r in results
                        if "confusion" in r.metrics)
        plot_confusion(confusion, labels, run / "confusion.png")
        lines += ["![confusion matrix](confusion.png)", "", _per_class_table(confusion, labels), ""]
        if features:
            worst = worst_clips(results, labels)
            plot_worst(worst, features, run / "worst.png")
            lines += ["## Worst-predicted test clips", "", "![worst clips](worst.png)", ""]
    path = run / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _held_out_sentence(recipe, summary: dict) -> str:
    kept = ("model selection (best epoch) used only the validation speakers."
            if recipe.data.val_fraction > 0 else
            "there were no validation speakers, so each fold kept its last epoch.")
    from .trainer import test_figures

    if not test_figures(summary):
        return ("Every speaker trained and none was held out, so there are no test "
                "metrics (a k-fold run of the same recipe estimates them); " + kept)
    return "Test metrics are computed once per fold on held-out speakers; " + kept


def _fold_table(results, regression: bool) -> str:
    if regression:
        rows = ["| fold | seed | kept epoch | " + " | ".join(
            f"{t} CCC" for t in results[0].metrics if t != "int8") + " |"]
        rows.append("|---" * (3 + len([t for t in results[0].metrics if t != "int8"])) + "|")
        for r in results:
            cells = [f"{m['ccc']:.3f}" for t, m in r.metrics.items() if t != "int8"]
            rows.append(f"| {r.name} | {r.seed} | {r.best_epoch} | " + " | ".join(cells) + " |")
        return "\n".join(rows)
    rows = ["| fold | seed | kept epoch | val UA | test UA | test WA | test macro-F1 | int8 test UA |",
            "|---|---|---|---|---|---|---|---|"]
    for r in results:
        int8 = r.metrics.get("int8", {}).get("ua")
        val = "-" if np.isnan(r.best_val) else f"{r.best_val:.3f}"
        test = [_cell(r.metrics.get(name)) for name in ("ua", "wa", "macro_f1")]
        rows.append(f"| {r.name} | {r.seed} | {r.best_epoch} | {val} | "
                    f"{' | '.join(test)} | {_cell(int8)} |")
    return "\n".join(rows)


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _per_class_table(confusion: np.ndarray, labels: Sequence[str]) -> str:
    support = confusion.sum(axis=1)
    predicted = confusion.sum(axis=0)
    hits = np.diag(confusion)
    rows = ["| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for i, label in enumerate(labels):
        precision = hits[i] / predicted[i] if predicted[i] else 0.0
        recall = hits[i] / support[i] if support[i] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append(f"| {label} | {precision:.3f} | {recall:.3f} | {f1:.3f} | {support[i]} |")
    return "\n".join(rows)
