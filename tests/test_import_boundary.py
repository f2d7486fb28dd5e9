"""edge/ (the ``emoedge`` package) never imports TensorFlow or Keras."""

from __future__ import annotations

import ast
import pathlib

from import_probe import packages_loaded_by

EDGE = pathlib.Path(__file__).resolve().parents[1] / "edge"
HEAVY = {"tensorflow", "keras", "tf_keras", "tensorflow_model_optimization", "tflite_model_maker"}


def test_importing_emoedge_loads_no_tensorflow():
    heavy = packages_loaded_by(["emoedge", "emoedge.frontend", "emoedge.quantization",
                                "emoedge.cli", "emoedge.train", "emoedge.quantize"], HEAVY)
    assert heavy == [], f"import emoedge loaded: {heavy}"


def test_no_module_under_edge_imports_tensorflow_or_train():
    offenders = []
    for path in sorted(EDGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                top = name.split(".")
                if top[0] in HEAVY or top[:2] in (["emoedge", "train"], ["emoedge", "quantize"]):
                    offenders.append(f"{path.relative_to(EDGE.parent)}:{node.lineno} {name}")
    assert not offenders, offenders


def test_cli_help_is_fast_to_import():
    """The CLI module imports only typer and emoedge's light modules."""
    assert packages_loaded_by(["emoedge.cli"], ["scipy", "librosa", "soundfile", "tensorflow"]) == []
