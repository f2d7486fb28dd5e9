"""``emoedge quantize``, registered as a CLI plugin (edge/ never imports quantize/)."""

from __future__ import annotations

import os

import typer


def quantize(
    run_dir: str = typer.Argument(..., help="A run directory written by emoedge train."),
    sparsity: float = typer.Option(None, "--sparsity", help="Prune to this sparsity (e.g. 0.5), then int8."),
    qat: bool = typer.Option(False, "--qat", help="Also quantization-aware training (prune-preserving with --sparsity)."),
    finetune_epochs: int = typer.Option(3, "--finetune-epochs", help="Epochs of fine-tuning for pruning and QAT."),
    fold: list[str] = typer.Option([], "--fold", help="Fold directory name(s); default every fold."),
    allow_float: bool = typer.Option(False, "--allow-float", help="Keep int8 models that still hold float tensors."),
    evaluate_on: str = typer.Option("test", "--evaluate-on", help="Speakers to score on: test (report) or val (choose a variant without touching test)."),
    data: str = typer.Option(None, "--data", help="Root of the corpora (default: $EMOEDGE_DATA)."),
    cache: str = typer.Option(None, "--cache", help="Feature cache folder."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Export float and int8 models (optionally pruned / QAT), audit and evaluate them."""
    from emoedge.train.cli import require_train_extra

    require_train_extra("quantize")
    from .convert import ConversionError
    from .pipeline import QuantizeError, QuantizeOptions, quantize_run, render_table

    try:
        options = QuantizeOptions(run_dir=run_dir, data_root=data or os.environ.get("EMOEDGE_DATA"),
                                  cache_dir=cache, sparsity=sparsity, qat=qat,
                                  finetune_epochs=finetune_epochs, folds=tuple(fold),
                                  allow_float=allow_float, evaluate_on=evaluate_on,
                                  progress=not quiet)
        table = quantize_run(options)
    except (QuantizeError, ConversionError, ValueError, OSError) as error:
        typer.echo(f"emoedge: error: {' '.join(str(error).split())}", err=True)
        raise typer.Exit(2)
    typer.echo(render_table(table, options))
    typer.echo(f"models and table written to {os.path.join(run_dir, 'quantized')}")


def register(app: typer.Typer) -> None:
    """Entry point of the ``emoedge.commands`` group."""
    app.command()(quantize)
