"""emoedge train / evaluate / tune end to end on generated and real data."""

from __future__ import annotations

import csv
import json
import pathlib
import platform

import numpy as np
import pytest
import soundfile

from signals import voiced_speech, white_noise

pytestmark = pytest.mark.tf


def _write_generated_corpus(root: pathlib.Path, speakers: int = 9, per_class: int = 4) -> pathlib.Path:
    """Three classes that differ in pitch, as a CSV manifest with speakers.

    low: 100 Hz voice, mid: 190 Hz, high: 300 Hz; valence rises with pitch.
    """
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for speaker in range(speakers):
        for label, pitch, valence in (("sad", 100, -0.6), ("neutral", 190, 0.0),
                                      ("happy", 300, 0.7)):
            for take in range(per_class):
                seed = speaker * 100 + take
                jitter = 1 + 0.05 * np.random.default_rng(seed).standard_normal()
                pcm = np.concatenate([white_noise(0.1, rms=60, seed=seed),
                                      voiced_speech(0.9, pitch_hz=pitch * jitter, seed=seed)])
                path = root / f"s{speaker}_{label}_{take}.wav"
                soundfile.write(path, pcm, 16000, subtype="PCM_16")
                rows.append({"path": path.name, "label": label, "speaker": f"spk{speaker}",
                             "valence": valence + 0.05 * jitter, "arousal": 0.1})
    manifest = root / "manifest.csv"
    with open(manifest, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return manifest


RECIPE = """
[data]
sources = ["manifest:{manifest}"]
labels = ["sad", "neutral", "happy"]
split = "{split}"
folds = 3
corpus_balance = false

[window]
window_ms = 500
hop_ms = 250

[model]
architecture = "{architecture}"
width = 0.5
dropout = 0.1

[training]
epochs = {epochs}
min_epochs = {epochs}
batch_size = 16
learning_rate = 0.003

[augment]
strength = 0.0
time_masks = 0
freq_masks = 0
"""


def _recipe(tmp_path, manifest, *, split="speaker", architecture="cnn1d", epochs=12, extra=""):
    path = tmp_path / "recipe.toml"
    path.write_text(RECIPE.format(manifest=manifest, split=split, architecture=architecture,
                                  epochs=epochs) + extra)
    return path


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    return _write_generated_corpus(tmp_path_factory.mktemp("corpus"))


def test_learnable_property_is_learned_and_exported(tensorflow_available, tmp_path, manifest):
    import emoedge
    from emoedge.train.recipe import load_recipe
    from emoedge.train.trainer import run_training

    # a non-default frontend (the magnitude floor) must reach the model file
    recipe = load_recipe(_recipe(tmp_path, manifest, extra="\n[frontend]\nmagnitude_floor = 2\n"))
    result = run_training(recipe, tmp_path / "run", data_root=None, cache_dir=tmp_path / "cache",
                          progress=False)
    (fold,) = result.folds
    print(f"\ngenerated pitch classes: test UA {fold.metrics['ua']:.3f}, "
          f"int8 {fold.metrics['int8']['ua']:.3f} (chance 0.333)")
    assert fold.metrics["ua"] >= 0.8
    assert fold.metrics["int8"]["ua"] >= 0.7
    run = tmp_path / "run"
    for name in ("report.md", "curves.png", "confusion.png", "worst.png", "recipe.toml",
                 "run.json", "data_summary.json", "summary.json"):
        assert (run / name).exists(), name
    report = (run / "report.md").read_text()
    assert f"| ua | {result.summary['ua']['mean']:.4f} |" in report
    split = json.loads((run / "split0_seed0" / "split.json").read_text())
    parts = [set(split["parts"][p]["speakers"]) for p in ("train", "val", "test")]
    assert split["speaker_independent"]
    assert not (parts[0] & parts[2]) and not (parts[1] & parts[2]) and all(parts)
    model = emoedge.load_model(run / "split0_seed0" / "model_int8.tflite")
    assert model.labels == ("sad", "neutral", "happy")
    assert model.metadata.frontend == recipe.frontend and recipe.frontend.magnitude_floor == 2
    # the model file says which machine trained it, as the fold directory does
    trained_on = json.loads((run / "split0_seed0" / "machine.json").read_text())
    assert trained_on["arch"] == platform.machine() and trained_on["tensorflow"]
    assert model.metadata.provenance["trained_on"] == trained_on
    happy = model.predict(voiced_speech(1.0, pitch_hz=300, seed=999), 16000)
    assert happy.label == "happy"


def test_mixup_weight_decay_and_window_norm_still_learn_and_export(tensorflow_available,
                                                                   tmp_path, manifest):
    from emoedge.train.evaluate import evaluate_run
    from emoedge.train.recipe import load_recipe
    from emoedge.train.trainer import run_training

    recipe = load_recipe(_recipe(tmp_path, manifest), [
        "training.mixup_alpha=0.2", "training.weight_decay=0.0001", "model.input_norm=both"])
    result = run_training(recipe, tmp_path / "run", data_root=None, cache_dir=tmp_path / "cache",
                          progress=False)
    (fold,) = result.folds
    assert fold.metrics["ua"] >= 0.8
    assert fold.metrics["int8"]["ua"] >= 0.7
    spec = json.loads((tmp_path / "run" / "split0_seed0" / "spec.json").read_text())
    assert spec["input_norm"] == "both"
    again = evaluate_run(str(tmp_path / "run"), data_root=None, cache_dir=str(tmp_path / "cache"),
                         progress=False)
    assert again["ua"]["values"] == pytest.approx(result.summary["ua"]["values"])


def test_a_speaker_adversary_trains_beside_the_model_and_stays_out_of_its_files(
        tensorflow_available, tmp_path, manifest):
    """With the adversary on, the run still learns the classes, logs the
    adversary's loss each epoch, and saves and exports the emotion model
    alone: the same weights' shapes and the same int8 operators as a run
    without it."""
    import emoedge
    from emoedge.model_audit import audit_model
    from emoedge.train.recipe import load_recipe
    from emoedge.train.trainer import load_fold_model, run_training

    def train(name, settings):
        recipe = load_recipe(_recipe(tmp_path, manifest), settings)
        return run_training(recipe, tmp_path / name, data_root=None, cache_dir=tmp_path / "cache",
                            progress=False).folds[0]

    fold = train("adversary", ["training.speaker_adversary_weight=1.0"])
    plain = train("plain", [])
    assert fold.metrics["ua"] >= 0.8
    assert fold.metrics["int8"]["ua"] >= 0.7
    speakers = len(json.loads((tmp_path / "adversary" / "split0_seed0" / "split.json")
                              .read_text())["parts"]["train"]["speakers"])
    losses = [epoch["speaker_loss"] for epoch in fold.history]
    assert len(losses) == len(fold.history) and all(0 < loss < 3 * np.log(speakers)
                                                    for loss in losses)
    assert all("speaker_loss" not in epoch for epoch in plain.history)
    shapes = [[w.shape for w in load_fold_model(run / "split0_seed0")[1].get_weights()]
              for run in (tmp_path / "adversary", tmp_path / "plain")]
    assert shapes[0] == shapes[1]
    files = [run / "split0_seed0" / "model_int8.tflite"
             for run in (tmp_path / "adversary", tmp_path / "plain")]
    audits = [audit_model(path.read_bytes()) for path in files]
    assert audits[0].op_counts == audits[1].op_counts
    assert audits[0].parameters == audits[1].parameters and audits[0].integer_only
    meta = emoedge.load_model(str(files[0])).metadata
    assert meta.output.shape == (1, len(meta.labels))
    assert meta.provenance["recipe"]["training"]["speaker_adversary_weight"] == 1.0


def test_weight_averaging_leaves_training_alone_and_ships_the_averaged_weights(
        tensorflow_available, tmp_path, manifest):
    """The raw validation curve of an averaged run is the plain run's, value
    for value (averaging never feeds back into training); the selected score
    is the averaged weights', and the saved model is the one that scored it."""
    from emoedge.train.evaluate import evaluate_run
    from emoedge.train.recipe import load_recipe
    from emoedge.train.trainer import run_training

    runs = {}
    for name, decay in (("plain", 0.0), ("averaged", 0.6)):
        recipe = load_recipe(_recipe(tmp_path, manifest, epochs=6),
                             [f"training.ema_decay_per_epoch={decay}"])
        runs[name] = run_training(recipe, tmp_path / name, data_root=None,
                                  cache_dir=tmp_path / "cache", progress=False).folds[0]
    plain, averaged = runs["plain"].history, runs["averaged"].history
    assert [h["val_raw"] for h in averaged] == [h["val"] for h in plain]
    assert "val_raw" not in plain[0]
    assert averaged[0]["val"] == averaged[0]["val_raw"]  # the first average is the weights
    assert runs["averaged"].best_val == max(h["val"] for h in averaged)
    again = evaluate_run(str(tmp_path / "averaged"), data_root=None,
                         cache_dir=str(tmp_path / "cache"), progress=False)
    assert again["ua"]["values"] == pytest.approx([runs["averaged"].metrics["ua"]])
    assert (tmp_path / "averaged" / "curves.png").stat().st_size > 0


def test_kept_epoch_weights_give_back_the_runs_own_average_and_others(
        tensorflow_available, tmp_path, manifest):
    """Keeping every epoch's weights leaves training alone; averaged again at
    the run's decay up to its chosen epoch they give its saved model bit for
    bit, and a copy at another decay scores through the usual evaluate."""
    from emoedge.train.evaluate import float_card
    from emoedge.train.reaverage import main
    from emoedge.train.recipe import load_recipe
    from emoedge.train.trainer import load_fold_model, run_training

    recipe = load_recipe(_recipe(tmp_path, manifest, epochs=5),
                         ["training.ema_decay_per_epoch=0.6"])
    plain = run_training(recipe, tmp_path / "plain", data_root=None,
                         cache_dir=tmp_path / "cache", progress=False, export=False).folds[0]
    kept = run_training(recipe, tmp_path / "kept", data_root=None, cache_dir=tmp_path / "cache",
                        progress=False, export=False, keep_epoch_weights=True).folds[0]
    assert [h["val_raw"] for h in kept.history] == [h["val_raw"] for h in plain.history]
    fold = pathlib.Path(kept.directory)
    assert sorted(p.name for p in (fold / "epoch_weights").iterdir()) == [
        f"epoch_{e:03d}.npz" for e in range(5)]
    assert not (pathlib.Path(plain.directory) / "epoch_weights").exists()
    assert [json.loads((tmp_path / run / "run.json").read_text())["keep_epoch_weights"]
            for run in ("plain", "kept")] == [False, True]

    def saved_arrays(run):
        return load_fold_model(run / fold.name)[1].get_weights()

    assert main([str(tmp_path / "kept"), str(tmp_path / "same"), "--decay", "0.6",
                 "--epoch", "best"]) == 0
    for a, b in zip(saved_arrays(tmp_path / "same"), saved_arrays(tmp_path / "kept"), strict=True):
        np.testing.assert_array_equal(a, b)
    record = json.loads((tmp_path / "same" / fold.name / "reaveraged.json").read_text())
    assert record["ends_with_epoch"] == kept.best_epoch and record["decay_per_epoch"] == 0.6
    assert not (tmp_path / "same" / fold.name / "epoch_weights").exists()

    assert main([str(tmp_path / "kept"), str(tmp_path / "raw"), "--decay", "0"]) == 0
    assert any(not np.array_equal(a, b) for a, b in
               zip(saved_arrays(tmp_path / "raw"), saved_arrays(tmp_path / "kept")))
    card = float_card(str(tmp_path / "raw"), held_out="val", data_root=None,
                      cache_dir=str(tmp_path / "cache"), progress=False)
    assert card["models"][0]["path"] == str(tmp_path / "raw" / fold.name)
    # gate conditions: one at -200 dBFS zeroes only what is already zero, so
    # it repeats the clean labels; one at full scale silences every clip, so
    # every clip gets the one label of the frontend's floor
    gated = float_card(str(tmp_path / "raw"), held_out="val", data_root=None,
                       gates_dbfs=(-200.0, 0.0), fill_zeros=True,
                       cache_dir=str(tmp_path / "cache"), progress=False)
    ((corpus, entry),) = gated["per_model"][0].items()
    rows = entry["predictions"]
    assert [r["clean"] for r in rows] == [
        r["clean"] for r in card["per_model"][0][corpus]["predictions"]]
    assert all(r["gate-200"] == r["clean"] for r in rows)
    assert len({r["gate+0"] for r in rows}) == 1
    assert entry["gate-200"]["ua"] == entry["clean"]["ua"]
    # the fill-zeros column scored each clip's samples with its zeros lifted
    # to +-1 (sign seed 0): those features are in the cache, and lifting
    # changed them (the generated clips' quiet noise holds exact zeros)
    from emoedge.train.augment import fill_zeros
    from emoedge.train.features import FeatureCache, FeatureJob
    from emoedge.train.recipe import load_recipe

    assert {r["fill-zeros"] for r in rows} <= {"sad", "neutral", "happy"}
    cache = FeatureCache(tmp_path / "cache", load_recipe(tmp_path / "raw" / "recipe.toml").frontend)
    for row in rows:
        path = str(pathlib.Path(gated["data_root"]) / row["path"])
        pcm = soundfile.read(path, dtype="int16")[0]
        lifted = cache.get(FeatureJob(path=path, pcm=fill_zeros(pcm, seed=0)))
        assert not np.array_equal(lifted, cache.get(FeatureJob(path=path)))
    assert cache.stats.misses == 0
    assert main([str(tmp_path / "plain"), str(tmp_path / "none"), "--mean-of-last", "2"]) == 2
    assert not (tmp_path / "none").exists()  # no half-made copy holding the original weights

    assert main([str(tmp_path / "kept"), str(tmp_path / "bn"), "--mean-of-last", "2",
                 "--recompute-batch-norm", "--cache", str(tmp_path / "cache")]) == 0
    record = json.loads((tmp_path / "bn" / fold.name / "reaveraged.json").read_text())
    assert record["batch_norm"] == "recomputed over epoch 4's training batches"
    assert record["mean_of_last_epochs"] == 2


def test_without_validation_speakers_the_last_averaged_epoch_is_kept(tensorflow_available,
                                                                     tmp_path, manifest):
    """val_fraction = 0 (refit on every non-test speaker): no epoch can be
    chosen, so the fold keeps its last one, the averaged weights with
    averaging on; the saved model is that one, and the report says so."""
    from emoedge.train.evaluate import evaluate_run
    from emoedge.train.recipe import load_recipe
    from emoedge.train.trainer import run_training

    epochs = 4
    recipe = load_recipe(_recipe(tmp_path, manifest, split="kfold", epochs=epochs), [
        "data.val_fraction=0", "data.folds=3", "training.ema_decay_per_epoch=0.5",
        "training.patience=1"])
    result = run_training(recipe, tmp_path / "run", data_root=None,
                          cache_dir=tmp_path / "cache", progress=False, export=False)
    assert len(result.folds) == 3
    for fold in result.folds:
        assert len(fold.history) == epochs  # patience 1 cannot stop a run with nothing to watch
        assert not any("val" in h or "val_raw" in h for h in fold.history)
        assert fold.best_epoch == epochs - 1 and np.isnan(fold.best_val)
        split = json.loads((pathlib.Path(fold.directory) / "split.json").read_text())
        assert not split["parts"]["val"]["speakers"]
    assert "best_val" not in result.summary
    again = evaluate_run(str(tmp_path / "run"), data_root=None,
                         cache_dir=str(tmp_path / "cache"), progress=False)
    assert again["ua"]["values"] == pytest.approx(result.summary["ua"]["values"])
    report = (tmp_path / "run" / "report.md").read_text()
    assert "no validation speakers, so each fold kept its last epoch" in report
    assert "| - |" in report


def test_tuning_refuses_a_recipe_without_validation_speakers(tmp_path, manifest):
    from emoedge.train.recipe import RecipeError, load_recipe
    from emoedge.train.tune import run_tuning

    base = load_recipe(_recipe(tmp_path, manifest), ["data.val_fraction=0"])
    with pytest.raises(RecipeError, match="val_fraction must be above 0"):
        run_tuning(base, str(tmp_path / "tune"), trials=1, data_root=None)
    assert not (tmp_path / "tune").exists()


def test_reexport_script_rewrites_the_trainers_own_export(tensorflow_available, tmp_path,
                                                          manifest):
    """scripts/reexport_run.py must take the trainer's export path: on a run
    whose export code has not changed it writes the same weights and the same
    metadata. (Bytes may differ in graph names, which number every Keras
    model built in a process; in separate processes the five default_cv
    folds came back byte-identical.)"""
    import dataclasses
    import runpy

    from emoedge.model_file import read_model_file
    from emoedge.train.recipe import load_recipe
    from emoedge.train.trainer import run_training

    recipe = load_recipe(_recipe(tmp_path, manifest, epochs=3))
    run = tmp_path / "run"
    run_training(recipe, run, data_root=None, cache_dir=tmp_path / "cache", progress=False)
    path = run / "split0_seed0" / "model_int8.tflite"
    original = read_model_file(path)
    path.write_bytes(b"stale")
    (run / "report.md").unlink()
    script = runpy.run_path(str(pathlib.Path(__file__).resolve().parents[1] / "scripts"
                                / "reexport_run.py"))
    assert script["main"]([str(run), "--cache", str(tmp_path / "cache")]) == 0
    again = read_model_file(path)
    assert again.weights_sha256 == original.weights_sha256
    assert dataclasses.asdict(again.metadata) == dataclasses.asdict(original.metadata)
    assert "int8 test UA" in (run / "report.md").read_text()


def test_evaluate_recomputes_the_same_metrics(tensorflow_available, tmp_path, manifest):
    """Through the function and through the ``emoedge evaluate`` command."""
    import typer
    from typer.testing import CliRunner

    from emoedge.train import cli as train_cli
    from emoedge.train.evaluate import evaluate_run
    from emoedge.train.recipe import load_recipe
    from emoedge.train.trainer import run_training

    recipe = load_recipe(_recipe(tmp_path, manifest, epochs=3))
    trained = run_training(recipe, tmp_path / "run", data_root=None,
                           cache_dir=tmp_path / "cache", progress=False, export=False)
    again = evaluate_run(str(tmp_path / "run"), data_root=None, cache_dir=str(tmp_path / "cache"),
                         progress=False)
    assert again["ua"]["values"] == pytest.approx(trained.summary["ua"]["values"])
    app = typer.Typer()
    train_cli.register(app)
    command = CliRunner().invoke(app, ["evaluate", str(tmp_path / "run"), "--cache",
                                       str(tmp_path / "cache"), "--quiet"])
    assert command.exit_code == 0, command.output
    assert f"ua: {trained.summary['ua']['mean']:.4f}" in command.output


def test_kfold_regression_reports_ccc(tensorflow_available, tmp_path, manifest):
    from emoedge.train.recipe import load_recipe
    from emoedge.train.trainer import run_training

    recipe = load_recipe(_recipe(tmp_path, manifest, split="kfold", architecture="mlp", epochs=10),
                         ["training.task=\"regression\"", "training.targets=[\"valence\"]"])
    result = run_training(recipe, tmp_path / "run", data_root=None, cache_dir=tmp_path / "cache",
                          progress=False)
    assert len(result.folds) == 3
    for fold in result.folds:
        assert set(fold.metrics["valence"]) == {"mse", "mae", "ccc"}
    print(f"\nvalence CCC over 3 folds: {result.summary['valence_ccc']['mean']:.3f}")
    assert result.summary["valence_ccc"]["mean"] > 0.5


def test_tune_runs_resumes_and_retrains_the_best(tensorflow_available, tmp_path, manifest,
                                                 monkeypatch):
    """A study of 2 trials (the second pruned after its second epoch), then
    one more; no trial, pruned or finished, leaves an epoch state behind."""
    import optuna

    from emoedge.train.epoch_state import FILE_NAME
    from emoedge.train.recipe import load_recipe
    from emoedge.train.tune import run_tuning

    base = load_recipe(_recipe(tmp_path, manifest, epochs=3))
    out = tmp_path / "tune"
    asked = {}

    def prune_trial_1_at_its_second_epoch(trial):
        asked[trial.number] = asked.get(trial.number, 0) + 1
        return trial.number == 1 and asked[trial.number] == 2

    with monkeypatch.context() as patched:
        patched.setattr(optuna.trial.Trial, "should_prune", prune_trial_1_at_its_second_epoch)
        first = run_tuning(base, str(out), trials=2, data_root=None,
                           cache_dir=str(tmp_path / "cache"), final_seeds=(0, 1), progress=False)
    assert [t["state"] for t in first["trials"]] == ["COMPLETE", "PRUNED"]
    assert (out / "trial001" / "split0_seed0").is_dir()
    assert not list(out.rglob(FILE_NAME))
    second = run_tuning(base, str(out), trials=3, data_root=None,
                        cache_dir=str(tmp_path / "cache"), final_seeds=(0,), progress=False)
    assert len(second["trials"]) == 3  # the stored study resumed: one more trial
    assert (out / "tuning.md").exists() and (out / "best_recipe.toml").exists()


def test_smoke_run_on_real_clips(tensorflow_available, data_dir, tmp_path):
    """A few real RAVDESS clips, speakers held out, one epoch."""
    from emoedge.train.recipe import load_recipe
    from emoedge.train.trainer import run_training

    rows = []
    for actor in range(1, 7):
        folder = data_dir / "RAVDESS" / f"Actor_{actor:02d}"
        for path in sorted(folder.glob("*.flac"))[:60:6]:
            emotion = int(path.stem.split("-")[2])
            rows.append({"path": str(path), "label": ["neutral", "calm", "happy", "sad", "angry",
                                                      "fearful", "disgust", "surprised"][emotion - 1],
                         "speaker": f"ravdess:{actor:02d}"})
    manifest = tmp_path / "real.csv"
    with open(manifest, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["path", "label", "speaker"])
        writer.writeheader()
        writer.writerows(rows)
    recipe = load_recipe(None, [f'data.sources=["manifest:{manifest}"]', "training.epochs=1",
                                "training.min_epochs=1", "model.width=0.25",
                                "augment_variants=1"])
    result = run_training(recipe, tmp_path / "run", data_root=None, cache_dir=tmp_path / "cache",
                          progress=False)
    assert 0.0 <= result.summary["ua"]["mean"] <= 1.0
    assert (tmp_path / "run" / "split0_seed0" / "model_int8.tflite").exists()


def test_feature_cache_hits_and_misses(tmp_path):
    from emoedge import FrontendConfig
    from emoedge.train.features import FeatureCache, FeatureJob

    path = tmp_path / "a.wav"
    soundfile.write(path, voiced_speech(0.5), 16000, subtype="PCM_16")
    cache = FeatureCache(tmp_path / "cache", FrontendConfig())
    first = cache.get(FeatureJob(path=str(path)))
    again = cache.get(FeatureJob(path=str(path)))
    np.testing.assert_array_equal(first, again)
    assert (cache.stats.hits, cache.stats.misses) == (1, 1)
    other_config = FeatureCache(tmp_path / "cache", FrontendConfig(num_channels=32))
    assert other_config.get(FeatureJob(path=str(path))).shape[1] == 32
    assert other_config.stats.misses == 1
    soundfile.write(path, voiced_speech(0.5, pitch_hz=200), 16000, subtype="PCM_16")
    changed = cache.get(FeatureJob(path=str(path)))
    assert cache.stats.misses == 2 and not np.array_equal(changed, first)


def test_cache_keys_stay_as_they_were_with_the_floor_off_and_change_with_it_on(tmp_path):
    from emoedge import FrontendConfig
    from emoedge.train.features import FeatureCache, FeatureJob

    job = FeatureJob(path="a.flac", pcm=np.arange(-800, 800, dtype=np.int16))
    # the key this job had before the floor existed (commit 3571f04)
    before = "2b68d6f6c36ee4e7d1397ebaa00e3c893bb658299554a8a58cf883571e5f17ff"
    assert FeatureCache(tmp_path, FrontendConfig()).key(job) == before
    floored = FeatureCache(tmp_path, FrontendConfig(magnitude_floor=2))
    assert floored.key(job) != before
    silence = FeatureJob(path="s.flac", pcm=np.zeros(4000, np.int16))
    assert (floored.get(silence) == 177).all() and floored.stats.misses == 1


def test_recipe_errors_and_round_trip(tmp_path):
    from emoedge.train.recipe import RecipeError, load_recipe, recipe_from_dict

    bad = tmp_path / "bad.toml"
    bad.write_text("[model]\narchitecure = 'dscnn'\n")
    with pytest.raises(RecipeError, match="unknown key\\(s\\) in \\[model\\]: architecure"):
        load_recipe(bad)
    with pytest.raises(RecipeError, match="unknown recipe section \\[modle\\]"):
        load_recipe(None, ["modle.width=2"])
    with pytest.raises(RecipeError, match="section.key=value"):
        load_recipe(None, ["no-equals-sign"])
    recipe = load_recipe(None, ["training.epochs=3", "frontend.num_channels=32",
                                'data.merge={calm = "neutral"}'])
    assert recipe.training.epochs == 3 and recipe.frontend.num_channels == 32
    (tmp_path / "again.toml").write_text(recipe.to_toml())
    assert load_recipe(tmp_path / "again.toml") == recipe
    assert recipe_from_dict({}) == load_recipe(None)


def test_a_stopped_run_resumes_keeping_its_finished_folds(tensorflow_available, tmp_path,
                                                          manifest, monkeypatch):
    """A run cut during its second fold, resumed: the first fold's files are
    kept untouched (not trained again), the fold cut before its first epoch
    ended starts afresh, and the summary equals that of a run never stopped
    (training is deterministic)."""
    from emoedge.train import trainer as trainer_module
    from emoedge.train.recipe import load_recipe
    from emoedge.train.trainer import run_training

    recipe = load_recipe(_recipe(tmp_path, manifest, split="kfold", epochs=3),
                         ["data.folds=3", "data.val_fraction=0"])
    whole = run_training(recipe, tmp_path / "whole", data_root=None,
                         cache_dir=tmp_path / "cache", progress=False)

    trained, cut = [], {"fold2-of-3"}
    original_run = trainer_module.FoldTrainer.run

    def run_until_the_second_fold(self, split, *args, **kwargs):
        trained.append(split.name)
        if split.name in cut:
            cut.clear()
            self.directory.mkdir(parents=True, exist_ok=True)
            (self.directory / "best.weights.h5").write_bytes(b"cut mid-fold")
            raise RuntimeError("the machine stopped")
        return original_run(self, split, *args, **kwargs)

    monkeypatch.setattr(trainer_module.FoldTrainer, "run", run_until_the_second_fold)
    stopped = tmp_path / "stopped"
    with pytest.raises(RuntimeError, match="the machine stopped"):
        run_training(recipe, stopped, data_root=None, cache_dir=tmp_path / "cache", progress=False)
    first_model = stopped / "split0_seed0" / "model_int8.tflite"
    kept_bytes, kept_time = first_model.read_bytes(), first_model.stat().st_mtime_ns

    trained.clear()
    resumed = run_training(recipe, stopped, data_root=None, cache_dir=tmp_path / "cache",
                           progress=False, resume=True)
    assert trained == ["fold2-of-3", "fold3-of-3"]
    assert first_model.read_bytes() == kept_bytes and first_model.stat().st_mtime_ns == kept_time
    assert (stopped / "split1_seed0" / "best.weights.h5").read_bytes() != b"cut mid-fold"
    # per-epoch losses, not the history's seconds, which differ run to run
    assert resumed.summary["ua"]["values"] == pytest.approx(whole.summary["ua"]["values"])
    assert [f.metrics["int8"]["ua"] for f in resumed.folds] == pytest.approx(
        [f.metrics["int8"]["ua"] for f in whole.folds])
    for again, first in zip(resumed.folds, whole.folds):
        assert [h["loss"] for h in again.history] == pytest.approx([h["loss"] for h in first.history])
    assert json.loads((stopped / "run.json").read_text())["folds"][0]["directory"] == "split0_seed0"
    assert (stopped / "report.md").exists()


def _cut_after(monkeypatch, trainer_module, cut_here):
    """Make training stop (as a machine would) right after the epoch state
    for which ``cut_here(epoch, stopped)`` holds was written."""
    original = trainer_module.FoldTrainer.keep_state

    def keep_state_then_maybe_stop(self, *args, stopped, history, **kwargs):
        original(self, *args, stopped=stopped, history=history, **kwargs)
        if cut_here(len(history) - 1, stopped):
            raise RuntimeError("the machine stopped")

    monkeypatch.setattr(trainer_module.FoldTrainer, "keep_state", keep_state_then_maybe_stop)


def _epochs_trained(monkeypatch, trainer_module) -> list[int]:
    trained, original = [], trainer_module.FoldTrainer.epoch_batches

    def recording(self, train, epoch):
        trained.append(epoch)
        return original(self, train, epoch)

    monkeypatch.setattr(trainer_module.FoldTrainer, "epoch_batches", recording)
    return trained


@pytest.mark.parametrize("cut", ["mid-training", "at-early-stop", "with-speaker-adversary"])
def test_a_fold_cut_mid_training_resumes_from_its_last_epoch(tensorflow_available, tmp_path,
                                                             manifest, monkeypatch, cut):
    """A fold cut after an epoch resumes from that epoch, not from the start,
    and ends where a fold never cut ends: the same per-epoch losses and
    validation scores, the same selected epoch and test outputs. Dropout is
    on (0.3, the shipped recipe's rate): its masks are drawn from (seed,
    epoch) like the batches, not from where a process's random stream stood.
    Cut at the epoch where early stopping ended training, it trains no
    further epoch."""
    from emoedge.train import trainer as trainer_module
    from emoedge.train.epoch_state import FILE_NAME
    from emoedge.train.recipe import load_recipe
    from emoedge.train.trainer import run_training

    settings = ["model.dropout=0.3", "training.ema_decay_per_epoch=0.5"]
    if cut == "at-early-stop":
        settings += ["training.min_epochs=2", "training.patience=1"]
    if cut == "with-speaker-adversary":  # its head and reversal strength resume too
        settings += ["training.speaker_adversary_weight=0.5"]
    recipe = load_recipe(_recipe(tmp_path, manifest, epochs=6), settings)
    whole = run_training(recipe, tmp_path / "whole", data_root=None, export=False,
                         cache_dir=tmp_path / "cache", progress=False).folds[0]
    last = len(whole.history) - 1
    if cut == "at-early-stop":
        assert last < 5, "the recipe must stop early for this case to mean anything"
        cut_here = lambda epoch, stopped: stopped  # noqa: E731
    else:
        cut_here = lambda epoch, stopped: epoch == 2  # noqa: E731

    with monkeypatch.context() as patched:
        _cut_after(patched, trainer_module, cut_here)
        with pytest.raises(RuntimeError, match="the machine stopped"):
            run_training(recipe, tmp_path / "cut", data_root=None, export=False,
                         cache_dir=tmp_path / "cache", progress=False)
    fold = tmp_path / "cut" / "split0_seed0"
    assert (fold / FILE_NAME).exists() and not (fold / "metrics.json").exists()

    trained = _epochs_trained(monkeypatch, trainer_module)
    resumed = run_training(recipe, tmp_path / "cut", data_root=None, export=False,
                           cache_dir=tmp_path / "cache", progress=False, resume=True).folds[0]
    assert trained == ([] if cut == "at-early-stop" else list(range(3, 6)))
    figures = ("loss", "val", "val_raw") + (("speaker_loss",) if "adversary" in cut else ())
    for figure in figures:
        assert [h[figure] for h in resumed.history] == pytest.approx(
            [h[figure] for h in whole.history], rel=1e-5)
    assert resumed.best_epoch == whole.best_epoch
    np.testing.assert_allclose([p["output"] for p in resumed.predictions],
                               [p["output"] for p in whole.predictions], rtol=1e-4, atol=1e-6)
    assert not (fold / FILE_NAME).exists()  # a saved fold keeps no epoch state


def test_an_epoch_state_from_another_split_is_refused(tmp_path, manifest):
    """The data changed under a cut run: resuming it would go on training on
    other speakers, so it is refused before any training."""
    from emoedge.train.epoch_state import EpochState, save_epoch_state
    from emoedge.train.recipe import RecipeError, load_recipe
    from emoedge.train.trainer import run_training, write_json

    recipe = load_recipe(_recipe(tmp_path, manifest, epochs=2))
    run = tmp_path / "run"
    fold = run / "split0_seed0"
    fold.mkdir(parents=True)
    write_json(run / "run.json", {"recipe": recipe.to_dict()})
    save_epoch_state(fold, EpochState(
        stopped=False, split_json='{"name": "speaker", "parts": {}}', history=[{"loss": 1.0}],
        best_score=0.5, best_epoch=0, best_weights=[], model_weights=[],
        optimizer_variables=[], average=None))
    with pytest.raises(RecipeError, match=r"split0_seed0 was cut while training on another split .*"
                       r"\(see 'split' in the meta of its epoch_state.npz\)"):
        run_training(recipe, run, data_root=None, export=False, cache_dir=tmp_path / "cache",
                     progress=False, resume=True)


def test_a_run_directory_is_never_overwritten_or_resumed_with_another_recipe(tmp_path, manifest):
    from emoedge.train.recipe import RecipeError, load_recipe
    from emoedge.train.trainer import run_training, write_json

    recipe = load_recipe(_recipe(tmp_path, manifest, epochs=3))
    run = tmp_path / "run"
    run.mkdir()
    write_json(run / "run.json", {"recipe": recipe.to_dict()})
    with pytest.raises(RecipeError, match="already holds a training run; pass --resume"):
        run_training(recipe, run, data_root=None, cache_dir=tmp_path / "cache", progress=False)
    longer = load_recipe(_recipe(tmp_path, manifest, epochs=3),
                         ["training.epochs=5", "model.width=0.75"])
    with pytest.raises(RecipeError, match=r"different recipe \(model.width: 0.5 -> 0.75; "
                                          r"training.epochs: 3 -> 5\)"):
        run_training(longer, run, data_root=None, cache_dir=tmp_path / "cache", progress=False,
                     resume=True)
    assert sorted(p.name for p in run.iterdir()) == ["run.json"]


def test_a_run_recorded_before_a_recipe_key_existed_resumes_at_its_default(tmp_path):
    from emoedge.train.recipe import load_recipe
    from emoedge.train.resume import changes_since_recorded
    from emoedge.train.trainer import write_json

    recipe = load_recipe(None)
    recorded = json.loads(json.dumps(recipe.to_dict()))
    del recorded["training"]["class_balance"]  # runs started before the key existed
    write_json(tmp_path / "run.json", {"recipe": recorded})
    assert changes_since_recorded(tmp_path, recipe) == []
    per_corpus = load_recipe(None, ['training.class_balance="per-corpus"'])
    assert changes_since_recorded(tmp_path, per_corpus) == [
        "training.class_balance: pooled -> per-corpus"]
    # a record that no longer reads as a recipe is compared as it stands
    recorded["training"]["retired_key"] = 1
    write_json(tmp_path / "run.json", {"recipe": recorded})
    assert changes_since_recorded(tmp_path, recipe) == [
        "training.class_balance: (absent) -> pooled", "training.retired_key: 1 -> (absent)"]
    # a run.json with no recipe at all differs in every section
    write_json(tmp_path / "run.json", {})
    assert [change.split(":")[0] for change in changes_since_recorded(tmp_path, recipe)] == \
        sorted(recorded)


def test_resume_refuses_a_fold_finished_on_another_split(tmp_path, manifest):
    from emoedge.train.recipe import RecipeError, load_recipe
    from emoedge.train.trainer import run_training, write_json

    recipe = load_recipe(_recipe(tmp_path, manifest, epochs=3))
    run = tmp_path / "run"
    fold = run / "split0_seed0"
    fold.mkdir(parents=True)
    write_json(run / "run.json", {"recipe": recipe.to_dict()})
    write_json(fold / "metrics.json", {"ua": 0.5, "int8": {"ua": 0.5}})
    (fold / "split.json").write_text('{"name": "speaker", "parts": {}}')
    with pytest.raises(RecipeError, match=r"split0_seed0 was trained on another split .*"
                       r"\(see its split.json\)"):
        run_training(recipe, run, data_root=None, cache_dir=tmp_path / "cache", progress=False,
                     resume=True)


def test_train_command_names_the_resume_option(tensorflow_available, tmp_path, manifest):
    import typer
    from typer.testing import CliRunner

    from emoedge.train import cli as train_cli

    app = typer.Typer()
    train_cli.register(app)
    recipe = _recipe(tmp_path, manifest, epochs=3)
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text('{"recipe": {}}')
    result = CliRunner().invoke(app, ["train", str(recipe), "-o", str(run)])
    assert result.exit_code != 0 and "pass --resume to finish it" in result.output
    result = CliRunner().invoke(app, ["train", str(recipe), "-o", str(run), "--resume"])
    assert result.exit_code != 0 and "different recipe (augment: (absent) ->" in result.output
    assert "more); resume it with the recipe" in " ".join(result.output.split())


def test_a_run_on_every_speaker_trains_and_exports_with_nothing_to_score(
        tensorflow_available, tmp_path, manifest, capsys, monkeypatch):
    """No validation or test speakers (a final model on all the data): the
    fold keeps its last epoch, exports and audits its int8 file, says in the
    report and on the terminal that nothing was held out, and a resume finds
    it finished."""
    import typer
    from typer.testing import CliRunner

    import emoedge
    from emoedge.train import cli as train_cli
    from emoedge.train.trainer import test_figures

    app = typer.Typer()
    train_cli.register(app)
    recipe = _recipe(tmp_path, manifest, epochs=2)
    everyone = ["--set", "data.val_fraction=0", "--set", "data.test_fraction=0"]
    run = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", str(recipe), "-o", str(run), "-q", *everyone])
    assert result.exit_code == 0, result.output
    assert "every speaker trained, none held out, so no test figures (1 fold(s))" in result.output
    fold = run / "split0_seed0"
    split = json.loads((fold / "split.json").read_text())["parts"]
    assert len(split["train"]["speakers"]) == 9 and not split["val"]["files"] and not split[
        "test"]["files"]
    assert json.loads((fold / "metrics.json").read_text()) == {"int8": {}}
    summary = json.loads((run / "summary.json").read_text())
    assert not {"ua", "wa", "macro_f1", "best_val"} & set(summary)
    assert json.loads((fold / "best.json").read_text())["epoch"] == 1  # the last epoch
    model = emoedge.load_model(str(fold / "model_int8.tflite"))
    assert model.metadata.provenance["test_speakers"] == []
    assert model.metadata.provenance["quantization"]["integer_only"]
    report = (run / "report.md").read_text()
    assert "Every speaker trained and none was held out, so there are no test metrics" in report
    assert "| fold1" not in report and "| speaker | 0 | 1 | - | - | - | - | - |" in report
    assert "| metric | mean | std |" not in report  # no header over an empty table
    again = CliRunner().invoke(app, ["train", str(recipe), "-o", str(run), "-q", "--resume",
                                     *everyone])
    assert again.exit_code == 0, again.output
    assert json.loads((fold / "best.json").read_text())["epoch"] == 1

    from emoedge.quantize.pipeline import QuantizeError, QuantizeOptions, quantize_run
    from emoedge.train.evaluate import evaluate_run

    assert not test_figures(evaluate_run(str(run), data_root=None, progress=False,
                                         cache_dir=str(tmp_path / "cache")))
    assert json.loads((fold / "metrics.json").read_text()) == {"int8": {}}
    with pytest.raises(QuantizeError, match=r"has no test speakers \(trained with "
                                            r"data.test_fraction = 0\?\), so nothing to evaluate"):
        quantize_run(QuantizeOptions(run_dir=str(run), cache_dir=str(tmp_path / "cache"),
                                     progress=False))

    # int8 against float on the clips it trained on: a float card of its
    # training speakers gives the model card its float column and agreement
    import os

    from emoedge.train.card_compare import read_card
    from emoedge.train.model_card import main as model_card

    # the float card names clips relative to its own data root, here not the model card's
    monkeypatch.setenv("EMOEDGE_DATA", str(tmp_path))
    floats = CliRunner().invoke(app, ["evaluate", str(run), "--cache", str(tmp_path / "cache"),
                                      "-q", "--card", str(tmp_path / "float"), "--held-out",
                                      "train"])
    assert floats.exit_code == 0, floats.output
    assert "each fold's training speakers (heard in training)" in floats.output
    float_rows = read_card(tmp_path / "float" / "card.json")["per_model"][0]["manifest"]
    assert len(float_rows["predictions"]) == 9 * 3 * 4
    speakers = [arg for k in range(9) for arg in ("--speaker", f"manifest:spk{k}")]
    card_args = [str(fold / "model_int8.tflite"), "--data", str(manifest.parent), "--source",
                 f"manifest:{manifest}", *speakers, "--float-card", str(tmp_path / "float" /
                                                                         "card.json")]
    assert model_card([*card_args, "--out", str(tmp_path / "card")]) == 0
    (entry,) = read_card(tmp_path / "card" / "card.json")["per_model"][0].values()
    def clip(root, path):  # each card names a clip relative to its own data root
        return os.path.realpath(os.path.join(root, path))

    by_path = {clip(tmp_path, row["path"]): row["clean"] for row in float_rows["predictions"]}
    rows = entry["predictions"]
    assert len(rows) == len(by_path)
    assert entry["agreement_with_float"] == pytest.approx(
        np.mean([by_path[clip(manifest.parent, row["path"])] == row["clean"] for row in rows]))
    assert entry["float"]["ua"] == pytest.approx(float_rows["clean"]["ua"])
    assert "int8 agreement with float" in (tmp_path / "card" / "card.md").read_text()
    # a float card that lacks clips scored, or one of several models, is refused
    float_rows["predictions"] = float_rows["predictions"][1:]
    short = {"data_root": str(tmp_path), "per_model": [{"manifest": float_rows}]}
    (tmp_path / "short.json").write_text(json.dumps(short))
    card_args[-1] = str(tmp_path / "short.json")
    capsys.readouterr()
    assert model_card([*card_args, "--out", str(tmp_path / "c2")]) == 2
    assert "the float card has no label for 1 of the 108 manifest clips" in capsys.readouterr().err
    (tmp_path / "two.json").write_text(json.dumps({**short, "per_model": short["per_model"] * 2}))
    card_args[-1] = str(tmp_path / "two.json")
    assert model_card([*card_args, "--out", str(tmp_path / "c3")]) == 2
    assert "two.json holds 2 models; give the card of one fold" in capsys.readouterr().err


def test_training_on_shorter_crops_still_scores_and_exports_whole_windows(
        tensorflow_available, tmp_path, manifest, monkeypatch):
    """train_window_ms: batches are crops of that length; validation, test,
    the saved spec and the int8 file take whole windows, and evaluate
    re-derives the same metrics from the saved weights."""
    import emoedge
    from emoedge.train import trainer as trainer_module
    from emoedge.train.evaluate import evaluate_run
    from emoedge.train.recipe import load_recipe
    from emoedge.train.trainer import run_training

    recipe = load_recipe(_recipe(tmp_path, manifest), ["window.train_window_ms=300"])
    crop, whole = (recipe.frontend.frames_in_ms(ms) for ms in (300, 500))
    drawn = set()
    original = trainer_module.training_batches

    def recording_batches(*args, **kwargs):
        for x, y, w in original(*args, **kwargs):
            drawn.add(x.shape[1])
            yield x, y, w

    monkeypatch.setattr(trainer_module, "training_batches", recording_batches)
    result = run_training(recipe, tmp_path / "run", data_root=None, cache_dir=tmp_path / "cache",
                          progress=False)
    (fold,) = result.folds
    assert drawn == {crop} and crop < whole
    assert fold.metrics["ua"] >= 0.8 and fold.metrics["int8"]["ua"] >= 0.7
    assert all("val" in h for h in fold.history)  # validation scored whole windows each epoch
    directory = tmp_path / "run" / "split0_seed0"
    assert json.loads((directory / "spec.json").read_text())["frames"] == whole
    model = emoedge.load_model(directory / "model_int8.tflite")
    assert model.metadata.window_ms == 500 and model.metadata.input.shape[1] == whole
    again = evaluate_run(str(tmp_path / "run"), data_root=None, cache_dir=str(tmp_path / "cache"),
                         progress=False)
    assert again["ua"]["values"] == pytest.approx([fold.metrics["ua"]])


def test_short_clip_padding_is_a_recipe_choice_the_model_file_carries(
        tensorflow_available, tmp_path, manifest):
    import emoedge
    from emoedge.train.recipe import RecipeError, load_recipe
    from emoedge.train.trainer import run_training

    with pytest.raises(RecipeError, match="short_clip_padding must be one of noise-floor, "
                                          "repeat, got 'mirror'"):
        load_recipe(_recipe(tmp_path, manifest), ['window.short_clip_padding="mirror"'])
    recipe = load_recipe(_recipe(tmp_path, manifest, epochs=2),
                         ['window.short_clip_padding="repeat"', "window.window_ms=1500"])
    result = run_training(recipe, tmp_path / "run", data_root=None, cache_dir=tmp_path / "cache",
                          progress=False)
    model = emoedge.load_model(pathlib.Path(result.folds[0].directory) / "model_int8.tflite")
    assert model.metadata.short_clip_padding == "repeat"
    assert model.metadata.provenance["recipe"]["window"]["short_clip_padding"] == "repeat"


def test_training_crops_longer_than_the_window_are_refused(tmp_path, manifest):
    from emoedge.train.recipe import RecipeError, load_recipe

    with pytest.raises(RecipeError, match=r"train_window_ms must be 0 \(whole windows\) or at "
                                          r"most window_ms \(500\), got 700"):
        load_recipe(_recipe(tmp_path, manifest), ["window.train_window_ms=700"])


def test_speaker_mean_run_trains_scores_as_a_float_card_and_refuses_export(
        tensorflow_available, tmp_path, manifest, capsys, monkeypatch):
    import typer
    from typer.testing import CliRunner

    from emoedge.quantize.pipeline import QuantizeOptions, quantize_run
    from emoedge.train import cli as train_cli
    from emoedge.train import seed_compare
    from emoedge.train.evaluate import evaluate_run, float_card
    from emoedge.train.recipe import RecipeError, load_recipe
    from emoedge.train.speaker_norm import OffsetClips
    from emoedge.train.trainer import open_finished_run, run_training

    recipe = load_recipe(_recipe(tmp_path, manifest, epochs=4), ["model.input_norm=speaker-mean"])
    with pytest.raises(RecipeError, match="cannot be exported"):
        run_training(recipe, tmp_path / "refused", data_root=None, cache_dir=tmp_path / "cache",
                     progress=False)
    assert not (tmp_path / "refused").exists()
    trained = run_training(recipe, tmp_path / "run", data_root=None, cache_dir=tmp_path / "cache",
                           progress=False, export=False)
    (fold,) = trained.folds
    # evaluate shifts the features as training did: the same test metrics
    again = evaluate_run(str(tmp_path / "run"), data_root=None, cache_dir=str(tmp_path / "cache"),
                         progress=False)
    assert again["ua"]["values"] == pytest.approx(trained.summary["ua"]["values"])
    # the float card of the test speakers is the trainer's own test score
    card = float_card(str(tmp_path / "run"), held_out="test", data_root=None,
                      cache_dir=str(tmp_path / "cache"), progress=False)
    ((corpus, entry),) = card["per_model"][0].items()
    assert entry["clean"]["ua"] == pytest.approx(fold.metrics["ua"])
    assert entry["clips"] == int(np.sum(fold.metrics["confusion"]))
    # shifted by a few heard clips instead: the same clips, scored again
    heard = float_card(str(tmp_path / "run"), held_out="test", data_root=None,
                       speaker_shift=OffsetClips(heard_clips=2),
                       cache_dir=str(tmp_path / "cache"), progress=False)
    assert heard["speaker_shift"] == "each held-out clip by 2 other clips' mean"
    assert heard["held_out"] == card["held_out"] and "speaker_shift" not in card
    assert [r["path"] for r in heard["per_model"][0][corpus]["predictions"]] == [
        r["path"] for r in entry["predictions"]]
    # a device that heard nothing, and files of unknown speakers scored one
    # by one: each reaches the shift with its own setting and says so
    from emoedge.train import trainer

    shifts_asked = []
    normalise = trainer.normalise_by_speaker

    def spy(*args, **kwargs):
        shifts_asked.append(kwargs["held_out"])
        return normalise(*args, **kwargs)

    monkeypatch.setattr(trainer, "normalise_by_speaker", spy)
    shifts = (OffsetClips(heard_clips=0), OffsetClips(own_clip=True))
    for shift, words in zip(shifts, ("not at all for held-out speakers",
                                     "each held-out clip by its own mean")):
        other = float_card(str(tmp_path / "run"), held_out="test", data_root=None,
                           speaker_shift=shift, cache_dir=str(tmp_path / "cache"),
                           progress=False)
        assert other["speaker_shift"].startswith(words)
    assert shifts_asked == list(shifts)
    for changed in ({"gates_dbfs": (-60.0,)}, {"fill_zeros": True}):
        with pytest.raises(RecipeError, match="gates and filled zeros apply to a "
                                              "window-normalised run"):
            float_card(str(tmp_path / "run"), held_out="test", data_root=None, **changed,
                       cache_dir=str(tmp_path / "cache"), progress=False)
    # nor does quantize write a model file the runtime would mis-read
    with pytest.raises(RecipeError, match="cannot be exported"):
        quantize_run(QuantizeOptions(run_dir=str(tmp_path / "run"),
                                     cache_dir=str(tmp_path / "cache"), progress=False))
    assert not (tmp_path / "run" / "quantized").exists()

    app = typer.Typer()
    train_cli.register(app)
    runner = CliRunner()
    for name in ("a", "b"):
        command = runner.invoke(app, ["evaluate", str(tmp_path / "run"), "--cache",
                                      str(tmp_path / "cache"), "--quiet", "--held-out", "val",
                                      "--seed", "0", "--card", str(tmp_path / name)])
        assert command.exit_code == 0, command.output
        assert "val speakers (float models)" in command.output
    for option, words in ((["--own-clip"], "features shifted each held-out clip by its own mean"),
                          (["--heard-clips", "0"], "features shifted not at all")):
        command = runner.invoke(app, ["evaluate", str(tmp_path / "run"), "--cache",
                                      str(tmp_path / "cache"), "--quiet", "--held-out", "val",
                                      "--card", str(tmp_path / "shifted"), *option])
        assert command.exit_code == 0 and words in command.output, command.output
    assert seed_compare.main(["--control", str(tmp_path / "a" / "card.json"),
                              "--candidate", str(tmp_path / "b" / "card.json")]) == 0
    # both cards name the machine that trained the fold, so no machine note
    assert card["models"][0]["trained_on"] == json.loads(
        (tmp_path / "run" / "split0_seed0" / "machine.json").read_text())
    assert "note:" not in capsys.readouterr().err
    for arguments, message in ((["--seed", "7"], "no fold trained with seed 7"),
                               (["--held-out", "all"], "must be 'val', 'test' or 'train'"),
                               (["--own-clip", "--heard-clips", "2"], "give one"),
                               (["--heard-clips", "-1"], "0 or more")):
        command = runner.invoke(app, ["evaluate", str(tmp_path / "run"), "--cache",
                                      str(tmp_path / "cache"), "--quiet", "--card",
                                      str(tmp_path / "c"), *arguments])
        assert command.exit_code != 0 and message in command.output, command.output
    # how rough a device's offsets would be, per corpus of the run
    from emoedge.train import offset_noise

    capsys.readouterr()
    assert offset_noise.main([str(tmp_path / "run"), "--cache", str(tmp_path / "cache"),
                              "--heard", "1", "2"]) == 0
    header, _, *rows = capsys.readouterr().out.splitlines()
    assert header == ("| corpus | speakers | between speakers | K=1 | K=2 | own clip "
                      "| nothing heard |")
    assert len(rows) == len({clip.corpus for clip in open_finished_run(
        str(tmp_path / "run"), None).clips})
    assert offset_noise.main([str(tmp_path / "gone"), "--cache", str(tmp_path / "cache")]) == 2
    assert "error:" in capsys.readouterr().err


def test_a_float_card_of_validation_speakers_needs_a_run_that_had_them(
        tensorflow_available, tmp_path, manifest):
    from emoedge.train.evaluate import float_card
    from emoedge.train.recipe import RecipeError, load_recipe
    from emoedge.train.speaker_norm import OffsetClips
    from emoedge.train.trainer import run_training

    recipe = load_recipe(_recipe(tmp_path, manifest, split="kfold", epochs=1),
                         ["data.folds=2", "data.val_fraction=0.0"])
    run_training(recipe, tmp_path / "run", data_root=None, cache_dir=tmp_path / "cache",
                 progress=False, export=False)
    with pytest.raises(RecipeError, match="no val speakers"):
        float_card(str(tmp_path / "run"), held_out="val", data_root=None,
                   cache_dir=str(tmp_path / "cache"), progress=False)
    for shift in ({"heard_clips": 2}, {"heard_clips": 0}, {"own_clip": True}):
        with pytest.raises(RecipeError, match="apply to a speaker-shifted run"):
            float_card(str(tmp_path / "run"), held_out="test", data_root=None,
                       speaker_shift=OffsetClips(**shift), cache_dir=str(tmp_path / "cache"),
                       progress=False)


def test_a_run_trained_with_time_pooling_saves_and_reloads_it(tensorflow_available, tmp_path,
                                                               manifest):
    # The pooling chosen in the recipe reaches the fold's spec.json, so the
    # saved weights load into the graph they were trained in, and evaluating
    # the run again gives its own figures back.
    from emoedge.train.evaluate import evaluate_run
    from emoedge.train.recipe import load_recipe
    from emoedge.train.trainer import load_fold_model, run_training

    recipe = load_recipe(_recipe(tmp_path, manifest, architecture="cnn2d", epochs=2),
                         ['model.pooling="time-average-max"', "model.width=0.25"])
    result = run_training(recipe, tmp_path / "run", data_root=None,
                          cache_dir=tmp_path / "cache", progress=False, export=False)
    (fold,) = result.folds
    spec, model = load_fold_model(fold.directory)
    assert spec.pooling == "time-average-max"
    assert model.get_layer("time_max") is not None
    assert "(width 0.25, pooling `time-average-max`)" in (tmp_path / "run" / "report.md").read_text()
    again = evaluate_run(str(tmp_path / "run"), data_root=None,
                         cache_dir=str(tmp_path / "cache"), progress=False)
    assert again["ua"]["values"] == pytest.approx(result.summary["ua"]["values"])


@pytest.mark.parametrize("started_with", [True, False])
def test_a_run_resumes_only_with_the_keep_epoch_weights_it_started_with(tmp_path, manifest,
                                                                        started_with):
    from emoedge.train.recipe import RecipeError, load_recipe
    from emoedge.train.resume import check_kept_epoch_weights
    from emoedge.train.trainer import run_training, write_json

    recipe = load_recipe(_recipe(tmp_path, manifest, epochs=3))
    run = tmp_path / "run"
    run.mkdir()
    write_json(run / "run.json", {"recipe": recipe.to_dict(), "keep_epoch_weights": started_with})
    started = "with" if started_with else "without"
    with pytest.raises(RecipeError, match=f"was started {started} --keep-epoch-weights; "
                                          f"resume it {started} the flag"):
        run_training(recipe, run, data_root=None, cache_dir=tmp_path / "cache", progress=False,
                     resume=True, keep_epoch_weights=not started_with)
    assert sorted(p.name for p in run.iterdir()) == ["run.json"]
    check_kept_epoch_weights(run, started_with)
    # a run recorded before the flag was recorded resumes either way
    write_json(run / "run.json", {"recipe": recipe.to_dict()})
    check_kept_epoch_weights(run, not started_with)


def test_seed_cards_script_scores_each_seed_once_and_keeps_its_card(
        tensorflow_available, tmp_path, manifest):
    import gzip
    import os
    import subprocess
    import sys

    from emoedge.train.recipe import load_recipe
    from emoedge.train.trainer import run_training

    recipe = load_recipe(_recipe(tmp_path, manifest, architecture="cnn2d", epochs=2))
    run_training(recipe, tmp_path / "screen_s0", data_root=None, cache_dir=tmp_path / "cache",
                 progress=False, export=False)
    script = pathlib.Path(__file__).resolve().parents[1] / "scripts" / "seed_cards.sh"
    env = dict(os.environ, EMOEDGE_DATA=str(tmp_path), EMOEDGE_CACHE=str(tmp_path / "cache"),
               EMOEDGE_CARDS_DIR=str(tmp_path / "cards"),
               PATH=f"{pathlib.Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    (tmp_path / "cards").mkdir()
    machine = "avx512" if " avx512f" in pathlib.Path("/proc/cpuinfo").read_text() else "avx2"
    kept = tmp_path / "cards" / f"screen_fold2_seed0_{machine}.card.json.gz"

    def score():
        subprocess.run(["bash", str(script), "screen", "2", str(tmp_path / "screen"), "0"],
                       env=env, check=True, capture_output=True, text=True)
        return json.loads(gzip.decompress(kept.read_bytes()))

    card = score()
    assert card == json.loads((tmp_path / "screen_card_s0" / "card.json").read_text())
    assert card["held_out"] == "each fold's val speakers (float models)"
    assert card["models"][0]["path"] == str(tmp_path / "screen_s0" / "split0_seed0")
    (entry,) = card["per_model"][0].values()
    # the gated and filled columns ride along
    assert {"clean", "gate-60", "fill-zeros"} <= set(entry["predictions"][0])
    # a scored seed is not scored again: its run may be gone
    (tmp_path / "screen_s0").rename(tmp_path / "moved")
    assert score() == card


def test_screen_seeds_script_trains_each_seed_on_the_fold_and_resumes_a_cut_one(
        tensorflow_available, tmp_path, manifest):
    import os
    import subprocess
    import sys

    group = ["manifest:spk0", "manifest:spk1", "manifest:spk2"]
    recipe = tmp_path / "screen.toml"
    # the shipped recipe trains on every speaker (split "speaker"); a screen is one fold
    recipe.write_text(RECIPE.format(manifest=manifest, split="speaker", architecture="cnn1d", epochs=2)
                      .replace("folds = 3", f"fold_groups = [{json.dumps(group)}, "
                               '["manifest:spk3", "manifest:spk4", "manifest:spk5"]]'))
    script = pathlib.Path(__file__).resolve().parents[1] / "scripts" / "screen_seeds.sh"
    env = dict(os.environ, EMOEDGE_DATA=str(tmp_path), EMOEDGE_CACHE=str(tmp_path / "cache"),
               EMOEDGE_RECIPE=str(recipe), EMOEDGE_SEEDS="0 1",
               PATH=f"{pathlib.Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    prefix = tmp_path / "screen"

    def screen(fold="1"):
        return subprocess.run(["bash", str(script), fold, str(prefix), "--set", "model.dropout=0.2"],
                              env=env, capture_output=True, text=True)

    assert screen().returncode == 0
    for seed in (0, 1):
        fold = prefix.parent / f"screen_s{seed}" / f"split0_seed{seed}"
        parts = json.loads((fold / "split.json").read_text())["parts"]
        assert sorted(parts["test"]["speakers"]) == group
        assert len(parts["val"]["speakers"]) == 2  # a quarter of the 6 training speakers, rounded
        kept = json.loads((prefix.parent / f"screen_s{seed}" / "run.json").read_text())["recipe"]
        assert kept["training"]["seeds"] == [seed] and kept["model"]["dropout"] == 0.2
        assert kept["data"]["val_by_corpus"] is True and kept["data"]["split"] == "kfold"

    # a finished seed is left alone; one cut before its report resumes with the same options
    finished = (prefix.parent / "screen_s0" / "report.md").stat().st_mtime_ns
    (prefix.parent / "screen_s1" / "report.md").unlink()
    again = screen()
    assert again.returncode == 0, again.stderr
    assert "seed 0: finished before, left alone" in (prefix.parent / "screen_s0.log").read_text()
    assert (prefix.parent / "screen_s0" / "report.md").stat().st_mtime_ns == finished
    assert (prefix.parent / "screen_s1" / "report.md").exists()

    refused = screen(fold="3")
    assert refused.returncode != 0
    assert "fold 3 is not one of the recipe's 1-2" in refused.stderr


def test_an_ensemble_card_averages_the_members_of_each_split(
        tensorflow_available, tmp_path, manifest, capsys, monkeypatch):
    """A model averaged with itself scores as the model alone; where two
    seeds agree on a clip, their average does too; members scored on other
    clips, other labels or a single model are refused."""
    import gzip

    from emoedge.train.ensemble_card import ensemble_card, main
    from emoedge.train.evaluate import float_card, fold_outputs, run_features
    from emoedge.train.recipe import RecipeError, load_recipe
    from emoedge.train.trainer import open_finished_run, run_training

    def train(name, overrides):
        recipe = load_recipe(_recipe(tmp_path, manifest, epochs=2), overrides)
        run_training(recipe, tmp_path / name, data_root=None, cache_dir=tmp_path / "cache",
                     progress=False, export=False)
        return str(tmp_path / name)

    seeds = train("seeds", ["training.seeds=[0, 1]"])
    cache = str(tmp_path / "cache")
    single = float_card(seeds, held_out="test", data_root=None, seed=0, cache_dir=cache,
                        progress=False)
    alone = train("alone", ["training.seeds=[0]"])
    doubled = ensemble_card([alone, alone], held_out="test", data_root=None, cache_dir=cache,
                            progress=False)
    assert doubled["per_model"] == single["per_model"]
    assert len(doubled["models"]) == 2

    both = ensemble_card([seeds], held_out="test", data_root=None, cache_dir=cache,
                         progress=False)
    assert len(both["per_model"]) == 1 and len(both["models"]) == 2
    assert both["ensemble"] == "clip probabilities averaged over the 2 models of 1 split(s)"
    assert both["held_out"] == single["held_out"]
    other = float_card(seeds, held_out="test", data_root=None, seed=1, cache_dir=cache,
                       progress=False)
    rows = [card["per_model"][0]["manifest"]["predictions"] for card in (single, other, both)]
    agreed = [(a["clean"], c["clean"]) for a, b, c in zip(*rows, strict=True)
              if a["clean"] == b["clean"]]
    assert agreed and all(a == c for a, c in agreed)
    finished = open_finished_run(seeds, None)
    features = run_features(finished, cache, progress=False)
    labels = list(finished.recipe.output_names)
    probabilities = [fold_outputs(finished, fold, features, labels, "test")[1]
                     for fold in finished.record["folds"]]
    mean = np.mean(probabilities, axis=0)
    assert [labels[i] for i in mean.argmax(axis=1)] == [row["clean"] for row in rows[2]]
    # the seeds' probabilities differ, so a member given alone would not pass
    assert not np.allclose(*probabilities)

    with pytest.raises(RecipeError, match="at least two fold models; 1 given"):
        ensemble_card([alone], held_out="test", data_root=None, cache_dir=cache, progress=False)
    with pytest.raises(ValueError, match="'val' or 'test'"):
        ensemble_card([alone, alone], held_out="train", data_root=None, cache_dir=cache)
    reordered = train("reordered", ['data.labels=["happy", "neutral", "sad"]'])
    with pytest.raises(RecipeError, match="has labels .*, the first run"):
        ensemble_card([alone, reordered], held_out="test", data_root=None, cache_dir=cache,
                      progress=False)
    shuffled = train("shuffled", ["data.test_fraction=0.3"])
    with pytest.raises(RecipeError, match="score other clips in split"):
        ensemble_card([alone, shuffled], held_out="test", data_root=None, cache_dir=cache,
                      progress=False)

    # CI sets EMOEDGE_DATA, which the command would take as the root its card
    # names clips against; the card compared here was made without a root.
    monkeypatch.delenv("EMOEDGE_DATA", raising=False)
    out = tmp_path / "ensemble.card.json.gz"
    assert main([seeds, "--held-out", "test", "-o", str(out), "--cache", cache, "-q"]) == 0
    assert json.loads(gzip.decompress(out.read_bytes())) == json.loads(json.dumps(both))
    assert "| manifest |" in capsys.readouterr().out
    assert main([alone, "-o", str(tmp_path / "none.json"), "--cache", cache, "-q"]) == 2
    assert "error: an ensemble needs at least two" in capsys.readouterr().err
    assert not (tmp_path / "none.json").exists()
