"""Shared fixtures: small real music made in the test, a tiny trained model, the shared clips."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from music_vae.midi_io import write_midi
from music_vae.representation import tokens_to_notes

SHARED = Path(__file__).resolve().parents[2] / "shared"
MEDIA_MODELS = Path(__file__).resolve().parents[1] / "media" / "models"

# A reel in ABC, 4/4 with a one-quaver pickup: its first full bar is known exactly.
REEL_ABC = """X:1
T:Test Reel
M:4/4
L:1/8
K:D
A|dfaf gfed|cABc dAFA|GBdB AFDF|EFGE FDD2-|D2FA dfaf|
"""
JIG_ABC = """X:1
T:Test Jig
M:6/8
L:1/8
K:G
D|GAG GAB|ABA ABd|edd gdd|edB dBA|
"""
POLKA_ABC = """X:1
T:Test Polka
M:2/4
L:1/8
K:G
GA Bc|dB AG|FG AB|cA FD|
"""


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Each test session caches parsed corpora in a temporary folder, never in the user's."""
    monkeypatch.setenv("SCORE_AV_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def melody_bars(n_tunes: int = 16, bars_per_tune: int = 8, seed: int = 0) -> list[np.ndarray]:
    """Tunes made of a small bank of one-bar motifs, each tune in its own key: real enough to learn."""
    rng = np.random.default_rng(seed)
    scale = np.array([0, 2, 4, 5, 7, 9, 11, 12])
    rhythms = [[4, 4, 4, 4], [2, 2, 4, 2, 2, 4], [8, 4, 4], [2, 2, 2, 2, 8]]
    motifs = []
    for i in range(10):
        bar = []
        for d in rhythms[i % len(rhythms)]:
            bar += [int(rng.choice(scale))] + [None] * (d - 1)
        motifs.append(bar)
    tunes = []
    for _ in range(n_tunes):
        root = int(rng.integers(57, 70))
        tokens = []
        for m in rng.integers(0, len(motifs), bars_per_tune):
            tokens += [0 if p is None else root + p - 21 + 2 for p in motifs[m]]
        tunes.append(np.array(tokens))
    return tunes


@pytest.fixture(scope="session")
def midi_folder(tmp_path_factory) -> Path:
    from music_vae.corpus import split_of

    folder = tmp_path_factory.mktemp("tunes", numbered=False)
    for i, tokens in enumerate(melody_bars()):
        write_midi(folder / f"tune{i:02d}.mid", tokens_to_notes(tokens))
    sides = {split_of(f"tunes/tune{i:02d}.mid") for i in range(16)}
    assert sides == {"train", "valid", "test"}, "the fixture's tunes should fall on every side of the split"
    return folder


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, midi_folder) -> Path:
    """A tiny music VAE trained for a few seconds on the generated tunes."""
    from music_vae.configs import get_config
    from music_vae.corpus import load_corpus
    from music_vae.train import train

    out = tmp_path_factory.mktemp("models") / "tiny.pt"
    cfg = get_config("tiny", data=(str(midi_folder),), steps=300)
    train(cfg, out, corpus=load_corpus([str(midi_folder)], progress=False), progress=False)
    return out


def moving_frames(n: int = 75, width: int = 160, height: int = 120, seed: int = 0) -> list[np.ndarray]:
    """A picture that moves: a bright square crossing a coloured gradient."""
    rng = np.random.default_rng(seed)
    colour = rng.integers(40, 200, 3)
    ramp = np.linspace(0, 1, width)[None, :, None]
    base = (ramp * colour + (1 - ramp) * colour[::-1]).astype(np.uint8).repeat(height, 0)
    frames = []
    for i in range(n):
        f = base.copy()
        x = int((i / max(n - 1, 1)) * (width - 20))
        f[height // 3:height // 3 + 20, x:x + 20] = 255
        frames.append(f)
    return frames


def write_clip_without_frames(path: Path) -> Path:
    """A container with a video stream and not one frame in it."""
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 64, 64, "yuv420p"
        c.start_encoding()
    return path


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> dict[str, Path]:
    """Small real clips of the kinds people bring, made with PyAV: 3 s each at 25 fps."""
    from score_av.clips import write_clip

    folder = tmp_path_factory.mktemp("clips")
    frames = moving_frames()
    tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(3 * 44100) / 44100)).astype(np.float32)
    vfr_times = np.cumsum(np.random.default_rng(1).uniform(0.02, 0.08, len(frames)))
    made = {
        "mp4": write_clip(folder / "h264.mp4", frames, 25),
        "mkv": write_clip(folder / "h264.mkv", frames, 25),
        "avi": write_clip(folder / "old.avi", frames, 25, codec="msmpeg4v2"),
        "vfr": write_clip(folder / "vfr.mkv", frames, times=vfr_times),
        "odd": write_clip(folder / "odd.mp4", [f[:119, :157] for f in frames], 25, pix_fmt="yuv444p"),
        "audio": write_clip(folder / "with-audio.mp4", frames, 25, audio=np.stack([tone, tone], 1)),
    }
    return made


def pytest_configure(config):
    """One thread per test process: the models in tests are tiny, and CI has two cores."""
    import torch
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def models():
    """The models a user gets with no options (score_av.models.Models: MUSIC_MODEL and the shipped
    video model), loaded once for the session: the tests hold what `score-av render clip.mp4` does."""
    from score_av.models import MUSIC_MODEL, Models

    return Models.load(MUSIC_MODEL, "video", "cpu")


def shipped_music_models() -> list[str]:
    """Every music model shipped in media/models (each checkpoint but the video model's and the inpainting
    model's), with the default always among them: a default that is missing fails its tests instead of
    leaving the list."""
    from score_av.models import MUSIC_MODEL

    return sorted({p.stem for p in MEDIA_MODELS.glob("*.pt")} - {"video", "inpaint", "bass"} | {MUSIC_MODEL})


@pytest.fixture(scope="module", params=shipped_music_models())
def each_model(request, models):
    """Each shipped music model in turn, with the shipped video model: for the claims that hold for all."""
    from music_vae.trained_model import MusicVAE
    from score_av.models import MUSIC_MODEL, Models

    if request.param == MUSIC_MODEL:
        return models
    return Models(MusicVAE(request.param, "cpu"), models.video)


@pytest.fixture
def receiver():
    """A real OSC server (pythonosc) on a free loopback port; every (address, args) it decodes, in order."""
    import queue
    import threading

    from pythonosc.dispatcher import Dispatcher
    from pythonosc.osc_server import BlockingOSCUDPServer

    received: queue.Queue[tuple[str, tuple]] = queue.Queue()
    dispatcher = Dispatcher()
    dispatcher.set_default_handler(lambda address, *args: received.put((address, args)))
    server = BlockingOSCUDPServer(("127.0.0.1", 0), dispatcher)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.server_address, received
    server.shutdown()
    server.server_close()
