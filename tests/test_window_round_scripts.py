"""The inference-only rounds' scripts: the forty-second round's tail window
and the forty-third round's whole-clip and 3 s windows. Their cuts, the
per-clip rows of a trained run against its kept card, and the pooled table
and verdict."""

from __future__ import annotations

import copy
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


rows_script = _script("tail_window_rows")
summary_script = _script("tail_window_summary")
long_rows_script = _script("long_window_rows")
long_summary_script = _script("long_window_summary")
FEATURES = np.arange(98 * 2, dtype=np.uint16).reshape(98, 2)


def test_the_tail_window_ends_at_the_last_frame_only_where_the_shipped_ones_stop_short():
    """98 frames, 50-frame windows every 25: the shipped windows start at 0
    and 25 and end at frame 75, so one more starts at 48. At 75 frames the
    last shipped window ends at the last frame; at 40 the clip is one padded
    window. Neither gains one."""
    from emoedge.train.dataset import evaluation_windows

    windows = rows_script.with_tail(FEATURES, 50, 25, "noise-floor")
    np.testing.assert_array_equal(windows[:2], evaluation_windows(FEATURES, 50, 25, "noise-floor"))
    np.testing.assert_array_equal(windows[2], FEATURES[48:])
    assert len(windows) == 3
    for frames in (75, 40):
        np.testing.assert_array_equal(rows_script.with_tail(FEATURES[:frames], 50, 25, "noise-floor"),
                                      evaluation_windows(FEATURES[:frames], 50, 25, "noise-floor"))
    # a quarter hop of 25 frames is 6: starts 0, 6, ..., 48
    assert rows_script.quarter_hop(FEATURES, 50, 25, "noise-floor")[:, 0, 0].tolist() == [
        2 * start for start in range(0, 49, 6)]


def test_a_run_without_fold_and_seed_in_its_name_is_refused():
    assert rows_script.fold_and_seed("/tmp/runs/control_f3_s2/") == (3, 2)
    with pytest.raises(SystemExit, match="must end in _fFOLD_sSEED"):
        rows_script.fold_and_seed("/tmp/runs/control_s2")


@pytest.fixture(scope="module")
def scored_control(tensorflow_available, tmp_path_factory):
    """A two-epoch run named as a control of fold 1, seed 0, and its float
    card kept as ``cards/kept_1_0.card.json.gz``: (run, card, cards)."""
    from test_train_pipeline import _recipe, _write_generated_corpus

    from emoedge.train.evaluate import float_card
    from emoedge.train.recipe import load_recipe
    from emoedge.train.trainer import run_training

    root = tmp_path_factory.mktemp("control")
    manifest = _write_generated_corpus(root / "corpus", speakers=6, per_class=2)
    run = root / "control_f1_s0"
    run_training(load_recipe(_recipe(root, manifest, epochs=2)), run, data_root=None,
                 cache_dir=root / "cache", progress=False, export=False)
    card = float_card(str(run), held_out="val", data_root=None, cache_dir=str(root / "cache"),
                      progress=False)
    cards = root / "cards"
    cards.mkdir()
    (cards / "kept_1_0.card.json.gz").write_bytes(gzip.compress(json.dumps(card).encode()))
    return run, card, cards


def _scored_rows(script, run, cards, out, monkeypatch) -> dict:
    """``script``'s rows of ``run`` against its kept card: the one run's entry."""
    # the run's manifest names its clips; a corpora root (CI sets one) would
    # name them relative to it, unlike the card made without one
    monkeypatch.delenv("EMOEDGE_DATA", raising=False)
    monkeypatch.setenv("EMOEDGE_CACHE", str(run.parent / "cache"))
    script.main([str(out), str(run), "--kept-cards", str(cards / "kept_{fold}_{seed}.card.json.gz")])
    ((key, scored),) = json.loads(gzip.decompress(out.read_bytes()))["runs"].items()
    assert key == "f1_s0"
    return scored


@pytest.mark.tf
def test_a_runs_shipped_rows_repeat_its_own_card_and_count_a_changed_label(
        scored_control, tmp_path, monkeypatch):
    """The rows' shipped labels are the labels the card tool gives the same
    run; a card with one label changed differs on that clip, and a missing
    card is reported as missing, not as agreement."""
    run, card, cards = scored_control
    scored = _scored_rows(rows_script, run, cards, tmp_path / "rows.json.gz", monkeypatch)
    assert scored["differ_from_kept_card"] == 0
    changed = copy.deepcopy(card)
    ((corpus, entry),) = changed["per_model"][0].items()
    assert [r["path"] for r in scored["rows"]] == [r["path"] for r in entry["predictions"]]
    assert {r["corpus"] for r in scored["rows"]} == {corpus}
    assert all(set(r) == {"path", "corpus", "true", "shipped", "tail", "hop250"}
               for r in scored["rows"])
    entry["predictions"][0]["clean"] = next(label for label in ("sad", "happy")
                                            if label != entry["predictions"][0]["clean"])
    (tmp_path / "changed.card.json.gz").write_bytes(gzip.compress(json.dumps(changed).encode()))
    assert rows_script.differences_from_card(scored["rows"], tmp_path / "changed.card.json.gz") == 1
    assert rows_script.differences_from_card(scored["rows"], tmp_path / "none.card.json.gz") is None


def _run(rows: list[tuple[str, str, str, str]], differ: int | None = 0,
         variants: tuple[str, ...] = ("tail", "hop250")) -> dict:
    """A scored run from (corpus, true, shipped, candidate) rows: the
    candidate is the first of ``variants``, the others repeat shipped."""
    candidate, *others = variants
    return {"differ_from_kept_card": differ,
            "rows": [{"path": f"c{i}", "corpus": c, "true": t, "shipped": s, candidate: a,
                      **{o: s for o in others}} for i, (c, t, s, a) in enumerate(rows)]}


LABELS = ["angry", "sad"]


def test_the_summary_pools_each_seeds_folds_before_computing_ua():
    """Seed 0: fold 1 has EMO-DB's angry clip right, fold 2 its sad clip
    wrong; pooled, recall is 1 and 0 (UA 50), while the tail window turns
    the sad clip right (UA 100). Seed 1 is right throughout."""
    runs = {"f1_s0": _run([("emodb", "angry", "angry", "angry")]),
            "f2_s0": _run([("emodb", "sad", "angry", "sad")]),
            "f1_s1": _run([("emodb", "angry", "angry", "angry")]),
            "f2_s1": _run([("emodb", "sad", "sad", "angry")])}
    figures = summary_script.corpus_figures(LABELS, runs, "emodb")
    assert figures.seeds == [0, 1]
    assert figures.ua_percent["shipped"] == [50.0, 100.0]
    assert figures.ua_percent["tail"] == [100.0, 50.0]
    assert (figures.candidate_changes, figures.wrong_to_right, figures.right_to_wrong,
            figures.clips) == (2, 1, 1, 4)


def test_the_verdict_applies_each_of_the_rules_three_conditions():
    def figures(shipped, tail):
        return summary_script.CorpusFigures(seeds=[0, 1], ua_percent={"shipped": shipped,
                                            "tail": tail, "hop250": shipped},
                                            candidate_changes=0, wrong_to_right=0, right_to_wrong=0,
                                            clips=0)

    ravdess_level = figures([60.0, 60.0], [59.6, 59.6])
    passed, lines = summary_script.verdict(figures([70.0, 70.0], [71.0, 71.0]), ravdess_level)
    assert passed and all(line.startswith("holds") for line in lines)
    passed, lines = summary_script.verdict(figures([70.0, 70.0], [72.5, 69.9]), ravdess_level)
    assert not passed and lines[1] == "fails: EMO-DB seeds lower: [1]"
    passed, lines = summary_script.verdict(figures([70.0, 70.0], [70.9, 71.0]), ravdess_level)
    assert not passed and lines[0] == "fails: EMO-DB +0.95 (at least +1.0)"
    passed, lines = summary_script.verdict(figures([70.0, 70.0], [71.0, 71.0]),
                                           figures([60.0, 60.0], [59.4, 59.5]))
    assert not passed and lines[2] == "fails: RAVDESS -0.55 (at least -0.5)"


def test_no_verdict_without_three_whole_folds_of_kept_controls(tmp_path, capsys):
    """The verdict waits for folds 1-3 with the same seeds, each run
    repeating its kept card; a run in two files is refused."""
    row = [("emodb", "angry", "angry", "angry"), ("ravdess", "sad", "sad", "sad")]
    whole = {f"f{f}_s{s}": _run(row) for f in (1, 2, 3) for s in (0, 1)}
    assert summary_script.why_no_verdict(whole) is None
    assert summary_script.why_no_verdict({k: v for k, v in whole.items() if k[1] != "3"}) == (
        "folds [1, 2] scored; the rule pools folds 1-3")
    assert summary_script.why_no_verdict({k: v for k, v in whole.items() if k != "f2_s1"}) == (
        "the folds have different seeds: {1: {0, 1}, 2: {0}, 3: {0, 1}}")
    assert summary_script.why_no_verdict({**whole, "f3_s1": _run(row, differ=4),
                                          "f1_s0": _run(row, differ=None)}) == (
        "f1_s0, f3_s1 do not repeat their kept cards")

    def write(name, runs):
        path = tmp_path / name
        path.write_bytes(gzip.compress(json.dumps({"labels": LABELS, "runs": runs}).encode()))
        return str(path)

    first = write("f12.json.gz", {k: v for k, v in whole.items() if k[1] != "3"})
    summary_script.main([first])
    assert capsys.readouterr().out.splitlines()[-1] == (
        "verdict waits: folds [1, 2] scored; the rule pools folds 1-3")
    summary_script.main([first, write("f3.json.gz", {k: v for k, v in whole.items()
                                                       if k[1] == "3"})])
    assert capsys.readouterr().out.splitlines()[-4:] == [
        "fails: EMO-DB +0.00 (at least +1.0)",
        "holds: EMO-DB seeds lower: none", "holds: RAVDESS +0.00 (at least -0.5)",
        "verdict: fails"]
    with pytest.raises(SystemExit, match="f1_s0 is in more than one rows file"):
        summary_script.load_rows([first, first])


def test_a_long_clip_is_one_window_of_its_frames_cut_to_whole_steps():
    """50-frame windows: 90 frames keep 50 + 2 * 16 = 82 from the first;
    a clip of one window or less keeps the shipped (padded) windows."""
    from emoedge.train.dataset import evaluation_windows

    window = long_rows_script.whole_clip(FEATURES[:90], 50, 25, "noise-floor")
    assert window.shape == (1, 82, 2)
    np.testing.assert_array_equal(window[0], FEATURES[:82])
    for frames in (50, 40):
        np.testing.assert_array_equal(long_rows_script.whole_clip(FEATURES[:frames], 50, 25, "noise-floor"),
                                      evaluation_windows(FEATURES[:frames], 50, 25, "noise-floor"))


def test_longer_windows_only_for_clips_that_fill_one():
    """60-frame windows every 25 for 98 frames (starts 0 and 25); 59 frames
    keep the shipped 50-frame windows."""
    from emoedge.train.dataset import evaluation_windows

    windows = long_rows_script.longer_windows(FEATURES, 50, 25, "noise-floor", long_frames=60)
    assert windows.shape == (2, 60, 2)
    np.testing.assert_array_equal(windows[1], FEATURES[25:85])
    np.testing.assert_array_equal(
        long_rows_script.longer_windows(FEATURES[:59], 50, 25, "noise-floor", long_frames=60),
        evaluation_windows(FEATURES[:59], 50, 25, "noise-floor"))


@pytest.mark.tf
def test_a_runs_rows_score_each_window_length_with_the_runs_own_weights(
        scored_control, tmp_path, monkeypatch):
    """The shipped labels repeat the run's card; no clip of this corpus fills
    3 s, so the 3 s variant repeats the shipped labels; the whole-clip
    variant scores 1 s clips in a longer graph. That graph holds the run's
    weights, is built once per length, and follows the weights when they
    change."""
    from emoedge.train.trainer import FoldTrainer, open_finished_run

    run, _, cards = scored_control
    scored = _scored_rows(long_rows_script, run, cards, tmp_path / "rows.json.gz", monkeypatch)
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


def test_the_verdict_judges_the_whole_clip_window(tmp_path, capsys):
    """Every seed's EMO-DB sad clip turns right under the whole-clip window
    (UA 50 -> 100), RAVDESS unchanged: the rule holds; the 3 s column is
    printed and judges nothing."""
    rows = [("emodb", "angry", "angry", "angry"), ("emodb", "sad", "angry", "sad"),
            ("ravdess", "sad", "sad", "sad")]
    runs = {f"f{f}_s{s}": _run(rows, variants=("whole_clip", "win3s"))
            for f in (1, 2, 3) for s in (0, 1)}
    path = tmp_path / "rows.json.gz"
    path.write_bytes(gzip.compress(json.dumps({"labels": ["angry", "sad"], "runs": runs}).encode()))
    long_summary_script.main([str(path)])
    out = capsys.readouterr().out.splitlines()
    assert "emodb win3s: 50.0 / 50.0, mean 50.00" in out
    assert "emodb whole_clip relabels 6 of 12 (wrong->right 6, right->wrong 0)" in out
    assert out[-4:] == ["holds: EMO-DB +50.00 (at least +1.0)", "holds: EMO-DB seeds lower: none",
                        "holds: RAVDESS +0.00 (at least -0.5)", "verdict: passes"]
