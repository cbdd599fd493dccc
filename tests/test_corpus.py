"""Tunes to bars: barlines respected, meters handled or skipped with a reason, split by tune, cached."""
import numpy as np
import pytest

from music_vae.corpus import load_corpus, split_of
from music_vae.corpus.dataset import extract_item
from music_vae.corpus.sources import TuneItem, split_abc_tunes
from music_vae.errors import MusicInputError
from music_vae.representation import pitch_to_token, tokens_to_notes

from conftest import JIG_ABC, POLKA_ABC, REEL_ABC


def abc(text, tid="t"):
    return extract_item(TuneItem(tid, "test", "abc-text", text))


def t(name):
    from music21 import pitch
    return pitch_to_token(pitch.Pitch(name).midi)


def test_reel_bars_follow_the_barlines_after_a_pickup():
    tune = abc(REEL_ABC)
    assert tune.skipped is None
    assert tune.bars.shape == (5, 16)
    # |dfaf gfed| in D major, quavers: a note-on every second step
    assert tune.bars[0].tolist() == [t("D5"), 0, t("F#5"), 0, t("A5"), 0, t("F#5"), 0,
                                     t("G5"), 0, t("F#5"), 0, t("E5"), 0, t("D5"), 0]
    # |EFGE FDD2-|D2FA ...: the tied D sounds on into the next bar as a hold
    assert tune.bars[3][-4] == t("D4") and tune.bars[4][:2].tolist() == [0, 0]


def test_two_four_bars_are_paired():
    tune = abc(POLKA_ABC)
    assert tune.bars.shape == (2, 16)
    assert [n.pitch for n in tokens_to_notes(tune.bars[0])] == [67, 69, 71, 72, 74, 71, 69, 67]


def test_other_meters_are_skipped_with_the_reason():
    assert abc(JIG_ABC).skipped == "meter 6/8"


def test_triplet_bars_are_left_out():
    text = REEL_ABC.replace("cABc dAFA", "(3cBA c2 dAFA")
    tune = abc(text)
    assert tune.bars.shape == (4, 16)
    assert tune.dropped == {"off-grid or out-of-range note": 1}


def test_abc_file_is_split_into_tunes():
    tunes = split_abc_tunes("% header\n" + REEL_ABC + "\n" + JIG_ABC.replace("X:1", "X:2"))
    assert [ref for ref, _ in tunes] == ["1", "2"]
    assert all(body.startswith("% header") for _, body in tunes)


def test_split_is_by_tune_fixed_and_near_its_fractions():
    ids = [f"tune{i}" for i in range(4000)]
    sides = [split_of(i, 0) for i in ids]
    assert sides == [split_of(i, 0) for i in ids]
    share = {s: sides.count(s) / len(ids) for s in ("train", "valid", "test")}
    assert share["train"] == pytest.approx(0.9, abs=0.02) and share["test"] == pytest.approx(0.05, abs=0.015)
    assert sides != [split_of(i, 1) for i in ids]


def test_folder_corpus_is_cached_and_split(midi_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("SCORE_AV_CACHE", str(tmp_path))
    corpus = load_corpus([str(midi_folder)], progress=False)
    assert len(corpus) == 16 * 8 and len(corpus.tune_ids) == 16
    assert set(corpus.styles) == {midi_folder.name}
    assert len(list((tmp_path / "corpora").glob("*.npz"))) == 1
    again = load_corpus([str(midi_folder)], progress=False)
    assert np.array_equal(again.bars, corpus.bars) and again.tune_ids == corpus.tune_ids
    train, test = corpus.split("train"), corpus.split("test")
    assert not set(train.tune.tolist()) & set(test.tune.tolist())
    report = corpus.report()
    assert report["tunes_read"] == 16 and report["bars"] == 128


def test_corpus_report_counts_skipped_tunes(tmp_path):
    (tmp_path / "a.abc").write_text(REEL_ABC + "\n" + JIG_ABC.replace("X:1", "X:2"))
    corpus = load_corpus([str(tmp_path)], progress=False, use_cache=False)
    assert corpus.report()["tunes_skipped"] == {"meter 6/8": 1}
    assert corpus.report()["tunes_used"] == 1


def test_no_usable_bars_is_a_clear_error(tmp_path):
    jig = tmp_path / "jig.abc"
    jig.write_text(JIG_ABC)
    with pytest.raises(MusicInputError, match="no usable bar.*meter 6/8"):
        load_corpus([str(jig)], progress=False)
    with pytest.raises(MusicInputError, match="no such file"):
        load_corpus([str(tmp_path / "nope.mid")], progress=False)
    (tmp_path / "notes.txt2").write_text("hello")
    with pytest.raises(MusicInputError, match="not a music file"):
        load_corpus([str(tmp_path / "notes.txt2")], progress=False)
