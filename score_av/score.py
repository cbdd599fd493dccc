"""Scoring a clip, offline: frames -> video codes -> bar codes -> music codes -> bars -> notes.

`score_clip` composes the stages (source, frame encoder, bar clock, mapping, music decoder) and
returns every intermediate value (a `Score`), so a render can write the clip, the MIDI, the WAV
and the report picture from one pass, and tests can look inside. The audio is not made here: the
sink reads it from the synth a chunk at a time (render.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import mido
import numpy as np

from music_vae.midi_io import notes_to_midi
from music_vae.representation import Note, tokens_to_notes

from .encoding import encode_frames
from .mapping import STEADY, Mapping, hold_steady
from .models import MusicModel, VideoModel
from .sources import FrameTimes, VideoInfo, clip_frames, iter_frames, probe
from .timeline import Timeline

ANALYSIS_FPS = 8.0    # frames per second the video VAE looks at; the decoder skips the others


@dataclass
class Score:
    info: VideoInfo
    timeline: Timeline
    frame_times: np.ndarray     # (n,) seconds of each analysed frame
    frame_codes: np.ndarray     # (n, d) video VAE codes
    bar_codes: np.ndarray       # (bars, d) mean video code per bar
    music_codes: np.ndarray     # (bars, d) after the mapping
    bars: np.ndarray            # (bars, 16) tokens
    notes: list[Note]
    midi: mido.MidiFile
    fit: dict = field(default_factory=dict)


def score_clip(path: str | Path, music: MusicModel, video: VideoModel, bpm: float = 120.0,
               seed: int | None = None, program: int = 0, smoothing: float = 0.0, steady: float = STEADY,
               fps: float | None = ANALYSIS_FPS, fit_seconds: float = 0.0,
               on_frame: Callable[[float], None] | None = None, progress: bool = False,
               style: str | None = None) -> Score:
    """Score the clip at `path` with a music model and a video model (see models.py).

    The mapping places the codes in the music model's prior (N(0, I) for vae and flat, the style
    mixture for musae) or in one style's component when `style` is given. `fps` None looks at
    every frame.
    """
    path = Path(path)
    prior = music.prior(style)  # an unknown style fails here, before any decoding
    info = probe(path)
    times = FrameTimes()
    size = video.image_size
    fit_report: dict = {}
    if fit_seconds > 0:  # the frames are needed whole before any is encoded: one pass, then encode
        stamps, frames = clip_frames(path, size, fps=fps, times=times, on_frame=on_frame)
        fit_report = video.fit(frames, seconds=fit_seconds, progress=progress)
        codes = video.encode(frames)
    else:
        stamps, codes = encode_frames(iter_frames(path, size, fps=fps, times=times, on_frame=on_frame), video)
    timeline = Timeline(bpm=bpm, start=times.first, duration=times.end - times.first)
    per_bar = timeline.bar_codes(stamps, codes)
    z_music = Mapping.fit(codes, video.latent_std, seed=seed, prior=prior)(per_bar)
    z_music = hold_steady(z_music, steady, smoothing)
    bars = music.decode(z_music)
    notes = tokens_to_notes(bars)
    midi = notes_to_midi(notes, bpm=bpm, program=program)
    return Score(info, timeline, stamps, codes, per_bar, z_music, bars, notes, midi, fit_report)
