"""Smoke runs of benchmarks/score.py, so the script cannot rot unnoticed."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "score.py"
SEED_DEPENDENCIES = ("tensorflow", "tf_keras", "librosa")


def _run_quick(tmp_path: Path, extra_env: dict | None = None) -> dict:
    """Run the benchmark with --quick on generated clips; its JSON report."""
    out = tmp_path / "bench.json"
    # Generated clips only: the smoke run must not depend on a data folder.
    env = {k: v for k, v in os.environ.items() if k != "EMOEDGE_DATA"}
    env.update(extra_env or {})
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--json", str(out)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "files/s (whole process)" in proc.stdout
    return json.loads(out.read_text())


def _assert_measured(row: dict) -> None:
    assert row["status"] == "ok", row
    assert row["files"] == 3 and row["rows_written"] == 3
    assert row["files_per_s"] > 0 and row["wall_s"] > 0
    assert row["peak_rss_mb"] > 0 and row["cpu_ms_per_file"] > 0


def _assert_common(report: dict) -> dict:
    rows = {r["name"]: r for r in report["rows"]}
    assert set(rows) == {"emoedge", "seed"}
    _assert_measured(rows["emoedge"])
    assert rows["emoedge"]["exit_code"] == 0
    assert report["inputs"]["count"] == 3 and report["inputs"]["audio_seconds"] > 0
    assert report["machine"]["cpu_model"] and report["machine"]["python"] and report["command"]
    assert len(report["load_average"]["start"]) == 3
    return rows


def test_quick_run_reports_both_pipelines(tmp_path):
    report = _run_quick(tmp_path)
    rows = _assert_common(report)
    if any(importlib.util.find_spec(m) is None for m in SEED_DEPENDENCIES):
        assert rows["seed"]["status"] == "skipped" and rows["seed"]["reason"]
        assert report["ratios"] is None
        return
    _assert_measured(rows["seed"])
    assert 100_000 <= rows["seed"]["model"]["params"] <= 200_000
    ratios = report["ratios"]
    for key in ("files_per_s", "peak_rss", "cpu_per_file"):
        assert ratios[key] > 0
    assert ratios["files_per_s"] == rows["emoedge"]["files_per_s"] / rows["seed"]["files_per_s"]
    assert ratios["peak_rss"] == rows["emoedge"]["peak_rss_mb"] / rows["seed"]["peak_rss_mb"]


def test_without_tensorflow_the_seed_row_is_skipped(tmp_path):
    # A tensorflow package that fails to import, first on the path: the seed
    # child cannot import TF, as on a device without it.
    fake = tmp_path / "no_tf"
    (fake / "tensorflow").mkdir(parents=True)
    (fake / "tensorflow" / "__init__.py").write_text(
        'raise ImportError("tensorflow hidden by the test")\n')
    path = os.pathsep.join(filter(None, [str(fake), os.environ.get("PYTHONPATH")]))
    report = _run_quick(tmp_path, {"PYTHONPATH": path})
    rows = _assert_common(report)
    assert rows["seed"]["status"] == "skipped"
    assert "tensorflow" in rows["seed"]["reason"]
    assert report["ratios"] is None
