"""The bar VAE: shapes, decoding from a step, learning, checkpoints and resuming."""
import numpy as np
import pytest
import torch

from music_vae.checkpoint import load_model, read_checkpoint
from music_vae.configs import get_config
from music_vae.corpus import load_corpus
from music_vae.errors import CheckpointError
from music_vae.metrics import interpolate_codes, reconstruction_accuracy
from music_vae.model import BarVAE
from music_vae.train import train, transposer
from music_vae.trained_model import MusicVAE


def test_shapes_and_greedy_decoding_is_deterministic():
    torch.manual_seed(0)
    model = BarVAE(get_config("tiny").model).eval()
    bars = torch.randint(0, 90, (5, 16))
    mu, logvar = model.encode(bars)
    assert mu.shape == logvar.shape == (5, 8)
    assert model.logits(mu, model.shifted(bars)).shape == (5, 16, 90)
    out = model.decode(mu)
    assert out.shape == (5, 16) and torch.equal(out, model.decode(mu))


def test_decoding_can_continue_from_any_step():
    torch.manual_seed(0)
    model = BarVAE(get_config("tiny").model).eval()
    z = torch.randn(3, 8)
    prefix = torch.randint(2, 90, (3, 6))
    out = model.decode(z, prefix=prefix)
    assert torch.equal(out[:, :6], prefix)


def test_interpolation_ends_at_both_codes():
    a, b = torch.randn(8), torch.randn(8)
    for method in ("linear", "slerp"):
        path = interpolate_codes(a, b, 16, method)
        assert path.shape == (16, 8)
        assert torch.allclose(path[0], a, atol=1e-5) and torch.allclose(path[-1], b, atol=1e-5)


def test_transposition_stays_on_the_piano():
    bars = torch.tensor([[2] + [0] * 15, [89] + [0] * 15, [40, 1] + [0] * 14])
    gen = torch.Generator().manual_seed(0)
    batch = transposer(bars, -5, 6, gen)
    for _ in range(50):
        x = batch(torch.tensor([0, 1, 2]))
        assert x[0, 0] >= 2 and x[1, 0] <= 89 and 35 <= x[2, 0] <= 46 and x[2, 1] == 1


def test_tiny_model_learns_the_tunes(tiny_model, midi_folder):
    model, _, _ = load_model(tiny_model)
    bars = load_corpus([str(midi_folder)], progress=False).bars
    untrained = BarVAE(model.cfg)
    learned = reconstruction_accuracy(model, bars)["teacher_forced_accuracy"]
    assert learned > 0.7 and reconstruction_accuracy(untrained, bars)["teacher_forced_accuracy"] < 0.3


def test_model_card_holds_the_figures(tiny_model):
    vae = MusicVAE(str(tiny_model), device="cpu")
    card = vae.card
    assert card["training"]["steps"] == 300 and card["data"]["split_seed"] == 0
    for key in ("teacher_forced_accuracy", "sampled_accuracy", "interp_evenness"):
        assert 0.0 <= card["metrics"]["test"][key] <= 1.0
    assert card["parameters"] == sum(p.numel() for p in vae.model.parameters())
    assert vae.sample(3, seed=1).shape == (3, 16)
    assert np.array_equal(vae.sample(3, seed=1), vae.sample(3, seed=1))


def test_resume_continues_to_the_same_weights(tmp_path, midi_folder):
    corpus = load_corpus([str(midi_folder)], progress=False)
    cfg = get_config("tiny", steps=60, eval_every=30)
    train(cfg, tmp_path / "full.pt", corpus=corpus, progress=False)
    train(get_config("tiny", steps=30, eval_every=30), tmp_path / "part.pt", corpus=corpus, progress=False)
    card = train(cfg, tmp_path / "part.pt", corpus=corpus, resume=True, progress=False)
    assert card["training"]["steps"] == 60
    full, part = read_checkpoint(tmp_path / "full.pt"), read_checkpoint(tmp_path / "part.pt")
    for k in full["model"]:
        assert torch.allclose(full["model"][k], part["model"][k], atol=1e-5), k


def test_a_checkpoint_that_is_not_ours_is_refused(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00not a checkpoint")
    with pytest.raises(CheckpointError, match="not a score-av music model"):
        load_model(junk)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(CheckpointError, match="not a score-av music model"):
        load_model(other)
    with pytest.raises(CheckpointError, match="no such model"):
        MusicVAE(str(tmp_path / "missing.pt"))


def test_a_checkpoint_from_an_older_version_still_loads(tiny_model, tmp_path):
    """Checkpoints store their whole configuration; one written before a setting was removed (cascade_weight)
    or added (autoregressive) must load as it was trained."""
    ckpt = read_checkpoint(tiny_model)
    ckpt["config"]["train"]["cascade_weight"] = 0.2
    del ckpt["config"]["model"]["autoregressive"]
    old = tmp_path / "old.pt"
    torch.save(ckpt, old)
    model, config, _ = load_model(old)
    assert config.model.autoregressive and config.train == load_model(tiny_model)[1].train


def test_a_checkpoint_with_every_variants_settings_in_one_dict_still_loads(tiny_model, tmp_path):
    """Before each variant's loss had its own settings, the train dict held them all, the variant named in it
    (the shipped models are stored so); the loss's own are taken from there, the other variants' dropped."""
    ckpt = read_checkpoint(tiny_model)
    train = ckpt["config"]["train"]
    loss = train.pop("loss")
    ckpt["config"]["train"] = {**train, **loss, "flat_weight": 0.0, "adversarial_weight": 0.0, "critic_steps": 2}
    assert ckpt["config"]["train"]["variant"] == "vae"
    old = tmp_path / "old.pt"
    torch.save(ckpt, old)
    assert load_model(old)[1] == load_model(tiny_model)[1]
