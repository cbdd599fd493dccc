"""The flat and MusAE variants: the metric they shape, the prior they sample, the CLI that picks them."""
import json
from dataclasses import fields, replace

import numpy as np
import pytest
import torch

from conftest import melody_bars
from music_vae.configs import (CONFIGS, VARIANTS, AdversarialSettings, Config, FlatSettings, LossSettings, VaeSettings,
                               get_config)
from music_vae.checkpoint import load_model, models_dir
from music_vae.corpus import load_corpus
from music_vae.flatness import (flat_penalty, heard_inputs, jacobian_products, metric_tensors, mixup, output_embedding,
                                walk_penalties, walk_steps)
from music_vae.metrics import flatness, interpolate_codes, step_changes
from music_vae.midi_io import write_midi
from music_vae.model import BarVAE
from music_vae.musae import cycle_loss, encode_fixed
from music_vae.prior import StylePrior
from music_vae.representation import tokens_to_notes
from music_vae.styles import style_labels
from music_vae.train import train
from music_vae.trained_model import MusicVAE
from music_vae.variants import LOSSES, AdversarialLoss, FlatLoss, PlainLoss
from score_av.cli import main


def tiny(seed: int = 0) -> BarVAE:
    torch.manual_seed(seed)
    return BarVAE(get_config("tiny").model).eval()


def test_finite_difference_metric_matches_autograd():
    model = tiny()
    z = torch.randn(2, 8)
    inputs = model.shifted(torch.randint(2, 90, (2, 16)))
    for i in range(2):
        jac = torch.autograd.functional.jacobian(lambda v: output_embedding(model, v[None], inputs[i:i + 1])[0], z[i])
        exact = jac.T @ jac
        assert torch.allclose(metric_tensors(model, z[i:i + 1], inputs[i:i + 1])[0], exact, rtol=0.05, atol=1e-4)
        v = torch.nn.functional.normalize(torch.randn(1, 3, 8), dim=-1)
        approx = jacobian_products(model, z[i:i + 1], inputs[i:i + 1], v, step=1e-3)[0]
        assert torch.allclose(approx, v[0] @ jac.T, rtol=0.05, atol=2e-3)


def test_the_flat_penalty_flattens_the_decoder():
    """Trained on the penalty alone, the decoder's metric gets better conditioned."""
    model = tiny()
    bars = np.stack(melody_bars(8, 4, seed=1)).reshape(-1, 16)
    before = flatness(model, bars)
    gen = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    x = torch.as_tensor(bars, dtype=torch.long)
    for _ in range(60):
        mu, _ = model.encode(x)
        points, along = mixup(mu.detach(), 0.2, gen)
        loss, _ = flat_penalty(model, points, heard_inputs(model, points), along, 4, gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = flatness(model, bars)
    assert after["flatness_condition_number"] < 0.5 * before["flatness_condition_number"]


@pytest.mark.parametrize("autoregressive", [True, False])
def test_walk_steps_count_the_notes_a_greedy_walk_changes(autoregressive):
    """Sharpened, the differentiable steps of a walk are the measured step changes of the bars decoded along it."""
    torch.manual_seed(0)
    model = BarVAE(replace(get_config("tiny").model, autoregressive=autoregressive)).eval()
    a, b = 3 * torch.randn(6, 8), 3 * torch.randn(6, 8)
    with torch.no_grad():
        soft = walk_steps(model, a, b, temperature=1e-6)
        walks = model.decode(torch.cat([interpolate_codes(p, q) for p, q in zip(a, b)])).view(6, 16, 16)
    measured = step_changes(walks)
    assert measured.sum() > 0
    assert torch.allclose(soft, measured, atol=1e-3)


def test_walk_penalties_part_the_energy_into_length_and_unevenness():
    even = torch.full((1, 15), 0.05)
    jumpy = torch.zeros(1, 15)
    jumpy[0, 7] = 0.75
    for steps in (even, jumpy):
        length, spread = walk_penalties(steps)
        assert torch.isclose(length + spread, 15 * steps.pow(2).sum())
        assert torch.isclose(length, steps.sum().pow(2))
    assert walk_penalties(even)[1] < 1e-6 < walk_penalties(jumpy)[1]


def test_the_spread_penalty_evens_out_the_walks(tiny_model):
    """Trained on the unevenness of walks alone, a trained decoder's walks between codes it has not seen have smaller
    largest steps."""
    model = load_model(tiny_model)[0].train()
    bars = torch.as_tensor(np.stack(melody_bars(8, 4, seed=1)).reshape(-1, 16), dtype=torch.long)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        codes = model.encode(bars)[0]
        held = codes + torch.randn(codes.shape, generator=gen), codes[torch.randperm(len(codes), generator=gen)]

    def largest_steps() -> float:
        with torch.no_grad():
            walks = model.decode(torch.cat([interpolate_codes(p, q) for p, q in zip(*held)])).view(len(codes), 16, 16)
        return step_changes(walks).max(1).values.mean().item()

    before = largest_steps()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(60):
        ends = model.encode(bars)[0].detach() + torch.randn(codes.shape, generator=gen)
        _, spread = walk_penalties(walk_steps(model, ends, ends[torch.randperm(len(ends), generator=gen)]))
        opt.zero_grad()
        spread.backward()
        opt.step()
    assert largest_steps() < 0.7 * before


def test_a_changed_note_rewrites_the_rest_of_the_bar_only_in_the_autoregressive_decoder():
    """The flat variant's decoder is not fed its past: given other first notes, it decodes the same later ones."""
    def later_tokens_changed(autoregressive: bool) -> float:
        torch.manual_seed(0)
        model = BarVAE(replace(get_config("tiny").model, autoregressive=autoregressive)).eval()
        z = 2 * torch.randn(64, 8)
        own = model.decode(z)
        other = (own[:, :4] + 1 + torch.randint(0, 80, (64, 4))) % 90
        again = model.decode(z, prefix=other)
        return (again[:, 4:] != own[:, 4:]).float().mean().item()

    assert later_tokens_changed(True) > 0.05
    assert later_tokens_changed(False) == 0.0


@pytest.mark.parametrize("name, settings, loss", [("vae", VaeSettings, PlainLoss), ("flat", FlatSettings, FlatLoss),
                                                  ("musae", AdversarialSettings, AdversarialLoss)])
def test_the_shipped_checkpoints_hold_their_variants_settings(name, settings, loss):
    """Each shipped model loads with its own variant's settings, as trained, and that variant's loss is built for
    them. (They were written with every variant's settings in one dict, before each loss had its own.)"""
    _, config, ckpt = load_model(models_dir() / f"{name}.pt")
    stored = ckpt["config"]["train"].get("loss", ckpt["config"]["train"])
    assert stored["variant"] == name
    assert type(config.train.loss) is settings and config.train.variant == name and LOSSES[settings] is loss
    assert config.train.loss == settings(**{f.name: stored[f.name] for f in fields(settings) if f.name in stored})
    assert Config.from_dict(config.to_dict()) == config


def test_every_variant_has_a_loss_and_named_configs_round_trip():
    assert set(LOSSES) == set(LossSettings.by_variant.values())
    assert all(CONFIGS[v].train.variant == v for v in VARIANTS)  # `--variant NAME` trains the configuration NAME
    for name, config in CONFIGS.items():
        stored = config.to_dict()
        assert stored["train"]["loss"]["variant"] == config.train.variant
        assert Config.from_dict(stored) == config, name
    cycle = get_config("musae", cycle_weight=0.5, steps=10)
    assert cycle.train == get_config("musae-cycle", steps=10).train


def test_style_prior_components_and_moments():
    prior = StylePrior(("a", "b", "c"), 8, radius=4.0, std=1.0)
    labels = torch.tensor([0, 1, 2] * 200)
    z = prior.sample(labels, torch.Generator().manual_seed(0))
    nearest = torch.cdist(z, prior.means).argmin(1)
    assert (nearest == labels).float().mean() > 0.95
    mean, std = prior.moments()
    assert torch.allclose(mean, z.mean(0), atol=0.25) and torch.allclose(std, z.std(0), atol=0.25)
    assert torch.equal(prior.moments("b")[0], prior.means[1])
    with pytest.raises(ValueError):
        StylePrior(tuple("abcdefghi"), 8, 4.0, 1.0)


def test_the_style_cycle_teaches_the_decoder_alone():
    """Prior codes decoded and read again come back to their component more often, and only the decoder learns it."""
    model = tiny(seed=2).train()
    prior = StylePrior(("a", "b", "c"), 8, radius=4.0, std=1.0)
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(3).repeat(40)
    encoder = {n: p.detach().clone() for n, p in model.named_parameters() if n.startswith(("encoder", "to_mu"))}

    def comes_back() -> float:
        z = prior.sample(labels, torch.Generator().manual_seed(1))
        with torch.no_grad():
            back = encode_fixed(model, torch.nn.functional.one_hot(model.decode(z), model.cfg.vocab_size).float())
        return (torch.cdist(back, prior.means).argmin(1) == labels).float().mean().item()

    before = comes_back()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(80):
        loss = cycle_loss(model, prior, labels, gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert all(torch.equal(p, encoder[n]) for n, p in model.named_parameters() if n in encoder)
    assert comes_back() > max(0.6, before + 0.2)


@pytest.fixture(scope="module")
def styled_folders(tmp_path_factory):
    """Two styles a model can learn to tell apart: low tunes in one folder, tunes an octave up in another.

    The high style has a quarter as many bars, as Bach has beside German in the real corpus.
    """
    root = tmp_path_factory.mktemp("styled")
    for style, seed, shift, bars in (("low", 3, 0, 8), ("high", 4, 12, 2)):
        (root / style).mkdir()
        for i, tokens in enumerate(melody_bars(40, bars, seed=seed)):
            write_midi(root / style / f"{style}{i:02d}.mid", tokens_to_notes(np.where(tokens >= 2, tokens + shift, tokens)))
    return [str(root / "low"), str(root / "high")]


@pytest.fixture(scope="module")
def tiny_musae(tmp_path_factory, styled_folders):
    out = tmp_path_factory.mktemp("musae") / "musae.pt"
    cfg = get_config("tiny-musae", data=tuple(styled_folders), steps=400)
    card = train(cfg, out, corpus=load_corpus(styled_folders, progress=False), progress=False)
    return out, card


def test_musae_trains_with_its_styles_and_samples_each(tiny_musae, styled_folders):
    out, card = tiny_musae
    model, config, _ = load_model(out)
    corpus = load_corpus(styled_folders, progress=False)
    _, labels = style_labels(corpus, config.model.styles)
    with torch.no_grad():
        codes = model.encode(torch.as_tensor(corpus.bars.astype(np.int64)))[0]
    means = StylePrior(config.model.styles, 8, config.model.style_radius, 1.0).means
    for k, style in enumerate(config.model.styles):  # the rarer style too: not pulled to the commoner's component
        nearest = torch.cdist(codes[labels == k].mean(0, keepdim=True), means).argmin().item()
        assert nearest == k, f"{style} bars centre on {config.model.styles[nearest]}'s component"
    assert card["styles"]["names"] == ["high", "low"] and card["variant"] == "musae"
    vae = MusicVAE(str(out), device="cpu")
    assert vae.styles == ("high", "low")
    high, low = vae.sample(32, temperature=0.0, seed=0, style="high"), vae.sample(32, temperature=0.0, seed=0, style="low")
    pitch = lambda bars: bars[bars >= 2].mean()
    assert pitch(high) > pitch(low) + 4, "a sample from the 'high' component should sound higher"


def test_flat_variant_trains_and_reports_its_flatness(midi_folder, tmp_path):
    out = tmp_path / "flat.pt"
    cfg = get_config("tiny-flat", data=(str(midi_folder),), steps=20)
    card = train(cfg, out, corpus=load_corpus([str(midi_folder)], progress=False), progress=False)
    assert not load_model(out)[1].model.autoregressive
    assert "flat" in card["training"]["final"]
    assert {"flatness_condition_number", "flatness_logdet_std"} <= set(card["metrics"]["test"])


def one_line_error(capsys, *argv):
    assert main(list(argv)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    return err


def test_style_needs_a_musae_model_and_a_known_style(capsys, tiny_model, tiny_musae, tmp_path):
    out = tmp_path / "x.mid"
    assert "--model musae" in one_line_error(capsys, "music", "sample", "--model", str(tiny_model), "--style", "high", "-o", str(out))
    assert "high, low" in one_line_error(capsys, "music", "sample", "--model", str(tiny_musae[0]), "--style", "jazz", "-o", str(out))
    assert not out.exists()
    assert main(["music", "sample", "--model", str(tiny_musae[0]), "--style", "high", "-o", str(out)]) == 0
    assert "high style" in capsys.readouterr().out and out.exists()


def test_eval_compare_prints_one_table_and_draws_the_walks(capsys, tiny_model, tiny_musae, styled_folders, tmp_path):
    plot, midi = tmp_path / "cmp.png", tmp_path / "walks"
    argv = ["eval", "compare", "--models", str(tiny_model), str(tiny_musae[0]), "--input", *styled_folders,
            "--pairs", "8", "--plot", str(plot), "--plot-pairs", "2", "--midi", str(midi)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    for label in ("teacher-forced accuracy", "max step change", "condition number", "linear probe", "samples recognised"):
        assert label in out
    assert plot.stat().st_size > 10_000 and plot.read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in midi.iterdir()) == ["musae.mid", "tiny.mid"]
    assert main(argv[:-6] + ["--json"]) == 0
    figures = json.loads(capsys.readouterr().out.split("\ncompared")[0])["models"]
    assert set(figures) == {"tiny", "musae"} and "style_sample_accuracy" in figures["musae"]
    assert "style_sample_accuracy" not in figures["tiny"]
