"""The built wheel: one ``emoedge`` distribution that works outside the checkout."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> tuple[pathlib.Path, str]:
    """The wheel built from the checkout, and everything the build printed."""
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                             "--no-build-isolation", "-v", "-w", str(out), str(ROOT)],
                            check=True, capture_output=True, text=True)
    (built,) = out.glob("emoedge-*.whl")
    return built, result.stdout + result.stderr


@pytest.fixture(scope="module")
def wheel(build) -> pathlib.Path:
    return build[0]


def test_build_prints_no_setuptools_warning(build):
    # setuptools turns its deprecations (a TOML-table licence, a data folder
    # missing from ``packages``) into build errors on announced dates.
    assert "BuildBackendWarning" not in build[1] and "SetuptoolsDeprecationWarning" not in build[1]


def test_wheel_carries_the_licence(wheel):
    archive = zipfile.ZipFile(wheel)
    metadata = archive.read(next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA")))
    assert "License-Expression: Apache-2.0" in metadata.decode().splitlines()
    (licence,) = [n for n in archive.namelist() if n.endswith(".dist-info/licenses/LICENSE")]
    assert archive.read(licence) == (ROOT / "LICENSE").read_bytes()


def test_wheel_holds_only_the_emoedge_package(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names if ".dist-info/" not in name}
    assert tops == {"emoedge"}  # never a bare edge/, train/ or quantize/
    for module in ("emoedge/__init__.py", "emoedge/frontend/fft.py", "emoedge/train/__init__.py",
                   "emoedge/quantize/__init__.py", "emoedge/__main__.py",
                   "emoedge/models/default.tflite", "emoedge/models/MODEL_CARD.md"):
        assert module in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "emoedge = emoedge.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_installed_wheel_imports_and_runs(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target),
                    str(wheel)], check=True, capture_output=True)
    code = ("import sys, emoedge, numpy as np\n"
            "print(emoedge.__file__)\n"
            "f = emoedge.compute_features(np.zeros(16000, np.int16))\n"
            "print(f.shape)\n"
            "model = emoedge.load_model()\n"
            "print(model.path)\n"
            "pcm = (3000 * np.sin(np.arange(48000) * 0.07)).astype(np.int16)\n"
            "print(model.predict(pcm, 16000).label in model.labels)\n"
            "print(any(m.split('.')[0] in ('tensorflow', 'tf_keras', 'keras') for m in sys.modules))\n")
    env = {**os.environ, "PYTHONPATH": str(target)}
    # Run from an empty folder so the checkout cannot be imported by accident.
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, cwd=tmp_path, check=True)
    location, shape, model_path, labelled, tensorflow_loaded = result.stdout.split("\n")[:5]
    assert location.startswith(str(target)), location
    assert shape == "(98, 40)"
    # The packaged model loads from the installed wheel, and without TensorFlow.
    assert model_path.startswith(str(target)) and model_path.endswith("default.tflite")
    assert labelled == "True" and tensorflow_loaded == "False"
    cli = subprocess.run([sys.executable, "-m", "emoedge", "--version"], capture_output=True,
                         text=True, env=env, cwd=tmp_path, check=True)
    assert cli.stdout.startswith("emoedge ")
