"""Waveform augmentation: the noise gate, on its own and as the chain's last step."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("audiomentations")

from emoedge.train.augment import AugmentConfig, augment_waveform, fill_zeros, noise_gate  # noqa: E402

# every transform off but the gate, so the gate's effect is all that changes
ONLY_GATE = dict(gain_p=0.0, noise_p=0.0, pitch_p=0.0, speed_p=0.0, shift_p=0.0, reverb_p=0.0)


def speech_with_quiet_stretches() -> np.ndarray:
    """1 s of int16 at 16 kHz: a -20 dBFS tone, then a hiss under -70 dBFS
    (the gate's lowest threshold), twice."""
    rng = np.random.default_rng(7)
    n = np.arange(4000)
    loud = (3277 * np.sin(2 * np.pi * 220 * n / 16000)).astype(np.int16)
    quiet = np.clip(rng.normal(0, 4.0, 4000), -10, 10).astype(np.int16)
    return np.concatenate([loud, quiet, loud, quiet])


def test_noise_gate_zeroes_what_is_under_the_level_and_keeps_the_rest():
    # -60 dBFS is 32.77 in int16 units: 32 and under go, 33 and over stay
    pcm = np.array([0, 5, -32, 32, 33, -33, 1000, -32768, 32767], dtype=np.int16)
    assert noise_gate(pcm, -60.0).tolist() == [0, 0, 0, 0, 33, -33, 1000, -32768, 32767]
    assert noise_gate(pcm, -60.0).dtype == np.int16


def test_fill_zeros_lifts_only_the_exact_zeros_to_one_step_with_a_seeded_sign():
    pcm = np.array([0, 5, 0, -3, 0, 32767, -32768, 0] * 50, dtype=np.int16)
    filled = fill_zeros(pcm, seed=0)
    assert filled.dtype == np.int16
    zero = pcm == 0
    assert np.array_equal(filled[~zero], pcm[~zero])
    assert set(np.unique(filled[zero]).tolist()) == {-1, 1}
    assert np.array_equal(fill_zeros(pcm, seed=0), filled)
    assert not np.array_equal(fill_zeros(pcm, seed=1), filled)
    # a gated clip, filled, is back off the floor everywhere
    assert np.count_nonzero(fill_zeros(noise_gate(pcm, 0.0), seed=0)) == len(pcm)


def test_a_gated_copy_is_the_ungated_copy_gated_at_one_threshold_in_the_range():
    pcm = speech_with_quiet_stretches()
    ungated = augment_waveform(pcm, AugmentConfig(**ONLY_GATE), seed=3)
    gated = augment_waveform(pcm, AugmentConfig(**ONLY_GATE, gate_p=1.0), seed=3)
    assert np.array_equal(ungated, pcm)  # nothing else touched the samples
    zeroed = (gated == 0) & (ungated != 0)
    kept = gated != 0
    assert np.array_equal(gated[kept], ungated[kept])
    # one threshold: every zeroed sample is quieter than every kept one
    assert np.abs(ungated[zeroed]).max() < np.abs(ungated[kept]).min()
    low, high = (32768.0 * 10 ** (dbfs / 20) for dbfs in AugmentConfig().gate_dbfs)
    assert np.abs(ungated[zeroed]).max() < high
    assert np.abs(ungated[kept]).min() >= low
    # the quiet stretches went to exact zeros; the tone stayed
    assert not gated[4000:8000].any() and pcm[4000:8000].any()
    assert np.array_equal(gated[:4000][np.abs(pcm[:4000]) >= high],
                          pcm[:4000][np.abs(pcm[:4000]) >= high])


def test_the_gate_does_not_change_the_other_transforms_draws():
    pcm = speech_with_quiet_stretches()
    noisy = dict(ONLY_GATE, noise_p=1.0, gain_p=1.0)
    ungated = augment_waveform(pcm, AugmentConfig(**noisy), seed=11)
    gated = augment_waveform(pcm, AugmentConfig(**noisy, gate_p=1.0), seed=11)
    kept = gated != 0
    assert kept.sum() > 0 and (~kept).sum() > 0
    assert np.array_equal(gated[kept], ungated[kept])


def test_gate_p_is_a_seeded_chance_per_copy():
    pcm = speech_with_quiet_stretches()
    config = AugmentConfig(**ONLY_GATE, gate_p=0.5)
    copies = [augment_waveform(pcm, config, seed=s) for s in range(40)]
    gated = sum(int(not copy[4000:8000].any()) for copy in copies)
    assert 10 <= gated <= 30
    assert all(np.array_equal(copy, augment_waveform(pcm, config, seed=s))
               for s, copy in enumerate(copies[:5]))


def test_strength_zero_turns_the_gate_off_with_everything_else():
    pcm = speech_with_quiet_stretches()
    config = AugmentConfig(**ONLY_GATE, gate_p=1.0, strength=0.0)
    assert np.array_equal(augment_waveform(pcm, config, seed=0), pcm)


def test_for_corpus_keeps_the_gate_only_on_the_named_corpora():
    config = AugmentConfig(gate_p=0.3, gate_corpora=("tess", "emodb"))
    assert config.for_corpus("tess") == AugmentConfig(gate_p=0.3)
    assert config.for_corpus("ravdess") == AugmentConfig(gate_p=0.0)
    # no names: every corpus is gated, as before the field existed
    assert AugmentConfig(gate_p=0.3).for_corpus("ravdess") == AugmentConfig(gate_p=0.3)


def _clips_of_two_corpora():
    from emoedge.train.corpora import Clip

    pcm = speech_with_quiet_stretches()
    return [Clip(path="", label="happy", speaker=f"{corpus}:1", corpus=corpus, pcm=pcm.copy())
            for corpus in ("ravdess", "tess")]


def _copies_by_corpus(tmp_path, clips, **gate) -> dict[str, np.ndarray]:
    """Each clip's one augmented copy's features, by corpus, with the gate the
    only transform; and how many features the cache under ``tmp_path`` missed."""
    from dataclasses import replace

    from emoedge.train.features import FeatureCache
    from emoedge.train.recipe import load_recipe
    from emoedge.train.trainer import clip_key, compute_all_features

    recipe = replace(load_recipe(None), augment=AugmentConfig(**ONLY_GATE, **gate))
    cache = FeatureCache(tmp_path, recipe.frontend)
    features = compute_all_features(recipe, clips, {clip_key(c) for c in clips}, cache,
                                    workers=1, progress=False)
    return {c.corpus: features[clip_key(c)][1] for c in clips}, cache.stats.misses


def test_gating_one_corpus_gives_the_others_the_ungated_copies_from_the_same_cache(tmp_path):
    clips = _clips_of_two_corpora()
    ungated, _ = _copies_by_corpus(tmp_path, clips)
    all_gated, _ = _copies_by_corpus(tmp_path, clips, gate_p=1.0)
    assert not np.array_equal(all_gated["tess"], ungated["tess"])
    only_tess, misses = _copies_by_corpus(tmp_path, clips, gate_p=1.0, gate_corpora=("tess",))
    np.testing.assert_array_equal(only_tess["tess"], all_gated["tess"])
    np.testing.assert_array_equal(only_tess["ravdess"], ungated["ravdess"])
    # every feature came from the cache the first two runs filled: naming the
    # corpora changes no copy's cache key
    assert misses == 0


def test_a_gated_corpus_no_source_provides_is_refused(tmp_path):
    import soundfile

    from emoedge.train.recipe import RecipeError, load_recipe
    from emoedge.train.trainer import load_clips

    pcm = speech_with_quiet_stretches()
    for speaker in ("s1", "s2"):
        soundfile.write(tmp_path / f"{speaker}.wav", pcm, 16000, subtype="PCM_16")
    (tmp_path / "clips.csv").write_text("path,label,speaker\ns1.wav,happy,s1\ns2.wav,sad,s2\n")
    sources = [f'data.sources=["manifest:{tmp_path / "clips.csv"}"]', 'data.labels=["happy", "sad"]']
    recipe = load_recipe(None, [*sources, "augment.gate_p=0.3", 'augment.gate_corpora=["tess"]'])
    with pytest.raises(RecipeError, match=r"gate_corpora names tess, which no source "
                                          r"provides \(the sources give: manifest\)"):
        load_clips(recipe, None)
    accepted = load_recipe(None, [*sources, 'augment.gate_corpora=["manifest"]'])
    assert len(load_clips(accepted, None)) == 2
