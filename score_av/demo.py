"""The demo: a clip score-av draws itself (four synthetic shots joined by hard cuts on bar lines),
scored with the shipped models, with every extra output beside it."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .render import Progress, RenderResult

MEDIA = Path(__file__).resolve().parents[1] / "media"
DEMO_CLIP = MEDIA / "demo-clip.mp4"
SHOTS = [6.0, 6.0, 4.0, 8.0]   # seconds: four shots of different scenes, cut on bar lines at 120 bpm
DEMO_SEED = 7


def make_demo_clip(path: Path = DEMO_CLIP) -> Path:
    """Write the demo clip: 24 s of 320x240 H.264 at 25 fps, its scenes drawn from DEMO_SEED.

    The same bytes on every run and every machine, whatever its cores, CPU or clock: the frames are
    drawn the same everywhere (video_vae.scenes) and encoded with write_clip(exact=True). Only another
    PyAV/FFmpeg/x264 build may encode them differently (tests/test_demo_clip.py checks both the bytes
    and the decoded frames).
    """
    from video_vae.scenes import clip_with_cuts

    from .clips import write_clip

    frames, _cuts = clip_with_cuts(DEMO_SEED, SHOTS, fps=25.0, height=240, width=320)
    return write_clip(path, frames, fps=25.0, exact=True)


def score_demo(out_dir: Path, soundfont: Path | None = None, progress: Progress | None = None) -> RenderResult:
    """Make the demo clip if it is not there, and score it into `out_dir` (clip, MIDI, WAV, report)."""
    from .render import RenderOptions, render_clip

    clip = DEMO_CLIP if DEMO_CLIP.is_file() else make_demo_clip()
    out_dir.mkdir(parents=True, exist_ok=True)
    options = RenderOptions(soundfont=soundfont, midi=out_dir / "demo-clip.mid", wav=out_dir / "demo-clip.wav",
                            report=out_dir / "demo-clip.png")
    return render_clip(clip, out_dir / "demo-clip.scored.mp4", options, progress=progress)
