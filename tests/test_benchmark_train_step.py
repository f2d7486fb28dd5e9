"""Smoke run of benchmarks/train_step.py, so the script cannot rot unnoticed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "train_step.py"


@pytest.mark.tf
def test_quick_run_times_rounded_and_unrounded_widths(tensorflow_available, tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--batch", "4",
                           "--widths", "1.0", "1.2", "--json", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "| width 1.2, rounded | 40/80/112/152 | 265,776 |" in proc.stdout
    rows = {r["name"]: r for r in json.loads(out.read_text())["rows"]}
    # width 1.0 is already a multiple of 8 everywhere, so it has no rounded twin
    assert list(rows) == ["width 1.0", "width 1.2", "width 1.2, rounded"]
    assert rows["width 1.2"]["filters"] == [38, 77, 115, 154]
    assert rows["width 1.0"]["params"] == 186_920 and rows["width 1.0"]["ratio_to_first"] == 1.0
    assert all(r["median_ms"] > 0 for r in rows.values())
