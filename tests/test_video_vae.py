"""The video VAE: synthetic scenes, preprocessing, training, checkpoints, fitting, and the CLI."""
import inspect
import itertools
import json

import cv2
import numpy as np
import pytest
import torch

from conftest import SHARED
from score_av.cli import main
from video_vae import train as train_module
from video_vae.checkpoint import load_model, models_dir, read_checkpoint, resolve_model
from video_vae.configs import CONFIGS, Config, get_config
from video_vae.errors import CheckpointError
from video_vae.metrics import reconstruction
from video_vae.preprocess import prepare, resize_frames
from video_vae.scenes import KINDS, clip_with_cuts, scene, scenes
from video_vae.train import augment, fine_tune, split_blocks, train
from video_vae.trained_model import VideoVAE


def frame_changes(frames: np.ndarray) -> np.ndarray:
    """Mean absolute difference between each frame and the one before, (n - 1,)."""
    return np.abs(np.diff(frames.astype(np.int16), axis=0)).mean(axis=(1, 2, 3))


@pytest.fixture(scope="module")
def tiny_video(tmp_path_factory):
    """A tiny video VAE trained for a few seconds on synthetic scenes, and its card."""
    out = tmp_path_factory.mktemp("video") / "tiny.pt"
    card = train(get_config("tiny"), None, out, device="cpu", progress=False)
    return out, card


def test_scenes_are_deterministic_per_seed_and_varied():
    a = list(scenes(seed=3, n_scenes=14, frames_per_scene=4, height=48, width=64))
    b = list(scenes(seed=3, n_scenes=14, frames_per_scene=4, height=48, width=64))
    other = next(scenes(seed=4, n_scenes=1, frames_per_scene=4, height=48, width=64))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], other)
    assert all(s.shape == (4, 48, 64, 3) and s.dtype == np.uint8 for s in a)
    means = np.array([s.mean(axis=(0, 1, 2)) for s in a])  # colour of each scene
    assert means.std(axis=0).min() > 15, "scenes should differ in colour and brightness"
    assert sum(frame_changes(s).max() > 0.5 for s in a) >= 8, "most scenes should move"
    for kind in KINDS:  # every kind draws, at an odd size too
        frames = scene(np.random.default_rng(0), 3, 37, 53, kind=kind)
        assert frames.shape == (3, 37, 53, 3) and frames.std() > 0


def test_scenes_stream_one_at_a_time_and_a_longer_run_starts_with_the_same_scenes():
    """Training draws its footage scene by scene. How fast is bench's business, not a test's (a busy
    machine must not fail one): here, that a long run is drawn lazily and begins with the short run."""
    long_run = scenes(seed=0, n_scenes=500, frames_per_scene=8, height=64, width=64)
    assert inspect.isgenerator(long_run)
    first = list(itertools.islice(long_run, 3))  # only 3 of the 500 are drawn
    short = list(scenes(seed=0, n_scenes=3, frames_per_scene=8, height=64, width=64))
    assert len(first) == 3 and all(np.array_equal(a, b) for a, b in zip(first, short))
    assert all(s.shape == (8, 64, 64, 3) and s.dtype == np.uint8 for s in first)
    assert sum(len(s) for s in scenes(seed=0, n_scenes=5, frames_per_scene=2, height=16, width=16)) == 10


def test_clip_cuts_are_where_the_picture_changes():
    fps = 10.0
    frames, cuts = clip_with_cuts(5, [1.5, 2.0, 1.2, 1.8], fps=fps, height=60, width=80)
    assert frames.shape == (65, 60, 80, 3)
    assert np.allclose(cuts, [1.5, 3.5, 4.7])
    change = frame_changes(frames)
    at_cuts = np.round(cuts * fps).astype(int) - 1  # change[i] is between frame i and i + 1
    within = np.delete(change, at_cuts)
    assert change[at_cuts].min() > 2 * within.max()
    again, _ = clip_with_cuts(5, [1.5, 2.0, 1.2, 1.8], fps=fps, height=60, width=80)
    assert np.array_equal(frames, again)


def test_a_still_shot_has_identical_frames_and_noise_is_tiny():
    frames, cuts = clip_with_cuts(2, [1.0, 1.0], fps=8, height=40, width=40, still=[True, False])
    assert len(cuts) == 1 and frame_changes(frames[:8]).max() == 0
    noisy, _ = clip_with_cuts(2, [1.0], fps=8, height=40, width=40, still=True, noise=1.0)
    assert 0 < frame_changes(noisy).max() < 3


def test_preprocess_squashes_any_size_and_single_frames():
    rng = np.random.default_rng(0)
    odd = rng.integers(0, 256, (2, 241, 321, 3), dtype=np.uint8)
    x = prepare(odd)
    assert x.shape == (2, 3, 64, 64) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    one = prepare(odd[0])
    assert one.shape == (1, 3, 64, 64) and torch.equal(one[0], x[0])
    flat = np.full((1, 100, 30, 3), (10, 200, 90), np.uint8)  # a flat colour stays that colour
    assert np.array_equal(resize_frames(flat, 64)[0, 5, 5], [10, 200, 90])
    small = rng.integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    assert np.array_equal(resize_frames(small, 64), small)
    with pytest.raises(ValueError):
        prepare(odd.astype(np.float32))


def test_validation_is_held_out_by_whole_blocks():
    train_idx, valid_idx = split_blocks(400, 16, 0.1)
    assert len(valid_idx) and not set(train_idx) & set(valid_idx)
    held = np.unique(valid_idx // 16)
    assert all(np.isin(np.arange(b * 16, b * 16 + 16), valid_idx).all() for b in held)  # whole blocks
    everything, same = split_blocks(10, 16, 0.1)  # one block: nothing can be held out
    assert np.array_equal(everything, same)


def test_augmentation_keeps_shape_and_range():
    x = torch.rand(8, 3, 64, 64)
    y = augment(x, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1 and not torch.equal(x, y)


def test_config_round_trip_and_overrides():
    for cfg in CONFIGS.values():
        assert Config.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
        assert cfg.model.latent_dim == 32
    assert get_config("tiny", steps=7, seed=None).train.steps == 7
    assert get_config("tiny", seed=None) == CONFIGS["tiny"]


def test_training_writes_a_checkpoint_and_card_that_reload(tiny_video):
    out, card = tiny_video
    ckpt = torch.load(out, map_location="cpu", weights_only=True)
    assert ckpt["format"] == "score-av/video_vae" and len(ckpt["latent_mean"]) == len(ckpt["latent_std"]) == 32
    saved = json.loads(out.with_suffix(".json").read_text())
    assert saved == json.loads(json.dumps(card))
    valid = card["metrics"]["valid"]
    assert card["data"]["frames"]["valid"] > 0 and valid["psnr_db"] > 12 and valid["active_dims"] >= 16
    assert {"platform", "cpu_count", "torch"} <= set(card["machine"]) and card["training"]["wall_seconds"] > 0
    model = VideoVAE(out, device="cpu")
    assert model.latent_dim == 32 and model.latent_mean.shape == model.latent_std.shape == (32,)
    assert model.latent_std.dtype == np.float32 and (model.latent_std > 0).all()
    assert np.allclose(model.latent_mean, ckpt["latent_mean"])


def test_codes_are_deterministic_and_tell_scenes_apart(tiny_video):
    model = VideoVAE(tiny_video[0], device="cpu")
    frames, cuts = clip_with_cuts(11, [1.0, 1.0, 1.0], fps=8, height=120, width=160, still=[True, False, False])
    codes = model.encode(frames)
    assert codes.shape == (24, 32) and codes.dtype == np.float32
    assert np.array_equal(codes, model.encode(frames))
    assert np.allclose(model.encode(frames[3]), codes[3], atol=1e-5)  # one frame, same code as in a batch
    shots = [codes[:8], codes[8:16], codes[16:]]
    within_still = np.linalg.norm(shots[0] - shots[0][0], axis=1).max()
    between = min(np.linalg.norm(shots[0].mean(0) - s.mean(0)) for s in shots[1:])
    assert within_still < 1e-4 < between
    images = model.decode(codes[:2])
    assert images.shape == (2, 64, 64, 3) and images.dtype == np.uint8


class StepClock:
    """The clock video_vae.train reads, in place of the machine's: it moves only when a training step
    runs, by `step_seconds` each, so a time budget buys the same steps on a fast or a busy machine."""

    def __init__(self, monkeypatch, step_seconds: float):
        self.now, self.step_seconds, self.steps = 1000.0, step_seconds, 0
        real_step = train_module._step

        def step(*args, **kwargs):
            stats = real_step(*args, **kwargs)
            self.steps += 1
            self.now += step_seconds
            return stats

        monkeypatch.setattr(train_module, "_step", step)
        monkeypatch.setattr(train_module, "time", self)

    def time(self) -> float:
        return self.now

    monotonic = perf_counter = time


def test_fine_tune_stops_by_its_own_budget_and_learns_the_frames(tiny_video, monkeypatch):
    model, config, _ = load_model(tiny_video[0])
    frames = np.concatenate(list(scenes(seed=99, n_scenes=3, frames_per_scene=8, height=64, width=64)))
    before = reconstruction(model, frames)["mse"]
    mean_before = model.latent_mean.clone()
    clock = StepClock(monkeypatch, step_seconds=0.07)
    started = clock.now
    fine_tune(model, frames, seconds=3.0, config=config.train, progress=False)
    used = clock.now - started
    assert 3.0 - 0.07 < used <= 3.0  # no step ends past the budget, and it stops only when the next would
    assert clock.steps == 42  # 42 x 0.07 s = 2.94 s; a 43rd step would end at 3.01 s
    assert reconstruction(model, frames)["mse"] < 0.9 * before
    assert not torch.equal(model.latent_mean, mean_before)


def test_fine_tune_with_no_time_takes_no_step(tiny_video, monkeypatch):
    model, config, _ = load_model(tiny_video[0])
    weights = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("latent_")}
    clock = StepClock(monkeypatch, step_seconds=0.07)
    fine_tune(model, scene(np.random.default_rng(5), 8, 64, 64), seconds=0.0, config=config.train, progress=False)
    assert clock.steps == 0
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in weights.items())


def test_fit_reports_before_and_after(tiny_video, monkeypatch):
    StepClock(monkeypatch, step_seconds=0.07)  # 1.5 s buys 21 steps on any machine
    model = VideoVAE(tiny_video[0], device="cpu")
    frames, _ = clip_with_cuts(8, [2.0], fps=8, height=90, width=120)
    report = model.fit(frames, seconds=1.5, progress=False)
    assert report["frames"] == 16 and report["mse_after"] < report["mse_before"]
    assert np.allclose(model.latent_mean, model.encode(frames).mean(0), atol=1e-4)


def test_a_file_that_is_not_a_checkpoint_is_refused(tmp_path):
    bad = tmp_path / "notes.pt"
    bad.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="notes.pt"):
        read_checkpoint(bad)
    torch.save({"format": "score-av/music_vae", "version": 1}, tmp_path / "music.pt")
    with pytest.raises(CheckpointError, match="not a score-av video model"):
        VideoVAE(tmp_path / "music.pt")
    with pytest.raises(CheckpointError, match="score-av train video"):
        resolve_model(tmp_path / "missing")


def test_cli_trains_on_synthetic_scenes(tmp_path, capsys):
    out = tmp_path / "x.pt"
    assert main(["train", "video", "--synthetic", "--config", "tiny", "--steps", "20", "--out", str(out)]) == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["training"]["steps"] == 20 and "--synthetic" in card["reproduce"]
    assert "PSNR" in capsys.readouterr().out
    read_checkpoint(out)


def test_cli_trains_on_an_image_folder(tmp_path, capsys):
    folder = tmp_path / "stills" / "nested"
    folder.mkdir(parents=True)
    for i, frames in enumerate(scenes(seed=1, n_scenes=6, frames_per_scene=2, height=90, width=120)):
        for j, frame in enumerate(frames):
            cv2.imwrite(str(folder / f"f{i}{j}.{'png' if j else 'jpg'}"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    (folder / "notes.txt").write_text("ignored")
    out = tmp_path / "mine.pt"
    code = main(["train", "video", str(tmp_path / "stills"), "--config", "tiny", "--steps", "5", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["data"]["source"].startswith("12 frames from 0 clips and 12 images")


def test_cli_errors_are_one_line(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["train", "video", str(empty), "--config", "tiny", "--out", str(tmp_path / "e.pt")]) == 2
    err = capsys.readouterr().err
    assert "empty" in err and "no images" in err and len(err.strip().splitlines()) == 1
    (empty / "broken.png").write_bytes(b"not a png")
    assert main(["train", "video", str(empty), "--config", "tiny", "--out", str(tmp_path / "e.pt")]) == 2
    assert "broken.png" in capsys.readouterr().err
    assert main(["train", "video", "--config", "tiny"]) == 2
    assert "--synthetic" in capsys.readouterr().err
    assert not (tmp_path / "e.pt").exists()


SHARED_CLIPS = SHARED / "clips"


@pytest.fixture(scope="module")
def shipped():
    if not (models_dir() / "video.pt").exists():
        pytest.fail("media/models/video.pt is missing: it ships with score-av "
                    "(score-av train video --synthetic --out media/models/video.pt)")
    return VideoVAE("video", device="cpu")


def test_the_shipped_model_is_small_uses_its_latent_and_tells_shots_apart(shipped):
    assert shipped.path.stat().st_size < 8_000_000 and shipped.latent_dim == 32
    valid = shipped.card["metrics"]["valid"]
    assert valid["active_dims"] >= 24 and valid["psnr_db"] > 17
    assert (shipped.latent_std > 0.1).sum() >= 24
    frames, _ = clip_with_cuts(21, [1.0] * 4, fps=8, height=120, width=160)
    codes = shipped.encode(frames).reshape(4, 8, 32)
    spread = np.linalg.norm(codes - codes.mean(1, keepdims=True), axis=-1).mean()
    centres = codes.mean(1)
    gaps = [np.linalg.norm(centres[i] - centres[i + 1]) for i in range(3)]
    assert min(gaps) > 1.5 * spread


def test_the_shipped_model_tells_the_real_clips_apart(shipped):
    clips = [SHARED_CLIPS / "asl_book_webcam.mkv", SHARED_CLIPS / "one-by-one-person-detection.mp4"]
    if not all(c.exists() for c in clips):
        pytest.skip(f"the shared real clips are not here ({SHARED_CLIPS})")
    from score_av.sources import clip_frames

    codes = [shipped.encode(clip_frames(c, 64, fps=1.0)[1]) for c in clips]
    spread = max(np.linalg.norm(c - c.mean(0), axis=1).mean() for c in codes)
    assert np.linalg.norm(codes[0].mean(0) - codes[1].mean(0)) > 2 * spread
