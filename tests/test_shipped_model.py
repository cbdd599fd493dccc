"""The shipped models (media/models): they load, they know real tunes, their cards are honest."""
import functools
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from modelkit import card_path, parameter_count
from music_vae import checkpoint as music_checkpoint
from music_vae.corpus import split_of
from music_vae.corpus.dataset import extract_item
from music_vae.corpus.sources import TuneItem, items_for
from music_vae.metrics import interpolation_smoothness, reconstruction_accuracy
from music_vae.musicality import rhythm_distance
from music_vae.trained_model import MusicVAE
from score_av.models import MUSIC_MODEL
from score_av.render import RenderOptions
from video_vae import checkpoint as video_checkpoint
from video_vae.metrics import reconstruction
from video_vae.preprocess import resize_frames
from video_vae.scenes import scene, scenes
from video_vae.train import split_blocks
from video_vae.trained_model import VideoVAE

from conftest import POLKA_ABC, REEL_ABC


# The models score-av ships in media/models: the default music model (what `score-av render` uses),
# the three it is compared with, and the video model. Each must be there: one missing fails, it is
# never skipped and never drops out of the parametrised tests below.
MEDIA_MODELS = Path(__file__).resolve().parents[1] / "media" / "models"
MUSIC_MODELS = sorted({MUSIC_MODEL, "vae", "flat", "musae"})
REQUIRED = [*MUSIC_MODELS, "video"]


def shipped_path(name: str) -> Path:
    path = MEDIA_MODELS / f"{name}.pt"
    if not path.exists():
        how = "score-av train music --config dance --out media/models/dance.pt" if name == "dance" else \
            f"its card media/models/{name}.json says how it was trained"
        pytest.fail(f"media/models/{name}.pt is missing: it ships with score-av ({how})")
    return path


def shipped_music(name: str) -> MusicVAE:
    return MusicVAE(shipped_path(name), device="cpu")


@pytest.fixture(scope="module")
def vae():
    return shipped_music("vae")


def real_bars():
    reel = extract_item(TuneItem("reel", "irish", "abc-text", REEL_ABC)).bars
    polka = extract_item(TuneItem("polka", "irish", "abc-text", POLKA_ABC)).bars
    return np.concatenate([reel, polka])


def test_the_default_music_model_is_one_of_the_shipped_ones_and_is_there():
    assert MUSIC_MODEL == RenderOptions().model and MUSIC_MODEL in MUSIC_MODELS
    assert shipped_music(MUSIC_MODEL).card["model"] == MUSIC_MODEL


@pytest.mark.parametrize("name", MUSIC_MODELS)
def test_every_shipped_music_model_is_small_and_latent_32(name):
    model = shipped_music(name)
    assert model.latent_dim == 32
    assert sum(p.numel() for p in model.model.parameters()) < 5_000_000
    assert shipped_path(name).stat().st_size < 20 * 2**20


@pytest.mark.parametrize("name", MUSIC_MODELS)
def test_every_shipped_music_model_plays_back_tunes_it_never_saw(name):
    acc = reconstruction_accuracy(shipped_music(name).model, real_bars())
    assert acc["teacher_forced_accuracy"] >= 0.95 and acc["sampled_accuracy"] >= 0.9, acc


@pytest.mark.parametrize("name", MUSIC_MODELS)
def test_interpolation_starts_and_ends_on_the_two_bars(name):
    model = shipped_music(name)
    bars = real_bars()
    path = model.interpolate(bars[0], bars[-1], n=8)
    ends = model.decode(model.encode(np.stack([bars[0], bars[-1]])))
    assert path.shape == (8, 16)
    assert np.array_equal(path[0], ends[0]) and np.array_equal(path[-1], ends[1])
    steps = (path[1:] != path[:-1]).mean(axis=1)
    assert steps.max() < 1.0  # no step replaces the whole bar


@pytest.mark.parametrize("name", MUSIC_MODELS)
def test_every_music_card_reports_its_test_split_figures(name):
    card = shipped_music(name).card
    assert card["data"]["split_seed"] == 0 and card["training"]["wall_seconds"] < 3600
    m = card["metrics"]["test"]
    assert m["teacher_forced_accuracy"] >= 0.95 and m["sampled_accuracy"] >= 0.90
    assert 0 < m["interp_evenness"] <= 1


def test_the_vae_card_reports_the_figures_the_issue_asks_for(vae):
    """The plain vae's card, on Ryan's Mammoth too (never trained on; the other models play it less
    well, below 0.95 teacher-forced or 0.90 sampled, as their cards and the README's table say)."""
    m = vae.card["metrics"]["ryans"]
    assert m["teacher_forced_accuracy"] >= 0.95 and m["sampled_accuracy"] >= 0.90
    assert 0 < m["interp_evenness"] <= 1


def test_the_flat_models_walks_between_real_bars_jump_less_than_the_plain_vaes(vae):
    """Issue 4's point: along a straight line between two bars' codes, flat changes fewer notes at its biggest step."""
    bars = real_bars()
    flat = MusicVAE("flat", device="cpu")
    pairs = np.random.default_rng(0).integers(0, len(bars), (24, 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]

    def biggest_steps(model: MusicVAE) -> float:
        walks = [model.interpolate(bars[a], bars[b]) for a, b in pairs]
        return float(np.mean([(w[1:] != w[:-1]).mean(axis=1).max() for w in walks]))

    assert biggest_steps(flat) < 0.75 * biggest_steps(vae)


# Every checkpoint shipped in media/models (those REQUIRED among them, there or not: a missing one
# fails), loaded with the project's trained-model API and held to its card: what the card says the
# model is, and its figures measured again here on a small fixed set.
# inpaint.pt is no VAE but the latent inpainting model over `dance` (music_vae/inpaint.py): tests/test_inpaint.py
# holds it to its card.
SHIPPED = sorted({p for p in MEDIA_MODELS.glob("*.pt") if p.stem not in ("inpaint", "bass")}
                 | {MEDIA_MODELS / f"{name}.pt" for name in REQUIRED})

# Music: the card's figures are over its whole test split (3,406 bars of 339 tunes), which only parsing
# the corpora gives (~13 minutes). Here: every 10th tune of the test split in the corpora's order, parsed
# alone (61 tunes, 29 with bars in 4/4, 2/2 or 2/4: 333 bars, ~5 s). Over random sets of 30 of the test
# split's tunes (25 sets), the standard deviation of each figure was at most (vae, flat, musae as shipped):
# teacher-forced accuracy 0.0027, sampled accuracy 0.0068, interpolation mean step change 0.014 (5-14% of
# it), max step change 0.021 (4-5%). The tolerances are 3 to 4 of those: a fixed subset lies that far
# from the whole split, a card from other weights (flat before its retraining: mean 0.083, max 0.321,
# against 0.054 and 0.176) does not. This subset measured: vae 0.9957 / 0.9874 / 0.134 / 0.394 against
# the card's 0.9968 / 0.9884 / 0.159 / 0.431; flat 0.9899 / 0.9899 / 0.048 / 0.168 against
# 0.9880 / 0.9880 / 0.054 / 0.176; musae 0.9927 / 0.9786 / 0.138 / 0.404 against 0.9917 / 0.9748 / 0.166 / 0.434.
MUSIC_TEST_TUNE_STRIDE = 10
MUSIC_ABS_TOLERANCE = {"teacher_forced_accuracy": 0.01, "sampled_accuracy": 0.025}
MUSIC_REL_TOLERANCE = {"interp_mean_step_change": 0.4, "interp_max_step_change": 0.2}

# Video: the card's PSNR is over its held-out scenes (75 scenes x 16 frames, ~12 s to encode). Here: the
# same 75 scenes, each drawn at 4 frames (t = 0, 1/3, 2/3, 1 of the same movement): 19.55 dB against the
# card's 19.51. Any 4 of each scene's 16 frames give the card's figure +-0.14 dB (99% of 3,000 random
# draws); 0.25 dB is well outside that and well inside what other weights or a stale card would be off by.
VIDEO_FRAMES_PER_SCENE = 4
VIDEO_PSNR_TOLERANCE_DB = 0.25


def checkpoint_format(path: Path) -> str:
    return torch.load(path, map_location="cpu", weights_only=True).get("format", "")


def load_shipped(path: Path):
    """(the model through its trained-model API, the checkpoint's contents), by the checkpoint's format."""
    fmt = checkpoint_format(shipped_path(path.stem))
    if fmt == music_checkpoint.FORMAT.tag:
        return MusicVAE(path, device="cpu"), music_checkpoint.read_checkpoint(path)
    if fmt == video_checkpoint.FORMAT.tag:
        return VideoVAE(path, device="cpu"), video_checkpoint.read_checkpoint(path)
    pytest.fail(f"{path.name}: a checkpoint of format {fmt!r}, which no test here knows how to hold to its card")


def test_the_models_the_pipeline_asks_for_are_shipped():
    missing = [name for name in REQUIRED if not (MEDIA_MODELS / f"{name}.pt").exists()]
    there = sorted(p.name for p in MEDIA_MODELS.glob("*.pt"))
    assert not missing, f"media/models lacks {missing}: it holds only {there}"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_the_card_describes_the_checkpoint_beside_it(path):
    model, ckpt = load_shipped(path)
    assert card_path(path).exists(), f"{path.name} ships without its card {card_path(path).name}"
    card = model.card
    assert card["model"] == path.stem
    if isinstance(model, MusicVAE):
        assert card["variant"] == model.config.train.variant, f"the card is a {card['variant']} model's"
        assert card["data"]["split_seed"] == model.config.train.split_seed
        assert card["metrics"]["test"]["bars"] == card["data"]["bars"]["test"]
    else:
        assert card["kind"] == "video_vae"
        assert np.allclose(card["latent"]["latent_mean"], ckpt["latent_mean"], atol=1e-5)
        assert np.allclose(card["latent"]["latent_std"], ckpt["latent_std"], atol=1e-5)
        assert card["file_bytes"] == path.stat().st_size
    assert card["parameters"] == parameter_count(model.model)
    assert card["config"] == json.loads(json.dumps(ckpt["config"]))  # tuples stored, lists in JSON
    training = card["training"]  # the README quotes both
    assert isinstance(training["steps"], int) and training["steps"] == ckpt["step"] == model.config.train.steps
    assert isinstance(training["wall_seconds"], (int, float)) and training["wall_seconds"] > 0


@functools.lru_cache(maxsize=None)
def card_test_subset(sources: tuple[str, ...], seed: int) -> np.ndarray:
    """Bars of every MUSIC_TEST_TUNE_STRIDE-th tune of the test split of `sources` (the card's own split)."""
    test = [it for it in items_for(list(sources)) if split_of(it.tune_id, seed) == "test"]
    tunes = [extract_item(it) for it in test[::MUSIC_TEST_TUNE_STRIDE]]
    return np.concatenate([t.bars for t in tunes if not t.skipped and len(t.bars)])


def card_valid_scenes(config) -> np.ndarray:
    """The held-out scenes of a video model trained on synthetic scenes, VIDEO_FRAMES_PER_SCENE frames each."""
    t = config.train
    _, valid = split_blocks(t.synthetic_scenes * t.frames_per_scene, t.frames_per_scene, t.valid_share)
    held = np.unique(valid // t.frames_per_scene)
    draw = lambda i: scene(np.random.default_rng([t.data_seed, int(i)]), VIDEO_FRAMES_PER_SCENE,
                           t.synthetic_height, t.synthetic_width)
    ahead = list(scenes(t.data_seed, int(held[0]) + 1, VIDEO_FRAMES_PER_SCENE, t.synthetic_height, t.synthetic_width))
    assert np.array_equal(draw(held[0]), ahead[-1]), "video_vae.scenes no longer seeds scene i with (seed, i)"
    return resize_frames(np.concatenate([draw(i) for i in held]), config.model.image_size)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_the_cards_figures_hold_on_a_fresh_evaluation(path):
    model, _ = load_shipped(path)
    card = model.card
    if isinstance(model, MusicVAE):
        figures = card["metrics"]["test"]
        bars = card_test_subset(tuple(model.config.train.data), model.config.train.split_seed)
        fresh = {**reconstruction_accuracy(model.model, bars),
                 **interpolation_smoothness(model.model, bars, n_pairs=figures["interp_pairs"])}
        for key, tol in MUSIC_ABS_TOLERANCE.items():
            assert fresh[key] == pytest.approx(figures[key], abs=tol), (key, fresh[key], figures[key])
        for key, tol in MUSIC_REL_TOLERANCE.items():
            assert fresh[key] == pytest.approx(figures[key], rel=tol), (key, fresh[key], figures[key])
    else:
        assert card["data"]["source"].startswith("synthetic scenes"), \
            "a shipped video model is trained on synthetic scenes, so that its figures can be checked anywhere"
        figures = card["metrics"]["valid"]
        frames = card_valid_scenes(model.config)
        assert len(frames) == figures["frames"] // model.config.train.frames_per_scene * VIDEO_FRAMES_PER_SCENE
        fresh = reconstruction(model.model, frames)
        assert fresh["psnr_db"] == pytest.approx(figures["psnr_db"], abs=VIDEO_PSNR_TOLERANCE_DB), \
            (fresh["psnr_db"], figures["psnr_db"])


@pytest.mark.parametrize("path", [p for p in SHIPPED if p.stem != "video"], ids=lambda p: p.stem)
def test_each_music_model_ships_a_data_prior_whose_bars_have_the_corpus_rhythm(path):
    """The data prior (music_vae/data_prior.py) beside the checkpoint: the test split's codes are far
    likelier under it than under the prior the model was trained against, and the bars decoded from
    it have the rhythm of real held-out bars, as its card says."""
    model, _ = load_shipped(path)
    assert model.data_prior is not None, f"{path.stem}.prior.npz is missing (score-av music prior --model {path.stem})"
    card = model.card["data_prior"]
    assert card["components"] == len(model.data_prior.weights)
    rhythm = card["rhythm_against_test_bars"]
    for figure in ("onset_position_tv", "duration_tv"):
        assert rhythm["data_prior"][figure] <= 0.1
    bars = card_test_subset(tuple(model.config.train.data), model.config.train.split_seed)
    codes = model.encode(bars)
    assert model.data_prior.log_likelihood(codes).mean() > model.trained_prior().log_likelihood(codes).mean() + 5
    fresh = rhythm_distance(model.decode(model.data_prior.sample(1000, seed=1)), bars)
    for figure in ("onset_position_tv", "duration_tv"):  # against a tenth of the test tunes: some room
        assert fresh[figure] <= 0.15, (figure, fresh)


@pytest.mark.parametrize("path", [p for p in SHIPPED if p.stem != "video"], ids=lambda p: p.stem)
def test_each_music_cards_command_trains_the_configuration_the_checkpoint_holds(path):
    """The card's `reproduce` line, parsed by the command line, names the very configuration the model
    was trained with (data, steps and loss included), and writes where the model is shipped."""
    import shlex

    from music_vae.configs import get_config
    from score_av.cli import build_parser

    model, _ = load_shipped(path)
    argv = shlex.split(model.card["reproduce"])
    assert argv[:3] == ["score-av", "train", "music"], argv
    args = build_parser().parse_args(argv[1:])
    config = get_config(args.config or args.variant, steps=args.steps, batch_size=args.batch_size, seed=args.seed,
                        data=tuple(args.data) if args.data else None)
    trained = model.config.to_dict()  # the checkpoint's config, read as the model loads it
    trained["model"].pop("styles")  # the corpus's styles, which training sets when it starts
    asked = config.to_dict()
    asked["model"].pop("styles")
    assert asked == trained
    assert args.out == Path("media/models") / path.name
