"""Scoring a clip, offline: frames -> video codes -> bar codes -> music codes -> bars -> audio.

`score_clip` returns every intermediate value (a `Score`), so the CLI can write the clip, the
MIDI, the WAV and the report picture from one pass, and tests can look inside.
"""
from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path

import mido
import numpy as np

from music_vae.midi_io import notes_to_midi
from music_vae.representation import Note, tokens_to_notes

from . import synth
from .mapping import STEADY, Mapping, hold_steady, smooth
from .sources import FrameTimes, VideoInfo, clip_frames, iter_frames, probe
from .timeline import Timeline

SAMPLE_RATE = 44100
ANALYSIS_FPS = 8.0    # frames per second the video VAE looks at; the decoder skips the others
ENCODE_BATCH = 64


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
    audio: np.ndarray | None = None  # (samples, 2) float32, exactly as long as the picture
    fit: dict = field(default_factory=dict)


def _encode_while_decoding(path: Path, video, fps: float, times: FrameTimes,
                           on_frame) -> tuple[np.ndarray, np.ndarray]:
    """Decode in this thread, encode batches of frames in another (torch releases the GIL), so
    the two cores share the work."""
    batches: queue.Queue = queue.Queue(maxsize=4)
    codes: list[np.ndarray] = []
    failure: list[BaseException] = []

    def encoder():
        while (batch := batches.get()) is not None:
            try:
                if not failure:
                    codes.append(video.encode(batch))
            except BaseException as exc:  # handed to the decoding thread
                failure.append(exc)

    worker = threading.Thread(target=encoder, name="encode-frames", daemon=True)
    worker.start()
    stamps, pending = [], []
    try:
        for t, frame in iter_frames(path, 64, fps=fps, times=times, on_frame=on_frame):
            stamps.append(t)
            pending.append(frame)
            if len(pending) == ENCODE_BATCH:
                batches.put(np.stack(pending))
                pending = []
            if failure:
                break
        if pending:
            batches.put(np.stack(pending))
    finally:
        batches.put(None)
        worker.join()
    if failure:
        raise failure[0]
    return np.asarray(stamps), np.concatenate(codes)


def score_clip(path: str | Path, music, video, bpm: float = 120.0, seed: int | None = None,
               program: int = 0, soundfont=None, smoothing: float = 0.0, steady: float = STEADY,
               fps: float = ANALYSIS_FPS,
               fit_seconds: float = 0.0, render_audio: bool = True, on_frame=None,
               progress: bool = False, style: str | None = None) -> Score:
    """Score the clip at `path` with a trained MusicVAE (`music`) and VideoVAE (`video`).

    The mapping gives codes of unit scale; they are placed in the music model's prior (N(0, I)
    for vae and flat, the style mixture for musae) or in one style's component when `style` is given.
    """
    path = Path(path)
    mean, std = music.prior(style)  # an unknown style fails here, before any decoding
    info = probe(path)
    times = FrameTimes()
    fit_report: dict = {}
    if fit_seconds > 0:  # the frames are needed whole before any is encoded: one pass, then encode
        stamps, frames = clip_frames(path, 64, fps=fps, times=times, on_frame=on_frame)
        fit_report = video.fit(frames, seconds=fit_seconds, progress=progress)
        codes = video.encode(frames)
    else:
        stamps, codes = _encode_while_decoding(path, video, fps, times, on_frame)
    timeline = Timeline(bpm=bpm, start=times.first, duration=times.end - times.first)
    per_bar = timeline.bar_codes(stamps, codes)
    mapping = Mapping.fit(codes, video.latent_std, seed=seed)
    z_music = mean + std * mapping(per_bar)
    if smoothing:
        z_music = smooth(z_music, smoothing)
    z_music = hold_steady(z_music, steady)
    bars = music.decode(z_music)
    notes = tokens_to_notes(bars)
    midi = notes_to_midi(notes, bpm=bpm, program=program)
    audio = None
    if render_audio:
        audio = synth.render(midi, soundfont, sample_rate=SAMPLE_RATE, duration=timeline.duration)
    return Score(info, timeline, stamps, codes, per_bar, z_music, bars, notes, midi, audio, fit_report)
