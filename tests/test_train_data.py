"""emoedge.train data layer: corpus loaders, manifests, pickles, labels, splits."""

from __future__ import annotations

import json
import pathlib
import pickle
import random

import numpy as np
import pytest
import soundfile
from hypothesis import given, settings
from hypothesis import strategies as st

from import_probe import packages_loaded_by

from emoedge.train.data import (CANONICAL_LABELS, RANDOM_SPLIT_WARNING, Clip, ClipList,
                                DataError, check_speaker_independent, load_cremad, load_emodb,
                                load_folders, load_manifest, load_pickle, load_ravdess,
                                load_savee, load_source, load_sources, load_tess, random_split,
                                select_labels, speaker_hash, speaker_kfold, speaker_split,
                                summarise)

RATE = 16000


def _tone(seconds: float = 0.05, freq_hz: float = 440.0, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * freq_hz * t)).astype(np.float64)


def _write(root: pathlib.Path, *relatives: str) -> list[pathlib.Path]:
    """Short tones at the given paths; the format follows the extension."""
    paths = []
    for relative in relatives:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        fmt = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG"}[path.suffix.lower()]
        soundfile.write(path, _tone(), RATE, format=fmt)
        paths.append(path)
    return paths


def _by_name(clips) -> dict[str, Clip]:
    return {pathlib.Path(clip.path).name: clip for clip in clips}


def _clips(speakers, per_speaker=2, label="neutral") -> list[Clip]:
    return [Clip(path=f"/{speaker}/{index}.wav", label=label, speaker=speaker, corpus="test")
            for speaker in speakers for index in range(per_speaker)]


# --- corpora ------------------------------------------------------------------

def test_ravdess_codes_actors_and_skipped_songs(tmp_path):
    _write(tmp_path, "Actor_01/03-01-01-01-01-01-01.wav", "Actor_01/03-01-07-02-02-01-01.flac",
           "Actor_02/03-01-08-01-01-02-02.WAV", "Actor_02/03-01-02-02-01-01-02.wav",
           "Actor_02/03-02-03-01-01-01-02.wav", "Actor_02/._03-01-01-01-01-01-02.wav")
    (tmp_path / "Actor_01" / "readme.txt").write_text("not audio")
    clips = load_ravdess(tmp_path)
    named = _by_name(clips)
    assert sorted(named) == ["03-01-01-01-01-01-01.wav", "03-01-02-02-01-01-02.wav",
                             "03-01-07-02-02-01-01.flac", "03-01-08-01-01-02-02.WAV"]
    assert named["03-01-07-02-02-01-01.flac"] == Clip(
        path=str(tmp_path / "Actor_01/03-01-07-02-02-01-01.flac"), label="disgust",
        speaker="ravdess:01", corpus="ravdess", intensity="strong", sentence="02")
    assert named["03-01-08-01-01-02-02.WAV"].label == "surprised"
    assert named["03-01-08-01-01-02-02.WAV"].speaker == "ravdess:02"
    assert named["03-01-02-02-01-01-02.wav"].label == "calm"
    assert named["03-01-01-01-01-01-01.wav"].intensity == "normal"
    assert clips.notes == ("ravdess: skipped 1 file: song (vocal channel 02)",)


def test_ravdess_emotion_codes_cover_all_eight(tmp_path):
    _write(tmp_path, *(f"Actor_03/03-01-{code:02d}-01-01-01-03.wav" for code in range(1, 9)))
    labels = [clip.label for clip in load_ravdess(tmp_path)]
    assert labels == ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust",
                      "surprised"]


@pytest.mark.parametrize("name", ["03-01-09-01-01-01-01.wav", "03-01-01-01-01-01.wav",
                                  "Actor_01.wav", "03-03-01-01-01-01-01.wav"])
def test_ravdess_bad_names_are_errors_naming_the_file(tmp_path, name):
    _write(tmp_path, f"Actor_01/{name}")
    with pytest.raises(DataError, match=f"ravdess: .*{name} does not follow") as error:
        load_ravdess(tmp_path)
    assert "\n" not in str(error.value)


def test_ravdess_video_modalities_are_skipped(tmp_path):
    _write(tmp_path, "Actor_01/01-01-01-01-01-01-01.wav", "Actor_01/03-01-01-01-01-01-01.wav")
    clips = load_ravdess(tmp_path)
    assert len(clips) == 1
    assert clips.notes == ("ravdess: skipped 1 file: not audio-only (modality 01)",)


def test_tess_typo_pleasant_surprise_and_fear(tmp_path):
    _write(tmp_path, "OAF_neutral/OA_bite_neutral.wav", "OAF_neutral/OAF_back_neutral.wav",
           "YAF_pleasant_surprised/YAF_back_ps.flac", "yaf_fear/YAF_bar_fear.wav",
           "OAF_Sad/OAF_base_Sad.wav")
    named = _by_name(load_tess(tmp_path))
    assert named["OA_bite_neutral.wav"] == Clip(
        path=str(tmp_path / "OAF_neutral/OA_bite_neutral.wav"), label="neutral",
        speaker="tess:OAF", corpus="tess", sentence="bite")
    assert named["YAF_back_ps.flac"].label == "surprised"
    assert named["YAF_back_ps.flac"].speaker == "tess:YAF"
    assert named["YAF_bar_fear.wav"].label == "fearful"
    assert named["OAF_base_Sad.wav"].label == "sad"
    assert {clip.speaker for clip in named.values()} == {"tess:OAF", "tess:YAF"}


@pytest.mark.parametrize("name", ["OAF_back_calm.wav", "OAF_back.wav", "OAF_old_back_sad.wav"])
def test_tess_bad_names(tmp_path, name):
    _write(tmp_path, f"OAF_x/{name}")
    with pytest.raises(DataError, match=f"tess: .*{name} does not follow"):
        load_tess(tmp_path)


def test_emodb_letters_including_boredom(tmp_path):
    letters = {"W": "angry", "L": "boredom", "E": "disgust", "A": "fearful", "F": "happy",
               "T": "sad", "N": "neutral"}
    _write(tmp_path, *(f"03a01{letter}a.wav" for letter in letters), "16b10La.flac")
    named = _by_name(load_emodb(tmp_path))
    assert {name[5]: clip.label for name, clip in named.items() if name.startswith("03")} == letters
    assert named["16b10La.flac"] == Clip(path=str(tmp_path / "16b10La.flac"), label="boredom",
                                         speaker="emodb:16", corpus="emodb", sentence="b10")


@pytest.mark.parametrize("name", ["03a01Xa.wav", "3a01Wa.wav", "03c01Wa.wav", "03a01Wab.wav"])
def test_emodb_bad_names(tmp_path, name):
    _write(tmp_path, name)
    with pytest.raises(DataError, match=f"emodb: .*{name} does not follow"):
        load_emodb(tmp_path)


def test_savee_flat_and_per_speaker_layouts(tmp_path):
    _write(tmp_path, "AudioData/DC_a01.wav", "AudioData/JE_sa02.wav", "AudioData/JK_su15.wav",
           "KL/h03.wav", "KL/n30.wav", "dc/d07.wav", "JE/f01.flac")
    named = {(pathlib.Path(clip.path).parent.name, pathlib.Path(clip.path).name): clip
             for clip in load_savee(tmp_path)}
    assert named["AudioData", "DC_a01.wav"] == Clip(
        path=str(tmp_path / "AudioData/DC_a01.wav"), label="angry", speaker="savee:DC",
        corpus="savee", sentence="a01")
    assert named["AudioData", "JE_sa02.wav"].label == "sad"
    assert named["AudioData", "JK_su15.wav"].label == "surprised"
    assert (named["KL", "h03.wav"].label, named["KL", "h03.wav"].speaker) == ("happy", "savee:KL")
    assert named["KL", "n30.wav"].label == "neutral"
    assert (named["dc", "d07.wav"].label, named["dc", "d07.wav"].speaker) == ("disgust",
                                                                           "savee:DC")
    assert named["JE", "f01.flac"].label == "fearful"


def test_savee_unknown_speaker_and_bad_names(tmp_path):
    _write(tmp_path / "one", "AudioData/a01.wav")
    with pytest.raises(DataError, match="savee: cannot tell the speaker of .*a01.wav"):
        load_savee(tmp_path / "one")
    _write(tmp_path / "two", "DC_x01.wav")
    with pytest.raises(DataError, match="savee: .*DC_x01.wav does not follow"):
        load_savee(tmp_path / "two")


def test_cremad_fields(tmp_path):
    _write(tmp_path, "AudioWAV/1001_DFA_ANG_XX.wav", "AudioWAV/1091_IEO_HAP_HI.wav",
           "AudioWAV/1002_TIE_SAD_LO.wav", "AudioWAV/1003_ITS_FEA_MD.wav",
           "AudioWAV/1004_IWL_DIS_XX.wav", "AudioWAV/1005_MTI_NEU_XX.wav")
    named = _by_name(load_cremad(tmp_path))
    assert named["1001_DFA_ANG_XX.wav"] == Clip(
        path=str(tmp_path / "AudioWAV/1001_DFA_ANG_XX.wav"), label="angry",
        speaker="cremad:1001", corpus="cremad", intensity="unspecified", sentence="DFA")
    assert (named["1091_IEO_HAP_HI.wav"].label, named["1091_IEO_HAP_HI.wav"].intensity) == (
        "happy", "high")
    assert [named[name].label for name in ("1002_TIE_SAD_LO.wav", "1003_ITS_FEA_MD.wav",
                                           "1004_IWL_DIS_XX.wav", "1005_MTI_NEU_XX.wav")] == [
        "sad", "fearful", "disgust", "neutral"]
    assert named["1002_TIE_SAD_LO.wav"].intensity == "low"


@pytest.mark.parametrize("name", ["1001_DFA_CAL_XX.wav", "1001_DFA_ANG_ZZ.wav",
                                  "101_DFA_ANG_XX.wav"])
def test_cremad_bad_names(tmp_path, name):
    _write(tmp_path, name)
    with pytest.raises(DataError, match=f"cremad: .*{name} does not follow"):
        load_cremad(tmp_path)


@pytest.mark.parametrize("loader", [load_ravdess, load_tess, load_emodb, load_savee, load_cremad,
                                    load_folders])
def test_missing_or_empty_folders_are_errors(tmp_path, loader):
    with pytest.raises(DataError, match="is not a folder"):
        loader(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="no .*files under"):
        loader(tmp_path / "empty")


# --- folders ------------------------------------------------------------------

def test_folders_aliases_nesting_and_file_level_speakers(tmp_path):
    _write(tmp_path, "anger/a.wav", "Happiness/session 1/b.flac", "neutral/c.ogg",
           "Sadness/d.WAV", "surprise/e.wav", "fear/f.wav", "calm/g.wav")
    clips = load_folders(tmp_path)
    assert {clip.speaker: clip.label for clip in clips} == {
        "folders:anger/a": "angry", "folders:Happiness/session 1/b": "happy",
        "folders:neutral/c": "neutral", "folders:Sadness/d": "sad",
        "folders:surprise/e": "surprised", "folders:fear/f": "fearful", "folders:calm/g": "calm"}
    assert {clip.corpus for clip in clips} == {"folders"}
    assert len(clips.notes) == 1 and "each file is its own speaker" in clips.notes[0]


def test_folders_unknown_label_names_the_folder(tmp_path):
    _write(tmp_path, "angry/a.wav", "excited/b.wav")
    with pytest.raises(DataError, match="folders: unknown label folder 'excited'"):
        load_folders(tmp_path)


def test_folders_file_outside_label_folder(tmp_path):
    _write(tmp_path, "angry/a.wav", "loose.wav")
    with pytest.raises(DataError, match="loose.wav is not inside a label folder"):
        load_folders(tmp_path)


# --- manifest -----------------------------------------------------------------

def _manifest(tmp_path, text: str) -> pathlib.Path:
    path = tmp_path / "lists" / "set.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_manifest_relative_absolute_regression_rows(tmp_path):
    _write(tmp_path, "lists/audio/a.wav", "lists/audio/b.flac", "elsewhere/c.wav")
    absolute = tmp_path / "elsewhere" / "c.wav"
    csv_path = _manifest(tmp_path, "path,label,speaker,valence,arousal\n"
                                   "audio/a.wav,Anger,s1,-0.5,0.75\n"
                                   "audio/b.flac,,s2,0.25,\n"
                                   f"{absolute},happy,,,\n")
    clips = load_manifest(csv_path)
    assert list(clips) == [
        Clip(path=str(tmp_path / "lists/audio/a.wav"), label="angry", speaker="manifest:s1",
             corpus="manifest", valence=-0.5, arousal=0.75),
        Clip(path=str(tmp_path / "lists/audio/b.flac"), label="", speaker="manifest:s2",
             corpus="manifest", valence=0.25),
        Clip(path=str(absolute), label="happy", speaker=f"manifest:file:{absolute}",
             corpus="manifest")]
    assert len(clips.notes) == 1 and clips.notes[0].startswith("manifest: 1 rows: no speaker")


def test_manifest_minimal_columns(tmp_path):
    _write(tmp_path, "lists/a.wav")
    clips = load_manifest(_manifest(tmp_path, "label,path\nsad,a.wav\n"))
    assert [(clip.label, clip.speaker) for clip in clips] == [("sad", "manifest:file:a.wav")]


@pytest.mark.parametrize("row, message", [
    ("missing.wav,happy,s1,,", "line 3: audio file .*missing.wav not found"),
    ("a.wav,excited,s1,,", "line 3: unknown label 'excited'"),
    ("a.wav,,s1,,", "line 3: no label and no valence/arousal"),
    ("a.wav,happy,s1,high,", "line 3: valence 'high' is not a number"),
    ("a.wav,happy,s1,,nan", "line 3: arousal 'nan' is not finite"),
    (",happy,s1,,", "line 3: empty path"),
    ("a.wav,happy,s1,,,extra", "line 3: more cells than columns"),
])
def test_manifest_errors_name_the_line(tmp_path, row, message):
    _write(tmp_path, "lists/a.wav")
    csv_path = _manifest(tmp_path, f"path,label,speaker,valence,arousal\na.wav,sad,s0,,\n{row}\n")
    with pytest.raises(DataError, match=f"manifest: .*set.csv {message}") as error:
        load_manifest(csv_path)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("header, message", [
    ("path,label,valance", "line 1: unknown column 'valance'"),
    ("path,speaker", "line 1: the header needs columns path and label"),
])
def test_manifest_header_errors(tmp_path, header, message):
    with pytest.raises(DataError, match=message):
        load_manifest(_manifest(tmp_path, f"{header}\n"))


def test_manifest_missing_or_empty(tmp_path):
    with pytest.raises(DataError, match="manifest: cannot read .*nope.csv"):
        load_manifest(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="manifest: .*set.csv has no rows"):
        load_manifest(_manifest(tmp_path, "path,label\n"))


# --- pickle -------------------------------------------------------------------

class _CreatesMarker:
    """Unpickling this object creates a file: proof that pickle.load ran."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_pickle_refused_without_trust_and_never_unpickled(tmp_path, monkeypatch):
    marker = tmp_path / "unpickled.marker"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps([_CreatesMarker(marker)]))

    def forbidden(*args, **kwargs):
        raise AssertionError("pickle.load called without trust_pickle")

    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    for attempt in (lambda: load_pickle(path, trust_pickle=False),
                    lambda: load_source(f"pickle:{path}")):
        with pytest.raises(DataError, match="unpickling runs arbitrary code .*--trust-pickle "
                                            "\\(trust_pickle=True\\) only for files you trust"):
            attempt()
    assert not marker.exists()
    monkeypatch.undo()
    # The same file does run its code once trusted: the check above is what protects.
    with pytest.raises(DataError, match="record 0: expected a dict with key 'audio'"):
        load_pickle(path, trust_pickle=True)
    assert marker.exists()


def test_pickle_records_convert_to_16k_int16(tmp_path):
    int16 = (np.arange(800) % 200 - 100).astype(np.int16)
    records = [
        {"audio": int16, "valence": 0.5, "speaker": "p1", "label": "Happiness"},
        {"audio": _tone(0.1, rate=8000), "sample_rate": 8000, "valence": -0.25,
         "arousal": 0.5, "speaker": "p2"},
        {"audio": _tone(0.05).astype(np.float32), "sample_rate": 16000.0, "valence": 0.0},
    ]
    path = tmp_path / "set.pkl"
    path.write_bytes(pickle.dumps({"data": records}))
    clips = load_pickle(path, trust_pickle=True)
    assert list(clips) == [
        Clip(path="", label="happy", speaker="pickle:p1", corpus="pickle", valence=0.5),
        Clip(path="", label="", speaker="pickle:p2", corpus="pickle", valence=-0.25,
             arousal=0.5),
        Clip(path="", label="", speaker="pickle:record:2", corpus="pickle", valence=0.0)]
    assert clips[0].pcm.dtype == np.int16 and np.array_equal(clips[0].pcm, int16)
    assert clips[1].pcm.dtype == np.int16 and clips[1].pcm.shape == (1600,)
    assert clips[2].pcm.shape == (800,)
    assert np.array_equal(clips[2].pcm, np.rint(_tone(0.05).astype(np.float32)
                                                 .astype(np.float64) * 32768).astype(np.int16))
    assert len(clips.notes) == 1 and clips.notes[0].startswith("pickle: 1 records: no speaker")
    assert "pcm" not in repr(clips[0])


def test_pickle_plain_list_and_via_spec(tmp_path):
    path = tmp_path / "list.pkl"
    path.write_bytes(pickle.dumps([{"audio": [0.1, -0.1, 0.2], "valence": 1, "speaker": 7}]))
    clips = load_source(f"pickle:{path}", trust_pickle=True)
    assert [(clip.speaker, clip.valence) for clip in clips] == [("pickle:7", 1.0)]
    assert clips[0].pcm.tolist() == [3277, -3277, 6554]


@pytest.mark.parametrize("content, message", [
    ({"items": []}, "holds no list of records"),
    ([], "holds no list of records"),
    ([("audio", 0.5)], "record 0: expected a dict with key 'audio'"),
    ([{"audio": np.zeros((10, 2)), "valence": 0.1}], "record 0: audio must be a non-empty 1-D"),
    ([{"audio": np.zeros(0), "valence": 0.1}], "record 0: audio must be a non-empty 1-D"),
    ([{"audio": np.array(["a"]), "valence": 0.1}], "record 0: audio must be a non-empty 1-D"),
    ([{"audio": np.zeros(10), "sample_rate": -1, "valence": 0.1}],
     "record 0: sample_rate must be a positive integer"),
    ([{"audio": np.zeros(10), "sample_rate": 8000.5, "valence": 0.1}],
     "record 0: sample_rate must be a positive integer"),
    ([{"audio": np.zeros(10)}], "record 0: no label and no valence/arousal"),
    ([{"audio": np.zeros(10), "valence": "high"}], "record 0: valence 'high' is not a number"),
    ([{"audio": np.zeros(10), "valence": float("inf")}], "record 0: valence is not finite"),
    ([{"audio": np.zeros(10), "label": "excited"}], "record 0: unknown label 'excited'"),
    ([{"audio": np.array([np.nan]), "valence": 0.0}], "record 0: audio contains NaN"),
])
def test_pickle_malformed_records(tmp_path, content, message):
    path = tmp_path / "bad.pkl"
    path.write_bytes(pickle.dumps(content))
    with pytest.raises(DataError, match=f"pickle: .*bad.pkl.* {message}"):
        load_pickle(path, trust_pickle=True)


def test_pickle_unreadable_files(tmp_path):
    with pytest.raises(DataError, match="pickle: cannot read"):
        load_pickle(tmp_path / "none.pkl", trust_pickle=True)
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="junk.pkl is not a readable pickle"):
        load_pickle(tmp_path / "junk.pkl", trust_pickle=True)


def test_clip_equality_ignores_pcm_and_validates_labels():
    first = Clip(path="", label="sad", speaker="pickle:a", corpus="pickle",
                 pcm=np.zeros(3, np.int16))
    second = Clip(path="", label="sad", speaker="pickle:a", corpus="pickle",
                  pcm=np.ones(3, np.int16))
    assert first == second and hash(first) == hash(second)
    with pytest.raises(DataError, match="label 'excited' is not one of neutral, calm"):
        Clip(path="x", label="excited", speaker="s", corpus="c")
    with pytest.raises(DataError, match="has neither a label nor valence/arousal"):
        Clip(path="x", label="", speaker="s", corpus="c")
    with pytest.raises(DataError, match="has no speaker or corpus"):
        Clip(path="x", label="sad", speaker="", corpus="c")


# --- dispatch -----------------------------------------------------------------

def test_load_source_dispatches_every_kind(tmp_path):
    _write(tmp_path, "ravdess/Actor_05/03-01-05-01-01-01-05.wav", "tess/OAF_a/OAF_dog_sad.wav",
           "emodb/11a01Wa.wav", "savee/JK_n01.wav", "cremad/1010_DFA_NEU_XX.wav",
           "folders/anger/x.wav", "manifest/a.wav")
    (tmp_path / "manifest" / "m.csv").write_text("path,label\na.wav,calm\n")
    expected = {"ravdess": "ravdess:05", "tess": "tess:OAF", "emodb": "emodb:11",
                "savee": "savee:JK", "cremad": "cremad:1010", "folders": "folders:anger/x",
                "manifest": "manifest:file:a.wav"}
    for kind, speaker in expected.items():
        target = tmp_path / kind / ("m.csv" if kind == "manifest" else "")
        clips = load_source(f"{kind}:{target}")
        assert [(clip.corpus, clip.speaker) for clip in clips] == [(kind, speaker)]
    assert load_source(f" TESS:{tmp_path / 'tess'}")[0].label == "sad"  # kind: any case
    both = load_sources([f"folders:{tmp_path / 'folders'}", f"emodb:{tmp_path / 'emodb'}"])
    assert [clip.corpus for clip in both] == ["folders", "emodb"]
    assert both.notes and both.notes[0].startswith("folders:")


@pytest.mark.parametrize("spec", ["wav:/data", "/data/RAVDESS", "ravdess:", ""])
def test_load_source_bad_specs_list_the_kinds(spec):
    with pytest.raises(DataError, match="kind one of ravdess, tess, emodb, savee, cremad, "
                                        "folders, manifest, pickle$"):
        load_source(spec)


def test_load_sources_needs_a_source():
    with pytest.raises(DataError, match="no data sources given"):
        load_sources([])


def test_importing_the_data_layer_loads_no_tensorflow():
    assert packages_loaded_by(["emoedge.train.data"], ["tensorflow", "keras", "tf_keras"]) == []


# --- labels -------------------------------------------------------------------

def _labelled(*labels: str) -> ClipList:
    clips = [Clip(path=f"/{index}.wav", label=label, speaker=f"t:{index}", corpus="t")
             for index, label in enumerate(labels)]
    return ClipList(clips, ["loaded"])


def test_select_labels_merges_then_drops_with_counts():
    clips = _labelled("calm", "neutral", "surprised", "angry", "calm", "boredom")
    kept = select_labels(clips, ["neutral", "angry"], merge={"calm": "neutral"})
    assert [(clip.path, clip.label) for clip in kept] == [
        ("/0.wav", "neutral"), ("/1.wav", "neutral"), ("/3.wav", "angry"), ("/4.wav", "neutral")]
    assert kept.notes == ("loaded", "labels: merged 2 calm clips into neutral",
                          "labels: dropped 1 boredom clips (not selected)",
                          "labels: dropped 1 surprised clips (not selected)")


def test_select_labels_keeps_pcm_and_drops_regression_rows():
    pcm = np.arange(4, dtype=np.int16)
    clips = [Clip(path="", label="calm", speaker="p:1", corpus="p", pcm=pcm),
             Clip(path="", label="", speaker="p:2", corpus="p", valence=0.3)]
    kept = select_labels(clips, ["neutral"], merge={"calm": "neutral"})
    assert len(kept) == 1 and kept[0].pcm is pcm and kept[0].label == "neutral"
    assert kept.notes[-1] == "labels: dropped 1 (no label) clips (not selected)"


@pytest.mark.parametrize("labels, merge, policy, message", [
    (["neutral"], {}, "error", "labels: 2 clips have labels outside the selection "
                               r"\(angry 1, calm 1\)"),
    (["neutral", "excited"], {}, "drop", "unknown label 'excited'"),
    (["neutral"], {"calm": "relaxed"}, "drop", "unknown label 'relaxed'"),
    (["neutral"], {"calm": "angry"}, "drop", "merge target 'angry' is not among"),
    ([], {}, "drop", "select at least one label"),
    (["neutral"], {}, "keep", "policy must be 'drop' or 'error'"),
    (["sad"], {}, "drop", "no clips left with labels sad"),
])
def test_select_labels_errors(labels, merge, policy, message):
    with pytest.raises(DataError, match=message):
        select_labels(_labelled("neutral", "calm", "angry"), labels, merge=merge, policy=policy)


def test_select_labels_error_policy_passes_when_nothing_drops():
    kept = select_labels(_labelled("calm", "neutral"), ["neutral"], merge={"calm": "neutral"},
                         policy="error")
    assert [clip.label for clip in kept] == ["neutral", "neutral"]


# --- splits -------------------------------------------------------------------

def test_speaker_hash_is_pinned_sha256():
    # First 8 bytes of sha256(b"emoedge\0ravdess:01") are 3c01b22019006a79.
    assert speaker_hash("ravdess:01") == 0x3C01B22019006A79 / 2 ** 64
    assert speaker_hash("ravdess:01", "other") != speaker_hash("ravdess:01")
    assert speaker_hash("ab", "c") != speaker_hash("b", "ca")


def _assert_speaker_split(split, speakers):
    check_speaker_independent(split)
    parts = split.speakers()
    assert sorted(sum(parts.values(), [])) == sorted(speakers)
    assert all(clip.speaker in parts[part] for part, clips in split.parts().items()
               for clip in clips)


def test_speaker_split_exact_assignment_by_hash():
    speakers = [f"s{index:02d}" for index in range(40)]
    split = speaker_split(_clips(speakers), val_fraction=0.2, test_fraction=0.3, salt="x")
    parts = split.speakers()
    for speaker in speakers:
        h = speaker_hash(speaker, "x")
        assert speaker in parts["test" if h < 0.3 else "val" if h < 0.5 else "train"]
    assert split.name == "speaker" and split.warning is None
    assert dict(split.settings) == {"method": "speaker_split", "val_fraction": 0.2,
                                    "test_fraction": 0.3, "salt": "x"}


def test_speaker_split_fills_empty_parts_with_nearest_hash():
    speakers = ["a", "b", "c"]
    hashes = {speaker: speaker_hash(speaker) for speaker in speakers}
    assert min(hashes.values()) >= 0.02  # so hashing alone puts everyone in train
    split = speaker_split(_clips(speakers), val_fraction=0.01, test_fraction=0.01)
    # Test [0, 0.01) takes the lowest hash, then val [0.01, 0.02) the next lowest.
    lowest, middle, highest = sorted(speakers, key=hashes.get)
    assert split.speakers() == {"train": [highest], "val": [middle], "test": [lowest]}


@settings(max_examples=60, deadline=None)
@given(speakers=st.sets(st.text(min_size=1, max_size=8), min_size=3, max_size=40),
       val_fraction=st.sampled_from([0.05, 0.15, 0.3]),
       test_fraction=st.sampled_from([0.05, 0.15, 0.3]),
       salt=st.text(max_size=5), seed=st.integers(0, 2 ** 16))
def test_speaker_split_property(speakers, val_fraction, test_fraction, salt, seed):
    clips = _clips(sorted(speakers), per_speaker=2)
    split = speaker_split(clips, val_fraction=val_fraction, test_fraction=test_fraction,
                          salt=salt)
    _assert_speaker_split(split, speakers)
    assert all(split.parts().values()), "a part is empty with >= 3 speakers"
    random.Random(seed).shuffle(clips)
    assert speaker_split(clips, val_fraction=val_fraction, test_fraction=test_fraction,
                         salt=salt) == split


@settings(max_examples=60, deadline=None)
@given(speakers=st.sets(st.text(min_size=1, max_size=8), min_size=3, max_size=40),
       k_seed=st.integers(0, 1000), val_fraction=st.sampled_from([0.0, 0.1, 0.25]))
def test_speaker_kfold_property(speakers, k_seed, val_fraction):
    k = 2 + k_seed % (len(speakers) - 1)
    fewest_training = len(speakers) - -(-len(speakers) // k)
    if val_fraction > 0 and fewest_training < 2:
        with pytest.raises(DataError, match="cannot spare one for validation"):
            speaker_kfold(_clips(sorted(speakers)), k, val_fraction=val_fraction)
        return
    folds = speaker_kfold(_clips(sorted(speakers)), k, val_fraction=val_fraction)
    assert len(folds) == k
    tests = [set(fold.speakers()["test"]) for fold in folds]
    assert set().union(*tests) == speakers and sum(map(len, tests)) == len(speakers)
    assert max(map(len, tests)) - min(map(len, tests)) <= 1
    for fold in folds:
        _assert_speaker_split(fold, speakers)
        assert fold.train and fold.test
        assert bool(fold.val) == (val_fraction > 0)


def test_splits_do_not_depend_on_clip_order():
    clips = _clips([f"ravdess:{actor:02d}" for actor in range(1, 21)], per_speaker=3)
    shuffled = clips[::-1]
    assert speaker_split(shuffled).to_json() == speaker_split(clips).to_json()
    assert [fold.to_json() for fold in speaker_kfold(shuffled, 5)] == [
        fold.to_json() for fold in speaker_kfold(clips, 5)]
    assert (random_split(shuffled, seed=3, allow_speaker_overlap=True)
            == random_split(clips, seed=3, allow_speaker_overlap=True))
    assert speaker_split(clips, salt="a").speakers() != speaker_split(clips, salt="b").speakers()


def test_speaker_split_refuses_too_few_speakers_and_bad_fractions():
    with pytest.raises(DataError, match=r"3 speaker-independent parts need at least 3 speakers; "
                                        r"the data has 2 \(tess:OAF, tess:YAF\)"):
        speaker_split(_clips(["tess:OAF", "tess:YAF"]))
    two = speaker_split(_clips(["tess:OAF", "tess:YAF"]), val_fraction=0.0)
    assert len(two.speakers()["train"]) == len(two.speakers()["test"]) == 1 and not two.val
    with pytest.raises(DataError, match=r"val_fraction must be in \[0, 1\), got -0.1"):
        speaker_split(_clips("abc"), val_fraction=-0.1)
    with pytest.raises(DataError, match="val_fraction \\+ test_fraction must be below 1"):
        speaker_split(_clips("abc"), val_fraction=0.5, test_fraction=0.5)
    with pytest.raises(DataError, match="split: no clips"):
        speaker_split([])


def test_kfold_round_robin_by_hash():
    speakers = [f"s{index}" for index in range(7)]
    ranked = sorted(speakers, key=speaker_hash)
    folds = speaker_kfold(_clips(speakers), 3, val_fraction=0.2)
    assert [fold.speakers()["test"] for fold in folds] == [sorted(ranked[i::3]) for i in range(3)]
    assert [fold.name for fold in folds] == ["fold1-of-3", "fold2-of-3", "fold3-of-3"]
    assert dict(folds[1].settings) == {"method": "speaker_kfold", "fold": 2, "folds": 3,
                                       "explicit_folds": False, "val_fraction": 0.2, "val_corpora": None,
                                       "val_by_corpus": False, "salt": "emoedge"}
    for fold in folds:
        training = [s for s in speakers if s not in fold.speakers()["test"]]
        expected = sorted(training, key=lambda s: (speaker_hash(s, "emoedge:val"), s))[:1]
        assert fold.speakers()["val"] == expected


def test_kfold_explicit_groups_like_ravdess_actors():
    actors = [f"ravdess:{actor:02d}" for actor in range(1, 21)]
    groups = [actors[start:start + 4] for start in range(0, 20, 4)]
    clips = _clips(actors) + _clips(["tess:OAF", "tess:YAF"])
    folds = speaker_kfold(clips, folds=groups, val_fraction=0.15)
    assert [fold.speakers()["test"] for fold in folds] == groups
    for fold in folds:
        check_speaker_independent(fold)
        assert len(fold.speakers()["val"]) == 3  # 0.15 of 18 training speakers, rounded
        assert {"tess:OAF", "tess:YAF"} <= set(fold.speakers()["train"] + fold.speakers()["val"])
    assert folds[0].name == "fold1-of-5" and folds[0].settings["explicit_folds"] is True
    assert len(speaker_kfold(clips, 5, folds=groups)) == 5


@pytest.mark.parametrize("k, folds, message", [
    (1, None, "k must be an integer from 2 to the number of speakers \\(4\\), got 1"),
    (5, None, "got 5"),
    (None, None, "got None"),
    (2.0, None, "got 2.0"),
    (3, [["a"], ["b"]], "k=3 but 2 folds were given"),
    (None, [], "folds is empty"),
    (None, [["a"], []], "fold 2 must be a non-empty list"),
    (None, ["ab"], "fold 1 must be a non-empty list"),
    (None, [["a"], ["z"]], "fold 2 names unknown speaker 'z'"),
    (None, [["a", "b"], ["b"]], "speaker 'b' is in more than one fold"),
    (None, [["a", "b", "c", "d"]], "a test fold holds every speaker"),
])
def test_kfold_errors(k, folds, message):
    with pytest.raises(DataError, match=message):
        speaker_kfold(_clips("abcd"), k, folds=folds)


def test_kfold_needs_a_spare_validation_speaker():
    with pytest.raises(DataError, match="1 training speaker\\(s\\) cannot spare one"):
        speaker_kfold(_clips("ab"), 2, val_fraction=0.1)
    first, second = sorted("ab", key=speaker_hash)
    folds = speaker_kfold(_clips("ab"), 2, val_fraction=0.0)
    assert [fold.speakers() for fold in folds] == [
        {"train": [second], "val": [], "test": [first]},
        {"train": [first], "val": [], "test": [second]}]


def test_random_split_needs_explicit_consent():
    clips = _clips([f"s{index}" for index in range(5)], per_speaker=4)
    with pytest.raises(DataError, match="same speakers in train and test.*"
                                        "allow_speaker_overlap=True"):
        random_split(clips, val_fraction=0.1, test_fraction=0.2, seed=0)
    split = random_split(clips, val_fraction=0.1, test_fraction=0.2, seed=0,
                         allow_speaker_overlap=True)
    assert split.name == "random" and split.warning == RANDOM_SPLIT_WARNING
    assert dict(split.settings) == {"method": "random_split", "val_fraction": 0.1,
                                    "test_fraction": 0.2, "seed": 0}
    assert RANDOM_SPLIT_WARNING == ("speakers appear in both train and test: accuracy will be "
                                    "optimistic")
    assert (len(split.train), len(split.val), len(split.test)) == (14, 2, 4)
    assert sorted(split.train + split.val + split.test, key=lambda c: c.path) == sorted(
        clips, key=lambda c: c.path)
    with pytest.raises(DataError, match="leave none for training"):
        random_split(clips[:2], val_fraction=0.5, test_fraction=0.4, allow_speaker_overlap=True)


def test_check_speaker_independent_names_the_shared_speaker():
    clips = _clips(["x", "y"], per_speaker=10)
    split = random_split(clips, seed=1, allow_speaker_overlap=True)
    assert split.speakers() == {"train": ["x", "y"], "val": ["x", "y"], "test": ["x", "y"]}
    # Pairs are checked train/val, train/test, val/test; the first shared speaker is named.
    with pytest.raises(DataError, match="^split random: speaker x is in both train and val$"):
        check_speaker_independent(split)
    check_speaker_independent(speaker_split(_clips("xyz")))
    assert json.loads(split.to_json())["speaker_independent"] is False


def test_split_json_record():
    clips = [Clip(path="/a1.wav", label="sad", speaker="a", corpus="t"),
             Clip(path="/b1.wav", label="happy", speaker="b", corpus="t"),
             Clip(path="/c1.wav", label="sad", speaker="c", corpus="t"),
             Clip(path="/c0.wav", label="sad", speaker="c", corpus="t")]
    split = speaker_split(clips, val_fraction=0.3, test_fraction=0.3)
    record = json.loads(split.to_json())
    assert (record["name"], record["warning"]) == ("speaker", None)
    assert record["settings"] == {"method": "speaker_split", "val_fraction": 0.3,
                                  "test_fraction": 0.3, "salt": "emoedge"}
    assert record["speaker_independent"] is True
    assert {part: body["speakers"] for part, body in record["parts"].items()} == split.speakers()
    for part, clips_in_part in split.parts().items():
        body = record["parts"][part]
        assert body["clips"] == len(clips_in_part)
        assert body["files"] == [{"path": c.path, "label": c.label, "speaker": c.speaker}
                                 for c in clips_in_part]
    c_part = next(part for part, members in split.speakers().items() if "c" in members)
    assert [item["path"] for item in record["parts"][c_part]["files"]][-2:] == ["/c0.wav",
                                                                                 "/c1.wav"]


def test_summarise_counts():
    clips = ClipList([Clip(path="/1", label="sad", speaker="r:1", corpus="r"),
                      Clip(path="/2", label="neutral", speaker="r:1", corpus="r"),
                      Clip(path="/3", label="sad", speaker="e:2", corpus="e"),
                      Clip(path="/4", label="", speaker="m:3", corpus="m", valence=0.1)],
                     ["a note"])
    assert summarise(clips) == {
        "clips": 4, "corpora": {"e": 1, "m": 1, "r": 2},
        "labels": {"neutral": 1, "sad": 2, "": 1},
        "speakers": {"e:2": 1, "m:3": 1, "r:1": 2},
        "labels_by_corpus": {"e": {"sad": 1}, "m": {"": 1}, "r": {"neutral": 1, "sad": 1}},
        "notes": ["a note"]}
    assert summarise(iter(clips))["notes"] == []


# --- real corpora -------------------------------------------------------------

def test_real_corpora_load_with_documented_counts(data_dir):
    ravdess = load_source(f"ravdess:{data_dir / 'RAVDESS'}")
    tess = load_source(f"tess:{data_dir / 'TESS'}")
    emodb = load_source(f"emodb:{data_dir / 'EMO-DB'}")
    for clips, n_clips, n_speakers, n_labels in ((ravdess, 1200, 20, 8), (tess, 2798, 2, 7),
                                                  (emodb, 535, 10, 7)):
        summary = summarise(clips)
        assert (summary["clips"], len(summary["speakers"]), len(summary["labels"])) == (
            n_clips, n_speakers, n_labels)
    assert summarise(ravdess)["labels"] == {"neutral": 80, "calm": 160, "happy": 160, "sad": 160,
                                            "angry": 160, "fearful": 160, "disgust": 160,
                                            "surprised": 160}
    assert set(summarise(tess)["speakers"]) == {"tess:OAF", "tess:YAF"}
    assert set(summarise(tess)["labels"]) == set(CANONICAL_LABELS) - {"calm", "boredom"}
    assert summarise(emodb)["labels"]["boredom"] == 81
    assert sorted(summarise(emodb)["speakers"]) == [f"emodb:{s}" for s in
                                                   ("03", "08", "09", "10", "11", "12", "13",
                                                    "14", "15", "16")]
    everything = ravdess + tess + emodb
    split = speaker_split(everything)
    check_speaker_independent(split)
    assert all(split.parts().values())
    for fold in speaker_kfold(everything, 5):
        check_speaker_independent(fold)


def test_kfold_validation_can_be_limited_to_some_corpora():
    from emoedge.train.data import Clip, speaker_kfold

    clips = [Clip(path=f"{corpus}{spk}_{i}.wav", label="happy", speaker=f"{corpus}:{spk}",
                  corpus=corpus)
             for corpus, speakers in (("ravdess", range(8)), ("tess", ("OAF", "YAF")))
             for spk in speakers for i in range(2)]
    for split in speaker_kfold(clips, 4, val_fraction=0.3, val_corpora=["ravdess"]):
        assert split.val and all(c.corpus == "ravdess" for c in split.val)
        assert {"tess:OAF", "tess:YAF"} <= {c.speaker for c in split.train + split.test}


def _two_corpora(ravdess: int = 12, emodb: int = 4):
    from emoedge.train.data import Clip

    return [Clip(path=f"{corpus}{spk}_{i}.wav", label="happy", speaker=f"{corpus}:{spk:02d}",
                 corpus=corpus)
            for corpus, count in (("ravdess", ravdess), ("emodb", emodb))
            for spk in range(count) for i in range(2)]


def test_kfold_validation_by_corpus_draws_each_corpus_apart():
    from emoedge.train.data import speaker_hash, speaker_kfold

    clips = _two_corpora()
    folds = [["ravdess:00", "ravdess:01", "ravdess:02", "emodb:00"],
             ["ravdess:03", "ravdess:04", "ravdess:05", "emodb:01"]]
    pooled = speaker_kfold(clips, folds=folds, val_fraction=0.25)
    apart = speaker_kfold(clips, folds=folds, val_fraction=0.25, val_by_corpus=True)
    for plain, split in zip(pooled, apart):
        test = set(split.speakers()["test"])
        assert test == set(plain.speakers()["test"])  # the test folds do not move
        expected = []
        for corpus in ("emodb", "ravdess"):
            # 9 RAVDESS and 3 EMO-DB training speakers: 0.25 of each, rounded, at least one
            training = [c.speaker for c in clips if c.corpus == corpus and c.speaker not in test]
            ranked = sorted(set(training), key=lambda s: (speaker_hash(s, "emoedge:val"), s))
            expected += ranked[:{"ravdess": 2, "emodb": 1}[corpus]]
        assert split.speakers()["val"] == sorted(expected)
        assert split.settings["val_by_corpus"] is True
        assert not set(split.speakers()["val"]) & set(split.speakers()["train"])
    assert len(pooled[0].speakers()["val"]) == 3  # 0.25 of 12 pooled speakers


def test_kfold_validation_by_corpus_names_a_corpus_too_small_to_spare_one():
    from emoedge.train.data import DataError, speaker_kfold

    clips = _two_corpora(ravdess=6, emodb=2)
    with pytest.raises(DataError, match=r"emodb: kfold: 1 training speaker\(s\) cannot spare "
                                        r"one for validation"):
        speaker_kfold(clips, folds=[["ravdess:00", "emodb:00"]], val_fraction=0.25,
                      val_by_corpus=True)
    # limiting validation to the other corpus leaves the small one training
    split, = speaker_kfold(clips, folds=[["ravdess:00", "emodb:00"]], val_fraction=0.25,
                           val_corpora=["ravdess"], val_by_corpus=True)
    assert "emodb:01" in split.speakers()["train"]


def test_val_by_corpus_is_refused_outside_kfold():
    from emoedge.train.recipe import RecipeError, load_recipe

    assert load_recipe(None, ['data.split="kfold"', "data.val_by_corpus=true"]).data.val_by_corpus
    with pytest.raises(RecipeError, match='val_by_corpus applies to split = "kfold" only, '
                                          "not 'speaker'"):
        load_recipe(None, ['data.split="speaker"', "data.val_by_corpus=true"])


def test_a_recipe_names_its_pooling_and_is_refused_one_its_model_cannot_do():
    from emoedge.train.recipe import RecipeError, load_recipe

    assert load_recipe(None).model.pooling == "global-average"
    assert load_recipe(None, ['model.architecture="cnn2d"', 'model.pooling="time-average-max"']
                       ).model.pooling == "time-average-max"
    with pytest.raises(RecipeError, match=r"\[model\]: unknown pooling 'time'"):
        load_recipe(None, ['model.pooling="time"'])
    with pytest.raises(RecipeError, match="mlp pools in its own way"):
        load_recipe(None, ['model.architecture="mlp"', 'model.pooling="time-average"'])


def test_a_fold_saved_before_pooling_was_a_setting_loads_as_global_average(tmp_path):
    import json

    from emoedge.train.trainer import fold_spec

    (tmp_path / "spec.json").write_text(json.dumps(
        {"architecture": "cnn2d", "frames": 250, "channels": 40, "outputs": 8, "width": 1.1,
         "dropout": 0.3, "feature_mean": 500.0, "feature_std": 100.0,
         "batch_norm_momentum": 0.9, "input_norm": "window-mean"}))
    assert fold_spec(tmp_path).pooling == "global-average"


def _readme_recipe_example() -> str:
    """The text of the README's example recipe (its one TOML block with a
    [model] table)."""
    import re

    readme = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text()
    (example,) = [block for block in re.findall(r"```toml\n(.*?)```", readme, re.S)
                  if "[model]" in block]
    return example


def test_the_readme_recipe_example_loads_so_none_of_its_keys_is_stale(tmp_path):
    """load_recipe refuses unknown keys: a key renamed or removed in the
    code but left in the README's example fails here."""
    from emoedge.train.recipe import load_recipe

    example = _readme_recipe_example()
    (tmp_path / "example.toml").write_text(example)
    recipe = load_recipe(tmp_path / "example.toml")
    assert recipe.model.speaker_heard_clips == 0 and recipe.model.architecture == "dscnn"
    assert recipe.augment_variants == 1 and recipe.model.pooling == "global-average"


def test_the_readme_augment_reference_names_every_field_at_its_default(tmp_path):
    """The README's [augment] table is the only user-facing list of the
    augmentations: a field added without it, or a default changed under it,
    fails here."""
    import dataclasses
    import tomllib

    from emoedge.train.augment import AugmentConfig
    from emoedge.train.recipe import load_recipe

    example = _readme_recipe_example()
    documented = tomllib.loads(example)["augment"]
    assert set(documented) == {field.name for field in dataclasses.fields(AugmentConfig)}
    (tmp_path / "example.toml").write_text(example)
    assert load_recipe(tmp_path / "example.toml").augment == AugmentConfig()
