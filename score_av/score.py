"""Scoring a clip, offline: frames -> video codes -> bar codes -> music codes -> bars -> notes.

`score_clip` composes the stages (source, frame encoder, bar clock, mapping, music decoder) and
returns every intermediate value (a `Score`), so a render can write the clip, the MIDI, the WAV
and the report picture from one pass, and tests can look inside. Given the people counted in the
clip (presence.count_clip), it applies the presence rule (presence.BarPeople) to each bar's
motion, holding and cuts. The audio is not made here: the
sink reads it from the synth a chunk at a time (render.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import mido
import numpy as np

from music_vae.midi_io import notes_to_midi
from music_vae.representation import STEPS_PER_BAR, Note, tokens_to_notes

from .conductor import Conducted, Conducting, conduct
from .encoding import encode_frames
from .key import Key, key_from_colour
from .mapping import STEADY, Mapping, hold_steady
from .models import MusicModel, VideoModel
from .motion import FrameFeatures, luma, normalise_motion
from .presence import BarPeople, Counts
from .sources import FrameTimes, VideoInfo, iter_frames, probe
from .timeline import Timeline

ANALYSIS_FPS = 8.0    # frames per second the video VAE looks at; the decoder skips the others


@dataclass
class Score:
    info: VideoInfo
    timeline: Timeline
    frame_times: np.ndarray     # (n,) seconds of each analysed frame
    frame_codes: np.ndarray     # (n, d) video VAE codes
    bar_codes: np.ndarray       # (bars, d) mean video code per bar
    music_codes: np.ndarray     # (bars, d) the code each bar plays, after the mapping and holding
    bars: np.ndarray            # (bars, 16) tokens
    notes: list[Note]
    midi: mido.MidiFile
    fit: dict = field(default_factory=dict)
    looks: np.ndarray | None = None     # (bars, d) each bar's own position (standardised picture code), before holding
    motion: np.ndarray | None = None    # (bars,) motion energy in [0, 1]
    conducted: Conducted | None = None  # keys, velocities, themes
    brightness: np.ndarray | None = None  # (bars,) mean luma of the bar's frames in [0, 1] (steers the bass)
    people: np.ndarray | None = None    # (bars,) the most people counted in each bar; None: not counted

    @property
    def entrances(self) -> np.ndarray:
        """(bars,) bool: the bars someone entered, each decided anew as after a cut (presence.py)."""
        return BarPeople(self.timeline.n_bars, self.people).entrances


def score_clip(path: str | Path, music: MusicModel, video: VideoModel, bpm: float = 120.0,
               seed: int | None = None, program: int = 0, smoothing: float = 0.0, steady: float = STEADY,
               fps: float | None = ANALYSIS_FPS, fit_seconds: float = 0.0,
               on_frame: Callable[[float], None] | None = None, progress: bool = False,
               style: str | None = None, key: str | Key | None = "auto",
               conducting: Conducting = Conducting(), people: Counts | None = None) -> Score:
    """Score the clip at `path` with a music model and a video model (see models.py).

    The mapping places the codes in the music model's prior (its data prior when fitted, see
    music_vae/data_prior.py) or in one style's part of it when `style` is given. `fps` None looks at
    every frame. The conductor (conductor.py) plays the bars in `key` ("auto": read from the
    picture's colour; None: no key), in phrases, with themes and loudness as `conducting` says.
    `people`: the people counted in the clip (presence.count_clip): a bar someone enters is decided
    anew, as after a cut, and a bar with nobody in it plays still (presence.BarPeople); None: not
    counted, and nothing changes.
    """
    path = Path(path)
    prior = music.prior(style)  # an unknown style fails here, before any decoding
    key = Key.parse(key) if isinstance(key, str) and key != "auto" else key
    info = probe(path)
    times = FrameTimes()
    size = video.image_size
    features = FrameFeatures()
    fit_report: dict = {}
    frames_in = features.watch(iter_frames(path, size, fps=fps, times=times, on_frame=on_frame))
    if fit_seconds > 0:  # the frames are needed whole before any is encoded: one pass, then encode
        stamps, frames = zip(*frames_in)
        stamps, frames = np.asarray(stamps, dtype=np.float64), np.stack(frames)
        fit_report = video.fit(frames, seconds=fit_seconds, progress=progress)
        codes = video.encode(frames)
    else:
        stamps, codes = encode_frames(frames_in, video)
    timeline = Timeline(bpm=bpm, start=times.first, duration=times.end - times.first)
    per_bar = timeline.bar_codes(stamps, codes)
    frame_motion, colour = features.arrays()
    room = BarPeople.of(timeline, people)
    motion = room.motion(normalise_motion(timeline.bar_codes(stamps, frame_motion[:, None])[:, 0]))
    brightness = luma(timeline.bar_codes(stamps, colour))
    mapping = Mapping.fit(codes, video.latent_std, seed=seed, prior=prior)
    looks = mapping.positions(per_bar)
    held = hold_steady(looks, room.hold_distance(steady), smoothing)
    if key == "auto":
        key = key_from_colour(colour.mean(axis=0))
    conducted = conduct(music, held, looks, motion, replace(conducting, key=key), place=mapping.place,
                        cuts=room.entrances)
    bars = conducted.bars
    notes = [replace(note, velocity=int(conducted.velocities[min(note.start // STEPS_PER_BAR, len(bars) - 1)]))
             for note in tokens_to_notes(bars)]
    midi = notes_to_midi(notes, bpm=bpm, program=program)
    return Score(info, timeline, stamps, codes, per_bar, conducted.codes, bars, notes, midi, fit_report, looks,
                 motion, conducted, brightness, room.people)
