"""The forty-third round's scripts: the whole-clip and 3 s cuts, a trained
run's rows under them (scored in one graph per window length), and the
verdict on the whole-clip window."""

from __future__ import annotations

import gzip
import importlib.util
import json
import pathlib
import sys

import numpy as np
import pytest

SCRIPTS = pathlib.Path(__file__).resolve().parents[1] / "scripts"


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


rows_script = _script("long_window_rows")
summary_script = _script("long_window_summary")
FEATURES = np.arange(98 * 2, dtype=np.uint16).reshape(98, 2)


def test_a_long_clip_is_one_window_of_its_frames_cut_to_whole_steps():
    """50-frame windows: 90 frames keep 50 + 2 * 16 = 82 from the first;
    a clip of one window or less keeps the shipped (padded) windows."""
    from emoedge.train.dataset import evaluation_windows

    window = rows_script.whole_clip(FEATURES[:90], 50, 25, "noise-floor")
    assert window.shape == (1, 82, 2)
    np.testing.assert_array_equal(window[0], FEATURES[:82])
    for frames in (50, 40):
        np.testing.assert_array_equal(rows_script.whole_clip(FEATURES[:frames], 50, 25, "noise-floor"),
                                      evaluation_windows(FEATURES[:frames], 50, 25, "noise-floor"))


def test_longer_windows_only_for_clips_that_fill_one():
    """60-frame windows every 25 for 98 frames (starts 0 and 25); 59 frames
    keep the shipped 50-frame windows."""
    from emoedge.train.dataset import evaluation_windows

    windows = rows_script.longer_windows(FEATURES, 50, 25, "noise-floor", long_frames=60)
    assert windows.shape == (2, 60, 2)
    np.testing.assert_array_equal(windows[1], FEATURES[25:85])
    np.testing.assert_array_equal(
        rows_script.longer_windows(FEATURES[:59], 50, 25, "noise-floor", long_frames=60),
        evaluation_windows(FEATURES[:59], 50, 25, "noise-floor"))


@pytest.mark.tf
def test_a_runs_rows_score_each_window_length_with_the_runs_own_weights(
        tensorflow_available, tmp_path, monkeypatch):
    """The shipped labels repeat the run's card; no clip of this corpus fills
    3 s, so the 3 s variant repeats the shipped labels; the whole-clip
    variant scores 1 s clips in a longer graph. That graph holds the run's
    weights, is built once per length, and follows the weights when they
    change."""
    from test_train_pipeline import _recipe, _write_generated_corpus

    from emoedge.train.evaluate import float_card
    from emoedge.train.recipe import load_recipe
    from emoedge.train.trainer import FoldTrainer, open_finished_run, run_training

    manifest = _write_generated_corpus(tmp_path / "corpus", speakers=6, per_class=2)
    run = tmp_path / "control_f1_s0"
    run_training(load_recipe(_recipe(tmp_path, manifest, epochs=2)), run, data_root=None,
                 cache_dir=tmp_path / "cache", progress=False, export=False)
    card = float_card(str(run), held_out="val", data_root=None, cache_dir=str(tmp_path / "cache"),
                      progress=False)
    (tmp_path / "kept_1_0.card.json.gz").write_bytes(gzip.compress(json.dumps(card).encode()))
    monkeypatch.delenv("EMOEDGE_DATA", raising=False)
    monkeypatch.setenv("EMOEDGE_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "rows.json.gz"
    rows_script.main([str(out), str(run), "--kept-cards",
                      str(tmp_path / "kept_{fold}_{seed}.card.json.gz")])
    (scored,) = json.loads(gzip.decompress(out.read_bytes()))["runs"].values()
    assert scored["differ_from_kept_card"] == 0
    rows = scored["rows"]
    assert rows and all(set(r) == {"path", "corpus", "true", "shipped", "whole_clip", "win3s"}
                        for r in rows)
    assert [r["win3s"] for r in rows] == [r["shipped"] for r in rows]

    finished = open_finished_run(run, None)
    (entry,) = finished.record["folds"]
    trainer = FoldTrainer(finished.recipe, list(finished.recipe.output_names),
                          finished.directory / entry["directory"], seed=0, progress=False)
    _, model = trainer.load_saved_model()
    assert trainer.at_frames(model, trainer.window_frames) is model
    longer = trainer.at_frames(model, trainer.window_frames + 16)
    assert longer.input_shape[1] == trainer.window_frames + 16
    for mine, theirs in zip(longer.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    model.set_weights([w * 0.5 for w in model.get_weights()])
    again = trainer.at_frames(model, trainer.window_frames + 16)
    assert again is longer
    np.testing.assert_array_equal(again.get_weights()[0], model.get_weights()[0])


def _run(rows: list[tuple[str, str, str, str]]) -> dict:
    """A scored run from (corpus, true, shipped, whole_clip) rows."""
    return {"differ_from_kept_card": 0,
            "rows": [{"path": f"c{i}", "corpus": c, "true": t, "shipped": s, "whole_clip": w,
                      "win3s": s} for i, (c, t, s, w) in enumerate(rows)]}


def test_the_verdict_judges_the_whole_clip_window(tmp_path, capsys):
    """Every seed's EMO-DB sad clip turns right under the whole-clip window
    (UA 50 -> 100), RAVDESS unchanged: the rule holds; the 3 s column is
    printed and judges nothing."""
    rows = [("emodb", "angry", "angry", "angry"), ("emodb", "sad", "angry", "sad"),
            ("ravdess", "sad", "sad", "sad")]
    runs = {f"f{f}_s{s}": _run(rows) for f in (1, 2, 3) for s in (0, 1)}
    path = tmp_path / "rows.json.gz"
    path.write_bytes(gzip.compress(json.dumps({"labels": ["angry", "sad"], "runs": runs}).encode()))
    summary_script.main([str(path)])
    out = capsys.readouterr().out.splitlines()
    assert "emodb win3s: 50.0 / 50.0, mean 50.00" in out
    assert "emodb whole_clip relabels 6 of 12 (wrong->right 6, right->wrong 0)" in out
    assert out[-4:] == ["holds: EMO-DB +50.00 (at least +1.0)", "holds: EMO-DB seeds lower: none",
                        "holds: RAVDESS +0.00 (at least -0.5)", "verdict: passes"]
