"""Smoke run of benchmarks/frontend.py, so the script cannot rot unnoticed."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "frontend.py"
ALWAYS = {"emoedge_batch", "emoedge_stream_10ms", "emoedge_stream_100ms",
          "psf_logfbank", "librosa_logmel"}


def test_quick_run_writes_every_row(tmp_path):
    out = tmp_path / "bench.json"
    # Generated clips only: the smoke run must not depend on a data folder.
    env = {k: v for k, v in os.environ.items() if k != "EMOEDGE_DATA"}
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--json", str(out)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "ms per s of audio" in proc.stdout

    report = json.loads(out.read_text())
    rows = {r["name"]: r for r in report["rows"]}
    expected = set(ALWAYS)
    if importlib.util.find_spec("tensorflow") is not None:
        expected.add("tf_microfrontend")
    else:
        assert [s["name"] for s in report["skipped"]] == ["tf_microfrontend"]
    assert set(rows) == expected
    for row in rows.values():
        assert row["median_ns"] > 0
        assert row["ms_per_audio_s"] > 0
        assert row["ratio_to_batch"] > 0
        assert 0 < row["min_ns"] <= row["median_ns"] <= row["max_ns"]
    assert rows["emoedge_batch"]["ratio_to_batch"] == 1.0
    assert report["clips"]["count"] == 1 and report["clips"]["audio_seconds"] > 0
    assert report["machine"]["numpy"] and report["command"]
