"""Per-speaker feature offsets (train/speaker_norm.py): exact values and invariants."""

from __future__ import annotations

import numpy as np
import pytest

from emoedge.train.speaker_norm import (OffsetClips, apply_offset, channel_means, offset_errors,
                                        normalise_by_speaker, population_means, speaker_offset)


def _u16(rows):
    return np.array(rows, dtype=np.uint16)


def test_golden_offsets_move_each_speaker_to_the_population_mean():
    # s1's channel means are (20, 30), s2's (100, 100): the population is
    # their mean (60, 65), so s1 moves by (+40, +35) and s2 by (-40, -35).
    features = {"a": (_u16([[10, 20], [30, 40]]), _u16([[0, 0]])),
                "b": (_u16([[100, 100]]),)}
    shifted = normalise_by_speaker(features, {"a": "s1", "b": "s2"}, ["a", "b"])
    np.testing.assert_array_equal(shifted["a"][0], [[50, 55], [70, 75]])
    # the augmented copy takes its speaker's offset but not part in its mean
    np.testing.assert_array_equal(shifted["a"][1], [[40, 35]])
    np.testing.assert_array_equal(shifted["b"][0], [[60, 65]])
    assert all(a.dtype == np.uint16 for arrays in shifted.values() for a in arrays)


def test_every_speaker_ends_within_half_a_step_of_the_population_mean():
    rng = np.random.default_rng(3)
    speaker_of, features = {}, {}
    for clip in range(30):
        level = 200 + 40 * (clip % 5)
        features[f"c{clip}"] = (rng.integers(level, level + 300, (50 + clip, 8)).astype(np.uint16),)
        speaker_of[f"c{clip}"] = f"s{clip % 5}"
    training = [k for k in features if speaker_of[k] != "s4"]
    shifted = normalise_by_speaker(features, speaker_of, training)
    before = {s: channel_means(features[k][0] for k in features if speaker_of[k] == s)
              for s in set(speaker_of.values())}
    population = population_means(before, (speaker_of[k] for k in training))
    for speaker in before:
        after = channel_means(shifted[k][0] for k in shifted if speaker_of[k] == speaker)
        assert np.abs(after - population).max() <= 0.5, speaker


def test_population_weighs_each_training_speaker_the_same():
    means = {"talkative": np.array([10.0]), "quiet": np.array([30.0]), "held-out": np.array([99.0])}
    # the speaker with more frames does not pull it, and a held-out one is left out
    assert population_means(means, ["talkative", "talkative", "quiet"]) == pytest.approx([20.0])


def test_offsets_round_half_away_from_zero():
    population = np.array([10.5, 10.0, 10.0, 10.0])
    speaker = np.array([10.0, 10.5, 8.51, 11.49])
    np.testing.assert_array_equal(speaker_offset(speaker, population), [1, -1, 1, -1])
    assert speaker_offset(speaker, population).dtype == np.int32


def test_shifted_features_saturate_at_the_uint16_range():
    features = _u16([[3, 65530], [0, 65535]])
    np.testing.assert_array_equal(apply_offset(features, np.array([-5, 10], np.int32)),
                                  [[0, 65535], [0, 65535]])


def test_a_mean_over_no_frames_and_a_population_of_no_speakers_are_refused():
    with pytest.raises(ValueError, match="no feature frame"):
        channel_means([np.zeros((0, 4), np.uint16)])
    with pytest.raises(ValueError, match="no speaker"):
        population_means({"s": np.zeros(4)}, [])


def _held_out_session():
    # s1 trains; s2 is held out with three clips whose channel means are
    # 10, 20 and 60 (one channel).
    features = {"t1": (_u16([[40]]),), "t2": (_u16([[60]]),),
                "h1": (_u16([[10]]),), "h2": (_u16([[20]]),), "h3": (_u16([[60]]),)}
    speaker_of = {"t1": "s1", "t2": "s1", "h1": "s2", "h2": "s2", "h3": "s2"}
    return features, speaker_of


def test_heard_clips_shift_a_held_out_clip_by_its_speakers_other_clips():
    features, speaker_of = _held_out_session()
    # population 50; with every other clip heard, h1 is shifted by
    # 50 - mean(20, 60) = +10, h2 by 50 - 35 = +15, h3 by 50 - 15 = +35
    shifted = normalise_by_speaker(features, speaker_of, ["t1", "t2"],
                                   held_out=OffsetClips(heard_clips=5))
    assert [int(shifted[k][0][0, 0]) for k in ("h1", "h2", "h3")] == [20, 35, 95]
    # training speakers keep the mean over all their clips
    assert [int(shifted[k][0][0, 0]) for k in ("t1", "t2")] == [40, 60]
    # the default: every held-out clip takes the whole speaker's mean, 30
    whole = normalise_by_speaker(features, speaker_of, ["t1", "t2"])
    assert [int(whole[k][0][0, 0]) for k in ("h1", "h2", "h3")] == [30, 40, 80]


def test_one_heard_clip_is_another_clip_of_the_speaker_drawn_the_same_each_time():
    features, speaker_of = _held_out_session()
    first = normalise_by_speaker(features, speaker_of, ["t1", "t2"],
                                 held_out=OffsetClips(heard_clips=1))
    again = normalise_by_speaker(features, speaker_of, ["t1", "t2"],
                                 held_out=OffsetClips(heard_clips=1))
    own = {"h1": 10, "h2": 20, "h3": 60}
    for key, value in own.items():
        offset = int(first[key][0][0, 0]) - value
        others = [50 - v for k, v in own.items() if k != key]
        assert offset in others, (key, offset)
        assert int(again[key][0][0, 0]) == int(first[key][0][0, 0])


def test_no_heard_clip_leaves_held_out_clips_unshifted_and_own_clip_uses_each_clip_alone():
    features, speaker_of = _held_out_session()
    # nothing heard: the population's mean (50) is all a device knows, offset 0
    cold = normalise_by_speaker(features, speaker_of, ["t1", "t2"],
                                held_out=OffsetClips(heard_clips=0))
    assert [int(cold[k][0][0, 0]) for k in ("h1", "h2", "h3")] == [10, 20, 60]
    # a clip shifted by its own mean lands on the population's mean
    own = normalise_by_speaker(features, speaker_of, ["t1", "t2"],
                               held_out=OffsetClips(own_clip=True))
    assert [int(own[k][0][0, 0]) for k in ("h1", "h2", "h3")] == [50, 50, 50]
    # training speakers keep the mean over all their clips in both
    assert [int(cold[k][0][0, 0]) for k in ("t1", "t2")] == [40, 60]
    assert [int(own[k][0][0, 0]) for k in ("t1", "t2")] == [40, 60]


def test_heard_clips_refuse_a_negative_count_both_ways_at_once_and_a_speaker_with_one_clip():
    features, speaker_of = _held_out_session()
    with pytest.raises(ValueError, match="0 or more"):
        OffsetClips(heard_clips=-1)
    with pytest.raises(ValueError, match="give one"):
        OffsetClips(heard_clips=2, own_clip=True)
    lonely = {**features, "x": (_u16([[5]]),)}
    with pytest.raises(ValueError, match="no other clip"):
        normalise_by_speaker(lonely, {**speaker_of, "x": "s3"}, ["t1", "t2"],
                             held_out=OffsetClips(heard_clips=2))


def test_training_offsets_from_heard_clips_shift_each_training_clip_by_its_other_clips():
    features, speaker_of = _held_out_session()
    # s1's whole mean, 50, is the population; with one heard clip t1 (40)
    # takes t2's offset (50 - 60 = -10) and t2 (60) takes t1's (+10)
    shifted = normalise_by_speaker(features, speaker_of, ["t1", "t2"],
                                   trained=OffsetClips(heard_clips=1))
    assert [int(shifted[k][0][0, 0]) for k in ("t1", "t2")] == [30, 70]
    # held-out speakers keep their own setting (the default: all clips)
    assert [int(shifted[k][0][0, 0]) for k in ("h1", "h2", "h3")] == [30, 40, 80]


def test_a_recipe_draws_training_offsets_from_the_clips_it_names():
    from types import SimpleNamespace

    from emoedge.train.recipe import load_recipe
    from emoedge.train.trainer import shifted_by_speaker

    features, speaker_of = _held_out_session()
    clips = [SimpleNamespace(path=key, speaker=speaker, corpus="c")
             for key, speaker in speaker_of.items()]
    # with counts drawn from 0 to 2, t1 draws 0 (unshifted) and t2 draws 2,
    # which is all of s1's other clips (t1: offset +10)
    for overrides, values in ((["model.input_norm=speaker-both", "model.speaker_heard_clips=1"],
                               [30, 70]),
                              (["model.input_norm=speaker-both",
                                "model.speaker_heard_clips_up_to=2"], [40, 70]),
                              (["model.input_norm=speaker-mean"], [40, 60])):
        recipe = load_recipe(None, overrides)
        shifted = shifted_by_speaker(recipe, clips, features, {"t1", "t2"})
        assert [int(shifted[k][0][0, 0]) for k in ("t1", "t2")] == values, overrides


def test_training_offsets_from_heard_clips_need_a_speaker_shifted_norm_and_a_count():
    from emoedge.train.recipe import RecipeError, load_recipe

    for key in ("speaker_heard_clips", "speaker_heard_clips_up_to"):
        with pytest.raises(RecipeError, match=f"{key} applies to a speaker-shifted input_norm"):
            load_recipe(None, [f"model.{key}=5"])
        with pytest.raises(RecipeError, match=f"{key} must be 0 or more"):
            load_recipe(None, ["model.input_norm=speaker-both", f"model.{key}=-1"])
    with pytest.raises(RecipeError, match="give one"):
        load_recipe(None, ["model.input_norm=speaker-both", "model.speaker_heard_clips=5",
                           "model.speaker_heard_clips_up_to=20"])


def test_heard_counts_drawn_up_to_n_shift_each_clip_by_its_own_count_of_other_clips():
    features, speaker_of = _held_out_session()
    # population 50; the counts drawn are h1: 1, h2: 2, h3: 1. h1 hears h3
    # (offset 50 - 60 = -10), h2 hears both others (50 - 35 = +15), h3
    # hears h2 (50 - 20 = +30)
    shifted = normalise_by_speaker(features, speaker_of, ["t1", "t2"],
                                   held_out=OffsetClips(heard_clips_up_to=2))
    assert [int(shifted[k][0][0, 0]) for k in ("h1", "h2", "h3")] == [0, 35, 90]
    assert OffsetClips(heard_clips_up_to=2).words() == (
        "each held-out clip by the mean of 0 to 2 other clips, the count drawn per clip")


def test_heard_counts_up_to_n_cover_0_to_n_evenly_and_repeat_per_key():
    offset_clips = OffsetClips(heard_clips_up_to=20)
    speaker_keys = [f"k{i}" for i in range(2100)]
    counts = [len(offset_clips.clips_heard(key, speaker_keys)) for key in speaker_keys]
    seen = np.bincount(counts, minlength=21)
    assert len(seen) == 21 and seen.min() > 50, seen  # 100 expected for each count
    assert counts[:50] == [len(offset_clips.clips_heard(k, speaker_keys))
                           for k in speaker_keys[:50]]


def test_offset_clips_refuse_two_ways_at_once_and_a_draw_up_to_under_one():
    with pytest.raises(ValueError, match="give one"):
        OffsetClips(heard_clips=5, heard_clips_up_to=20)
    with pytest.raises(ValueError, match="give one"):
        OffsetClips(heard_clips_up_to=20, own_clip=True)
    with pytest.raises(ValueError, match="1 or more"):
        OffsetClips(heard_clips_up_to=0)


def test_offset_errors_are_each_clips_heard_offset_less_its_speakers_whole_one():
    features, speaker_of = _held_out_session()
    held_out = {k: features[k][0] for k in ("h1", "h2", "h3")}
    means = {"s2": channel_means(held_out.values())}
    population = np.array([50.0])
    # s2's whole mean is 30 (offset +20); with every other clip heard h1
    # takes 50 - 40 = +10, h2 50 - 35 = +15, h3 50 - 15 = +35
    errors = offset_errors(held_out, speaker_of, means, population, OffsetClips(heard_clips=5))
    np.testing.assert_array_equal(errors, [[-10], [-5], [15]])
    assert errors.dtype == np.int32
    # its own mean: 40, 30, -10 against +20; nothing heard: offset 0
    np.testing.assert_array_equal(
        offset_errors(held_out, speaker_of, means, population, OffsetClips(own_clip=True)),
        [[20], [10], [-30]])
    np.testing.assert_array_equal(
        offset_errors(held_out, speaker_of, means, population, OffsetClips(heard_clips=0)),
        [[-20], [-20], [-20]])


def test_offset_noise_rows_give_each_corpus_its_spread_and_errors():
    from emoedge.train.offset_noise import corpus_rows, markdown

    session, speaker_of = _held_out_session()
    features = {key: arrays[0] for key, arrays in session.items()}
    corpus_of = {"t1": "a", "t2": "a", "h1": "b", "h2": "b", "h3": "b"}
    # speaker means 50 (s1) and 30 (s2), population 40: whole offsets -10, +10
    (a, b) = corpus_rows(features, speaker_of, corpus_of, heard=[5])
    assert a == pytest.approx({"corpus": "a", "speakers": 1, "between": 0.0, "K=5": 10.0,
                               "own clip": 10.0, "nothing heard": 10.0})
    # b's errors: heard (-10, -5, 15), own (20, 10, -30), nothing (-10, -10, -10)
    assert b == pytest.approx({"corpus": "b", "speakers": 1, "between": 0.0,
                               "K=5": np.sqrt(350 / 3), "own clip": np.sqrt(1400 / 3),
                               "nothing heard": 10.0})
    two = {**features, "u1": _u16([[70]]), "u2": _u16([[70]])}
    (a, _) = corpus_rows(two, {**speaker_of, "u1": "s3", "u2": "s3"},
                         {**corpus_of, "u1": "a", "u2": "a"}, heard=[5])
    # population (50 + 30 + 70) / 3 = 50: offsets 0 and -20 spread by 10 about -10
    assert a["speakers"] == 2 and a["between"] == pytest.approx(10.0)
    assert markdown([b]).splitlines() == [
        "| corpus | speakers | between speakers | K=5 | own clip | nothing heard |",
        "|---|---|---|---|---|---|", "| b | 1 | 0.0 | 10.8 | 21.6 | 10.0 |"]
