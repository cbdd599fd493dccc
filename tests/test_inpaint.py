"""Latent inpainting (music_vae/inpaint.py; `score-av train inpaint`, `score-av eval inpaint`): a tiny
inpainter trained for a few seconds on generated tunes over the tiny music VAE, and the shipped one's card."""
from __future__ import annotations

import json
from dataclasses import replace

import mido
import numpy as np
import pytest
import torch

from music_vae.configs import InpaintModelConfig, get_inpaint_config
from music_vae.corpus import load_corpus
from music_vae.errors import CheckpointError
from music_vae.inpaint import (METHODS, Inpainter, LatentInpainter, WindowSampler, all_windows, evaluate,
                               evaluation_windows, token_loss)
from music_vae.metrics import slerp
from music_vae.midi_io import write_midi
from music_vae.musicality import SCALES, best_scale, onsets
from music_vae.representation import STEPS_PER_BAR, VOCAB_SIZE, tokens_to_notes
from music_vae.trained_model import MusicVAE

from conftest import JIG_ABC, MEDIA_MODELS, melody_bars
from test_cli import one_line_error, run

FIGURES = {"token_accuracy", "bar_accuracy", "out_of_key"}


@pytest.fixture(scope="module")
def long_folder(tmp_path_factory):
    """Twelve generated tunes of 16 bars (the tiny VAE's motifs), long enough for 4-bar gaps with context,
    each phrase of 4 bars played twice (AABB), as folk tunes do: something an inpainter can learn."""
    folder = tmp_path_factory.mktemp("long", numbered=False)
    for i, tokens in enumerate(melody_bars(n_tunes=12, bars_per_tune=8)):
        a, b = np.split(tokens, 2)
        write_midi(folder / f"tune{i:02d}.mid", tokens_to_notes(np.concatenate([a, a, b, b])))
    return folder


@pytest.fixture(scope="module")
def corpus(long_folder):
    return load_corpus([str(long_folder)], progress=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model, corpus):
    """The tiny inpainter: 30 steps, then resumed from OUT.train.pt to 60. (path, first card, final card)."""
    out = tmp_path_factory.mktemp("inpaint") / "tiny-inpaint.pt"
    cfg = get_inpaint_config("tiny-inpaint", music_model=str(tiny_model))
    halfway = train_for(cfg, 30, out, corpus)
    return out, halfway, train_for(cfg, cfg.train.steps, out, corpus, resume=True)


def train_for(cfg, steps, out, corpus, resume=False):
    from music_vae.inpaint import train
    return train(replace(cfg, train=replace(cfg.train, steps=steps)), out, corpus=corpus, resume=resume,
                 progress=False)


def test_windows_stay_inside_one_tune_with_the_context_it_has():
    tune = np.repeat([0, 1, 2], [5, 12, 9])
    first = np.repeat([0, 5, 17], [5, 12, 9])
    end = np.repeat([5, 17, 26], [5, 12, 9])
    for m in (1, 4, 8):
        w = all_windows(tune, m)
        expected = sum(max(0, n - m + 1) for n in (5, 12, 9) if n > m)  # every gap with some context
        assert len(w) == expected
        for s, p, f in zip(w.start, w.past, w.future):
            assert (tune[s - p:s + m + f] == tune[s]).all()
            assert p == min(6, s - first[s]) and f == min(6, end[s] - s - m)
    ev = evaluation_windows(tune, 1000)
    assert len(ev) == (12 - 8) + (9 - 8) and ev.missing == 4
    assert (ev.past >= 4).all() and (ev.future >= 1).all()
    assert len(evaluation_windows(tune, 3, seed=0)) == 3
    assert (evaluation_windows(tune, 3, seed=0).start == evaluation_windows(tune, 3, seed=0).start).all()


def test_empty_context_slots_do_not_leak_into_the_codes():
    torch.manual_seed(0)
    net = LatentInpainter(InpaintModelConfig(latent_dim=8, context_hidden=16, generator_hidden=24,
                                             attention_dim=8)).eval()
    context = torch.randn(5, 12, 8)
    mask = torch.rand(5, 12) < 0.5
    mask[:, 5] = True
    choice, own = net.parts(context, mask, 3)
    assert choice.shape == (5, 3, 13) and own.shape == (5, 3, 8) and net(context, mask, 3).shape == (5, 3, 8)
    torch.testing.assert_close(choice.sum(-1), torch.ones(5, 3))
    assert (choice[..., :12][~mask[:, None].expand(-1, 3, -1)] == 0).all()  # never a copy of an empty slot
    other = torch.where(mask[..., None], context, 100 * torch.randn(5, 12, 8))
    for a, b in zip(net.parts(other, mask, 3), (choice, own)):
        torch.testing.assert_close(a, b)
    moved = context.clone()
    moved[:, 5] += 1.0  # a slot that holds a bar does count
    assert not torch.allclose(net.parts(moved, mask, 3)[1], own)


def test_training_windows_are_transposed_alike_in_tokens_and_codes(tiny_model, corpus):
    music = MusicVAE(str(tiny_model), "cpu")
    cfg = get_inpaint_config("tiny-inpaint", music_model=str(tiny_model), transpose=(-3, 3))
    cfg = replace(cfg, model=replace(cfg.model, latent_dim=music.latent_dim))
    sampler = WindowSampler(music, corpus.bars, corpus.tune, cfg, torch.Generator().manual_seed(0))
    moved = 0
    for _ in range(4):
        context, mask, tokens, codes = sampler.batch(16)
        m = tokens.shape[1]
        assert context.shape == (16, 12, music.latent_dim) and mask.shape == (16, 12) and mask.any(1).all()
        assert tokens.shape == (16, m, STEPS_PER_BAR) and codes.shape == (16, m, music.latent_dim)
        np.testing.assert_allclose(music.encode(tokens.reshape(-1, STEPS_PER_BAR).numpy()),
                                   codes.reshape(-1, music.latent_dim).numpy(), atol=1e-5)
        bars = {b.tobytes() for b in corpus.bars.astype(np.int64)}
        moved += sum(b.tobytes() not in bars for b in tokens.reshape(-1, STEPS_PER_BAR).numpy())
    assert moved > 0  # transposition happens


def test_training_lowers_the_loss_and_resumes(trained, tiny_model, corpus):
    out, halfway, card = trained
    assert halfway["training"]["steps"] == 30 and card["training"]["steps"] == 60
    assert card["training"]["first"] == halfway["training"]["first"]  # the resumed run kept its start
    assert [h["step"] for h in card["training"]["validation"]] == [30, 60]
    # the token loss through the frozen decoder on the same windows, before training and after
    music = MusicVAE(str(tiny_model), "cpu")
    cfg = get_inpaint_config("tiny-inpaint", music_model=str(tiny_model))
    cfg = replace(cfg, model=replace(cfg.model, latent_dim=music.latent_dim))
    sampler = WindowSampler(music, corpus.bars, corpus.tune, cfg, torch.Generator().manual_seed(1))
    batches = [sampler.batch(64) for _ in range(6)]
    torch.manual_seed(cfg.train.seed)
    untrained = LatentInpainter(cfg.model).eval()
    trained_net = Inpainter(out, "cpu").net

    def loss(net) -> float:
        with torch.no_grad():
            return float(np.mean([token_loss(music.model, net(c, m, t.shape[1]), t)[0] for c, m, t, _ in batches]))
    before, after = loss(untrained), loss(trained_net)
    assert after < 0.8 * before, (before, after)


def test_missing_bars_are_filled_and_the_rest_kept_note_for_note(trained, corpus):
    inp = Inpainter(trained[0], device="cpu")
    bars = corpus.bars[corpus.tune == 0].astype(np.int64)
    for m in (1, 4, 8):
        filled = inp.inpaint(bars[:6], bars[6 + m:12 + m], m)
        assert filled.shape == (m, STEPS_PER_BAR) and ((filled >= 0) & (filled < VOCAB_SIZE)).all()
    for start, m in ((5, 4), (0, 3), (13, 3)):  # inside, at the tune's start (no past), at its end (no future)
        new = inp.replace_bars(bars, start, m)
        assert new.shape == bars.shape
        assert (new[:start] == bars[:start]).all() and (new[start + m:] == bars[start + m:]).all()
        np.testing.assert_array_equal(new[start:start + m], inp.inpaint(bars[:start], bars[start + m:], m))


def test_every_method_is_measured_on_the_same_windows(trained, corpus):
    inp = Inpainter(trained[0], device="cpu")
    bars, tune = corpus.bars.astype(np.int64), corpus.tune
    result = evaluate(inp, bars, tune, n_windows=20, seed=1)
    w = evaluation_windows(tune, 20, seed=1)
    assert result["windows"] == len(w) == 20 and set(result["methods"]) == set(METHODS)
    truth = bars[w.start[:, None] + np.arange(4)]
    codes = inp.music.encode(bars)
    a, b = codes[w.start - 1], codes[w.start + 4]
    t = np.arange(1, 5) / 5
    lin = (1 - t)[None, :, None] * a[:, None] + t[None, :, None] * b[:, None]
    sl = torch.stack([slerp(torch.as_tensor(a), torch.as_tensor(b), torch.full((len(a),), float(x))) for x in t], 1)
    decode = lambda z: inp.music.decode(np.asarray(z).reshape(-1, a.shape[1])).reshape(-1, 4, STEPS_PER_BAR)  # noqa
    fills = {"model": inp.fill(bars, w), "repeat": np.repeat(bars[w.start - 1][:, None], 4, axis=1),
             "copy4": bars[w.start[:, None] - 4 + np.arange(4)], "linear": decode(lin), "slerp": decode(sl.numpy())}
    for method, fill in fills.items():
        got = result["methods"][method]
        assert got["token_accuracy"] == pytest.approx((fill == truth).mean()), method
        assert got["bar_accuracy"] == pytest.approx((fill == truth).all(-1).mean()), method
        outside = total = 0
        for s, p, f, filled in zip(w.start, w.past, w.future, fill):
            tonic, _ = best_scale(onsets(bars[s - p:s + 4 + f])[1])
            pitch = onsets(filled)[1]
            outside, total = outside + (~SCALES[tonic, pitch % 12]).sum(), total + len(pitch)
        assert got["out_of_key"] == pytest.approx(outside / total), method


def test_eval_inpaint_prints_one_json_object(capsys, trained, long_folder):
    code, out, _ = run(capsys, "eval", "inpaint", "--model", trained[0], "--input", long_folder, "--device", "cpu")
    assert code == 0
    result = json.loads(out)
    assert set(result) == {"methods", "windows"} and result["windows"] == 12 * (16 - 8)
    assert list(result["methods"]) == list(METHODS)
    for figures in result["methods"].values():
        assert set(figures) == FIGURES and all(0.0 <= v <= 1.0 for v in figures.values())


def test_eval_inpaint_bad_input_is_one_line(capsys, trained, tmp_path):
    jig = tmp_path / "jig.abc"
    jig.write_text(JIG_ABC)
    assert "meter 6/8" in one_line_error(capsys, "eval", "inpaint", "--model", trained[0], "--input", jig)
    assert "missing.mid: no such file" in one_line_error(capsys, "eval", "inpaint", "--model", trained[0],
                                                         "--input", tmp_path / "missing.mid")
    short = tmp_path / "short.mid"
    write_midi(short, tokens_to_notes(melody_bars(n_tunes=1, bars_per_tune=6)[0]))
    assert "no window to inpaint" in one_line_error(capsys, "eval", "inpaint", "--model", trained[0], "--input", short)
    # without --input: the test split of the music model's data (the tiny model's 8-bar tunes: too short)
    assert "the test split of" in one_line_error(capsys, "eval", "inpaint", "--model", trained[0])
    assert "not a score-av inpainting model" in one_line_error(capsys, "eval", "inpaint", "--model", MEDIA_MODELS / "dance.pt")


def test_checkpoint_card_and_music_model_it_belongs_to(trained, tiny_model):
    out, _, card = trained
    ckpt = torch.load(out, map_location="cpu", weights_only=True)
    assert ckpt["format"] == "score-av/inpaint" and ckpt["step"] == 60
    assert all(v.dtype == torch.float16 for v in ckpt["model"].values() if v.is_floating_point())
    assert json.loads(out.with_suffix(".json").read_text()) == json.loads(json.dumps(card))
    assert card["data"]["split_seed"] == 0 and card["training"]["wall_seconds"] > 0
    assert card["machine"]["torch"] == torch.__version__ and card["parameters"] > 0
    assert card["reproduce"].startswith("score-av train inpaint")
    music = MusicVAE(str(tiny_model), "cpu")
    with torch.no_grad():
        music.model.out.bias.add_(1.0)  # another music model: its codes mean something else
    with pytest.raises(CheckpointError, match="another"):
        Inpainter(out, "cpu", music=music)


def test_train_inpaint_command_writes_model_card_and_reproduce(capsys, tiny_model, tmp_path):
    out = tmp_path / "mine.pt"
    code, printed, _ = run(capsys, "train", "inpaint", "--config", "tiny-inpaint", "--music-model", tiny_model,
                           "--steps", 4, "--out", out, "--device", "cpu")
    assert code == 0 and f"model: {out}" in printed
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["training"]["steps"] == 4 and out.with_name("mine.train.pt").exists()
    assert card["reproduce"] == (f"score-av train inpaint --config tiny-inpaint --music-model {tiny_model} "
                                 f"--steps 4 --out {out}")


def test_shipped_inpainter_loads_beside_dance_and_its_card_describes_it():
    path = MEDIA_MODELS / "inpaint.pt"
    card = json.loads(path.with_suffix(".json").read_text())
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    assert card["training"]["steps"] == ckpt["step"] and card["training"]["wall_seconds"] > 0
    assert card["data"]["sources"] == ["oneills", "airds"] and card["music_model"]["model"] == "dance"
    assert card["data"]["split_seed"] == MusicVAE("dance", "cpu").config.train.split_seed
    assert set(card["metrics"]["test"]["methods"]) == set(METHODS) and card["metrics"]["test"]["windows"] > 200
    assert card["reproduce"] == "score-av train inpaint --out media/models/inpaint.pt"
    assert path.stat().st_size < 8e6
    inp = Inpainter("inpaint", device="cpu")  # loads beside the shipped dance (the same weights it learned on)
    assert card["parameters"] == sum(p.numel() for p in inp.net.parameters())
    reel = np.tile(np.array([[40, 0, 44, 0, 47, 0, 44, 0, 45, 0, 44, 0, 42, 0, 40, 0]]), (8, 1))
    assert inp.inpaint(reel[:4], reel[4:], 4).shape == (4, STEPS_PER_BAR)
