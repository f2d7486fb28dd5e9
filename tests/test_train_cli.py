"""The training commands without the train extra: one line naming the extra."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from emoedge.train import cli as train_cli


@pytest.mark.parametrize("command, args", [("train", ["-o", "run"]), ("tune", ["-o", "t"]),
                                           ("evaluate", ["run"]), ("quantize", ["run"])])
def test_missing_train_extra_is_one_clear_line(monkeypatch, command, args):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "tensorflow" else real(name, *a))
    app = typer.Typer()
    train_cli.register(app)
    from emoedge.quantize import cli as quantize_cli

    quantize_cli.register(app)
    result = CliRunner().invoke(app, [command, *args])
    assert result.exit_code == 2
    assert "pip install 'emoedge[train]'" in result.output and "tensorflow" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("args, named", [(["--seed", "1"], "--seed"),
                                         (["--heard-clips", "5"], "--heard-clips"),
                                         (["--gate", "-60"], "--gate"),
                                         (["--fill-zeros"], "--fill-zeros"),
                                         (["--own-clip", "--held-out", "val"],
                                          "--held-out, --own-clip")])
def test_evaluate_refuses_card_options_without_a_card(tensorflow_available, tmp_path, args, named):
    app = typer.Typer()
    train_cli.register(app)
    result = CliRunner().invoke(app, ["evaluate", str(tmp_path / "run"), *args])
    assert result.exit_code == 2
    assert f"{named}: only with --card DIR" in result.output
    assert not (tmp_path / "run").exists()
