"""emoedge on an emulated Raspberry Pi-class aarch64 CPU gives exactly the x86 results.

Builds (or reuses, from ``~/.cache/emoedge/aarch64``) a Debian bookworm arm64
root with the aarch64 wheels of emoedge's dependencies, installs this
checkout's emoedge into it and runs it under ``qemu-aarch64`` as a
Cortex-A72 (Raspberry Pi 4) and a Cortex-A76 (Raspberry Pi 5); see
``scripts/aarch64/emulate.py``. Then:

- a subset of the edge test suite runs in the guest, after asserting
  ``platform.machine() == 'aarch64'`` there;
- ``emoedge score`` on real clips writes a CSV byte-identical to the x86 run;
- frontend features, int8 model inputs and raw int8 model outputs of every
  window are bit-identical to x86;
- the instruction counter's per-stage figures repeat exactly from run to run.

The subset leaves out tests that start subprocesses (qemu-user without
binfmt cannot exec a guest binary from the guest) and TensorFlow's. On
this project's 2-core machine, shared with a training run (load average
3-4), the module took 70-100 s: the guest test suite about 70 s of it, and
building a missing root, header and plugin about 15 s more. Under CI a
missing host tool fails the run.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from conftest import _unavailable

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts" / "aarch64"))
import emulate  # noqa: E402

pytestmark = pytest.mark.aarch64

FIXTURE = str(REPO / "tests" / "fixtures" / "tiny_int8.tflite")
DUMP = str(REPO / "scripts" / "aarch64" / "dump_outputs.py")
GUEST_TESTS = ("test_golden.py", "test_quantization.py", "test_frontend_stages.py",
               "test_streaming.py", "test_magnitude_floor.py", "test_recognizer.py",
               "test_audio.py", "test_info.py", "test_model_file.py", "test_score.py",
               "test_cli.py", "test_bench.py", "test_default_model.py")
# These start the test's own Python as a subprocess, which the guest cannot
# exec (no binfmt registration for qemu here).
GUEST_DESELECT = ("interrupted_run_resumes", "long_file_is_scored_in_constant_memory",
                  "python_dash_m_runs_the_same_cli", "fixture_needs_no_tensorflow",
                  # the model-card script plots with matplotlib, a train-extra
                  # package the device root does not have
                  "card_predictions_are_reproduced")
GUEST_TIMEOUT_S = 1200
CPUS = ("cortex-a72", "cortex-a76")


@pytest.fixture(scope="module")
def guest() -> emulate.Guest:
    missing = emulate.missing_tools()
    if missing:
        _unavailable(f"aarch64 emulation needs {', '.join(missing)} "
                     "(apt-get install qemu-user mmdebstrap gcc)")
    try:
        return emulate.prepare(log=lambda message: None)
    except emulate.EmulationError as error:
        pytest.fail(f"could not build the arm64 guest: {error}")


@pytest.fixture(scope="module")
def clips(data_dir) -> list[str]:
    """Ten real clips: 4 RAVDESS, 3 TESS, 3 EMO-DB."""
    picks = []
    for pattern, count in (("RAVDESS/*/*.flac", 4), ("TESS/**/*.flac", 3), ("EMO-DB/*.flac", 3)):
        found = sorted(data_dir.glob(pattern))
        if len(found) < count:
            _unavailable(f"EMOEDGE_DATA lacks {pattern}")
        picks += [str(p) for p in found[::len(found) // count][:count]]
    return picks


def _guest_run(guest, args, cpu="cortex-a72", **kwargs) -> subprocess.CompletedProcess:
    # CI is not passed on: TensorFlow's tests skip in the guest, as they should.
    env = {"CI": ""} if os.environ.get("CI") else None
    result = emulate.run_guest(guest, args, cpu=cpu, env=env, timeout=GUEST_TIMEOUT_S,
                               cwd=REPO, **kwargs)
    return result


def test_edge_suite_passes_on_aarch64(guest):
    code = ("import platform, sys, pytest, emoedge\n"
            "from emoedge.cpuinfo import cpu_model\n"
            "assert platform.machine() == 'aarch64', platform.machine()\n"
            "print('guest', platform.machine(), cpu_model(), emoedge.__file__, flush=True)\n"
            "sys.exit(pytest.main(['-q', '-rs', '-p', 'no:cacheprovider', *sys.argv[1:]]))\n")
    deselect = " and ".join(f"not {name}" for name in GUEST_DESELECT)
    result = _guest_run(guest, ["-c", code, "-k", deselect,
                                *(f"tests/{name}" for name in GUEST_TESTS)])
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    assert f"guest aarch64 Raspberry Pi 4 Model B Rev 1.4, Cortex-A72 {guest.emoedge_dir}" in output
    assert " passed" in output and " failed" not in output
    skips = [line for line in output.splitlines() if line.startswith("SKIPPED")]
    assert all("TensorFlow" in line for line in skips), skips  # nothing else may skip


@pytest.mark.parametrize("cpu", CPUS)
def test_score_csv_is_byte_identical_to_x86(guest, clips, tmp_path, cpu):
    x86, arm = tmp_path / "x86.csv", tmp_path / "aarch64.csv"
    native = subprocess.run([sys.executable, "-m", "emoedge", "score", *clips, "-o", str(x86),
                             "--model", FIXTURE, "--quiet"], capture_output=True, text=True)
    assert native.returncode == 0, native.stderr
    emulated = _guest_run(guest, ["-m", "emoedge", "score", *clips, "-o", str(arm),
                                  "--model", FIXTURE, "--quiet"], cpu=cpu)
    assert emulated.returncode == 0, emulated.stderr
    assert f"scored {len(clips)} inputs: {len(clips)} ok" in emulated.stderr
    assert arm.read_bytes() == x86.read_bytes()


@pytest.mark.parametrize("cpu", CPUS)
def test_features_and_int8_tensors_are_bit_identical_to_x86(guest, clips, tmp_path, cpu):
    x86, arm = tmp_path / "x86.npz", tmp_path / "aarch64.npz"
    native = subprocess.run([sys.executable, DUMP, FIXTURE, str(x86), *clips],
                            capture_output=True, text=True)
    assert native.returncode == 0, native.stderr
    emulated = _guest_run(guest, [DUMP, FIXTURE, str(arm), *clips], cpu=cpu)
    assert emulated.returncode == 0, emulated.stderr
    with np.load(x86) as expected, np.load(arm) as actual:
        assert str(expected["machine"]) == "x86_64" and str(actual["machine"]) == "aarch64"
        keys = sorted(k for k in expected.files if k != "machine")
        assert keys == sorted(k for k in actual.files if k != "machine")
        assert len(keys) == 3 * len(clips)
        for key in keys:
            assert actual[key].dtype == expected[key].dtype, key
            np.testing.assert_array_equal(actual[key], expected[key], err_msg=key)


def test_instruction_counts_repeat_exactly(guest):
    args = ["--model", FIXTURE, "--seconds", "2", "--repeat", "1", "--threads", "1"]
    first, second = (emulate.count_bench(guest, args, "cortex-a72", timeout=GUEST_TIMEOUT_S)
                     for _ in range(2))
    regions = first["counts"]["regions"]
    assert set(regions) >= {"calibrate", "decode", "frontend", "quantize", "invoke",
                            "postprocess", "end_to_end"}
    assert all(region["instructions"] > 0 for region in regions.values())
    again = second["counts"]["regions"]
    # Every region, end_to_end included, repeats exactly. (Runs once differed
    # by 7 instructions, in invoke and in end_to_end: the bench subtracted its
    # clock readings inside the region, which costs CPython 7 instructions
    # more when the call straddles a multiple of 2**30 ns. It now subtracts
    # outside; the random name of the audio's temporary folder costs nothing.)
    assert regions == again, json.dumps([regions, again])
    assert first["bench"]["environment"]["machine"] == "aarch64"
    assert first["bench"]["environment"]["markers"] is True
