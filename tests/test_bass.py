"""The bass model (music_vae/bass.py; `score-av train bass`): a tiny one trained for seconds on generated
bars (never the real chorales), its regularisers, its inputs, and the shipped one's axes."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from music_vae.bass import (QUALITIES, Bass, BassData, accuracy, attribute_loss, best_triad, evaluate, figures_of,
                            rule_bass, sounding, spearman, stability_loss)
from music_vae.configs import get_bass_config
from music_vae.errors import CheckpointError, MusicInputError
from music_vae.representation import FIRST_PITCH_TOKEN, HOLD, STEPS_PER_BAR, VOCAB_SIZE, pitch_to_token
from score_av.cli import main

from conftest import MEDIA_MODELS

MAJOR, MINOR = QUALITIES.index("major"), QUALITIES.index("minor")


def generated(n_pieces: int = 60, bars: int = 8, seed: int = 0) -> BassData:
    """Chorale-like bars: two chords a bar, a melody of chord tones in quarters, and a bass on the roots whose
    register (octave 2 or 3) and pace (half notes or quarters) each piece picks: what the axes can learn."""
    rng = np.random.default_rng(seed)
    melody, bass, chords, piece, start = [], [], [], [], []
    for p in range(n_pieces):
        octave, pace = int(rng.choice([36, 48])), int(rng.choice([4, 8]))
        for b in range(bars):
            ch = [(int(rng.integers(12)), int(rng.choice([MAJOR, MINOR]))) for _ in range(2)]
            mel, low = np.zeros(STEPS_PER_BAR, np.uint8), np.zeros(STEPS_PER_BAR, np.uint8)
            for t in range(0, STEPS_PER_BAR, 4):
                root, q = ch[t // 8]
                third = 4 if q == MAJOR else 3
                mel[t] = pitch_to_token(60 + (root + int(rng.choice([0, third, 7]))) % 12)
            for t in range(0, STEPS_PER_BAR, pace):
                low[t] = pitch_to_token(octave + ch[t // 8][0] + (7 if t % 8 else 0))
            melody.append(mel), bass.append(low), chords.append(ch), piece.append(p), start.append(16 * b)
    return BassData(np.array(melody), np.array(bass), np.array(chords, np.int8), np.array(piece, np.int32),
                    np.array(start, np.int32), [f"bach/gen{p}" for p in range(n_pieces)], {})


@pytest.fixture(scope="module")
def data():
    return generated()


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data):
    """The tiny bass model: 20 steps, then resumed from OUT.train.pt to 40. (path, card)."""
    from music_vae.bass import train

    out = tmp_path_factory.mktemp("bass") / "tiny-bass.pt"
    cfg = get_bass_config("tiny-bass")
    train(replace(cfg, train=replace(cfg.train, steps=20)), out, data=data, progress=False, device="cpu")
    state_path = out.with_name("tiny-bass.train.pt")
    state = torch.load(state_path, weights_only=True)
    state["history"][0]["from_the_state_file"] = True          # what resuming must carry on from
    torch.save(state, state_path)
    return out, train(cfg, out, data=data, resume=True, progress=False, device="cpu")


def test_training_runs_resumes_and_the_checkpoint_round_trips(trained, data):
    out, card = trained
    assert card["training"]["steps"] == 40 and [h["step"] for h in card["training"]["validation"]] == [20, 40]
    assert card["training"]["validation"][0]["from_the_state_file"]
    assert card["axes"] == {"axis0": "register", "axis1": "notes"}
    assert set(card["metrics"]["test"]) >= {"model_z0", "rule_root_beats_1_3", "axes"}
    assert json.loads(out.with_suffix(".json").read_text()) == json.loads(json.dumps(card))
    ckpt = torch.load(out, map_location="cpu", weights_only=True)
    assert all(v.dtype == torch.float16 for v in ckpt["model"].values() if v.is_floating_point())
    a, b = Bass(out, device="cpu"), Bass(out, device="cpu")
    z = np.array([[0.5, -1.0]] * 10, np.float32)
    assert np.array_equal(a.play(data.melody[:10], data.chords[:10], z), b.play(data.melody[:10], data.chords[:10], z))
    assert a.encode(data.bass[:10], data.melody[:10], data.chords[:10]).shape == (10, 2)


def test_the_bass_is_valid_tokens_in_the_register(trained, data):
    model = Bass(trained[0], device="cpu")
    cfg = model.config.model
    for z in ([0, 0], [2, 2], [-2, -2], [3, -3]):
        bars = model.play(data.melody[:64], data.chords[:64], np.array(z, np.float32))
        notes = bars[bars >= FIRST_PITCH_TOKEN]
        assert bars.shape == (64, STEPS_PER_BAR) and bars.min() >= 0 and bars.max() < VOCAB_SIZE
        assert notes.min() >= pitch_to_token(cfg.low) and notes.max() <= pitch_to_token(cfg.high)
        assert (bars[:, 0] >= FIRST_PITCH_TOKEN).all()   # a bar starts with a note
    drawn = model.play(data.melody[:8], data.chords[:8], temperature=1.0, seed=3)
    assert np.array_equal(drawn, model.play(data.melody[:8], data.chords[:8], temperature=1.0, seed=3))


def test_stability_loss_is_lower_for_a_steady_code_than_a_jumping_one():
    t = torch.linspace(0, 1, 8)
    steady = torch.stack([t * 0.2, t * 0.1], -1)[None]                       # (1 window, 8 bars, 2)
    jumping = torch.stack([torch.tensor([-2.0, 2.0] * 4), torch.tensor([1.0, -1.0] * 4)], -1)[None]
    assert stability_loss(steady) < 0.01 < 1.0 < stability_loss(jumping)
    assert stability_loss(steady[:, :1]) == 0


def test_attribute_loss_rewards_codes_ordered_as_the_figures():
    figures = torch.tensor([[40.0, 2.0], [45.0, 4.0], [50.0, 8.0]])
    ordered = torch.tensor([[-2.0, -2.0], [0.0, 0.0], [2.0, 2.0]])
    assert attribute_loss(ordered, figures) < 0.5 < attribute_loss(-ordered, figures)
    swapped = ordered.clone()
    swapped[:, 1] = -swapped[:, 1]                # axis 1 against the notes: only its half is wrong
    assert attribute_loss(ordered, figures) < attribute_loss(swapped, figures) < attribute_loss(-ordered, figures)


def test_chords_are_read_as_the_triad_that_fits_and_the_rule_plays_their_roots():
    hist = np.zeros(12)
    hist[[0, 4, 7]] = 4
    hist[2] = 1                                   # a passing D over C major
    assert best_triad(hist) == (0, MAJOR)
    hist = np.zeros(12)
    hist[[9, 0, 4]] = 3
    assert best_triad(hist) == (9, MINOR)
    assert best_triad(np.zeros(12)) == (-1, 0)
    hist = np.zeros(12)
    hist[[0, 4]] = 1                              # C and E: C major, not C augmented nor A minor (no A)
    assert best_triad(hist) == (0, MAJOR)
    rule = rule_bass(np.array([[[0, MAJOR], [7, MAJOR]]]), centre=48)
    assert rule[0, 0] == pitch_to_token(48) and rule[0, 8] == pitch_to_token(43)
    assert (rule[0, [s for s in range(16) if s not in (0, 8)]] == HOLD).all()


def test_accuracy_counts_sounding_pitches_and_onsets():
    truth = np.array([[pitch_to_token(40)] + [0] * 7 + [pitch_to_token(43)] + [0] * 7])
    follows = np.array([False])
    assert accuracy(truth, truth, follows)["step_accuracy"] == 1.0
    late = truth.copy()
    late[0, 8], late[0, 12] = HOLD, pitch_to_token(43)          # the second note four steps late
    a = accuracy(truth, late, follows)
    assert a["step_accuracy"] == 12 / 16 and a["onset_accuracy"] == 0.5
    tied = np.array([[0] * 4 + [pitch_to_token(40)] + [0] * 11])
    assert (sounding(tied, follows)[0, :4] == -2).all()         # unknown: left out of the step accuracy
    struck = np.array([[pitch_to_token(40)] + [0] * 15])
    assert accuracy(tied, struck, follows)["step_accuracy"] == 1.0
    assert accuracy(tied, struck, np.array([True]))["step_accuracy"] == 1.0   # nothing before: still unknown
    assert spearman([1, 2, 3], [10, 20, 30]) == 1.0 and spearman([1, 2, 3], [3, 2, 1]) == -1.0


def test_bad_input_is_a_clear_error(trained, data, tmp_path):
    model = Bass(trained[0], device="cpu")
    m, c = data.melody[:4], data.chords[:4]
    with pytest.raises(MusicInputError, match="melody: expected bars"):
        model.play(np.zeros((4, 12), np.int64), c)
    with pytest.raises(MusicInputError, match="chords: expected"):
        model.play(m, c[:3])
    with pytest.raises(MusicInputError, match="roots must be pitch classes"):
        model.play(m, np.where(np.arange(2) == 0, 12, 0) * np.ones((4, 2, 1), np.int64))   # root 12, quality major
    with pytest.raises(MusicInputError, match="roots must be pitch classes"):
        model.play(m, np.where(np.arange(2) == 0, 0, 4) * np.ones((4, 2, 1), np.int64))    # root C, quality 4
    with pytest.raises(MusicInputError, match="z: expected 2"):
        model.play(m, c, np.zeros(3))
    with pytest.raises(MusicInputError, match="tokens must lie"):
        model.play(np.full((4, 16), 200), c)
    with pytest.raises(MusicInputError, match="bass: expected"):
        model.encode(np.full((4, 16), pitch_to_token(90)), m, c)
    (tmp_path / "x.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a score-av bass model"):
        Bass(tmp_path / "x.pt")
    with pytest.raises(CheckpointError, match="score-av train bass"):
        Bass(tmp_path / "missing-model")


def test_cli_trains_the_bass(tmp_path, monkeypatch, capsys, data):
    import music_vae.bass as bass

    monkeypatch.setattr(bass, "load_chorales", lambda progress=True: data)    # never the real corpus in tests
    out = tmp_path / "b.pt"
    assert main(["train", "bass", "--config", "tiny-bass", "--steps", "4", "--out", str(out), "--device", "cpu"]) == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["reproduce"] == f"score-av train bass --config tiny-bass --steps 4 --out {out}"
    assert "step accuracy at z = 0" in capsys.readouterr().out


SHIPPED = MEDIA_MODELS / "bass.pt"


@pytest.mark.skipif(not SHIPPED.exists(), reason="media/models/bass.pt is not shipped")
def test_moving_each_axis_of_the_shipped_model_moves_its_figure(data):
    """On generated melodies and chords (not the chorales it learned from): each axis from -2 to 2 moves its
    tied figure, averaged over the bars, in the same direction at every point of the grid."""
    model = Bass("bass", device="cpu")
    held = data.subset(np.arange(len(data)) < 160)
    for k, figure in enumerate(model.axes):
        values = []
        for g in np.linspace(-2, 2, 5):
            z = np.zeros(2, np.float32)
            z[k] = g
            values.append(np.nanmean(figures_of(model.play(held.melody, held.chords, z))[figure]))
        steps = np.diff(values)
        assert (steps > 0).all() or (steps < 0).all(), f"axis {k} ({figure}): {values}"
    card = json.loads(SHIPPED.with_suffix(".json").read_text())
    test = card["metrics"]["test"]
    assert test["model_z0"]["step_accuracy"] > test["rule_root_beats_1_3"]["step_accuracy"]
    assert card["reproduce"] == "score-av train bass --out media/models/bass.pt"


def test_evaluate_reports_both_methods_and_the_sweeps(trained, data):
    model = Bass(trained[0], device="cpu")
    held = data.subset(np.arange(len(data)) < 40)
    out = evaluate(model, held, centre=48.0, grid=(-2.0, 0.0, 2.0))
    assert out["bars"] == 40 and out["axes"]["axis0"]["tied_to"] == "register"
    assert len(out["axes"]["axis1"]["figures"]) == 3
    with pytest.raises(MusicInputError):
        evaluate(model, data.subset(np.zeros(len(data), bool)), centre=48.0)
