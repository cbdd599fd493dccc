"""One library call does what `score-av render` does: `render_clip(clip, out, options) -> RenderResult`.

It checks everything it can before any work (the options, the clip, every output's folder, the
soundfont, the models), scores the clip (score.py), then streams the soundtrack from FluidSynth
into the muxer bar by bar, so memory does not grow with the clip's length and synthesis overlaps
the AAC encoding. The command line, the demo, batch workers and benchmarks all call this; a
batch worker loads the `Models` once and passes them to every call.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from . import synth
from .conductor import THEME_RADIUS, VELOCITY, Conducting
from .errors import ScoreAVError
from .arrangement import arrange, stems
from .band import DEFAULT_PRESET, Band, band_for
from .key import Key
from .mapping import STEADY
from .models import MUSIC_MODEL, Models
from .mux import ReadAhead, check_writable, mux, plan_output
from .presence import Counts, check_counter, count_clip
from .score import ANALYSIS_FPS, Score, score_clip
from .sources import probe

SAMPLE_RATE = 44100


@dataclass(frozen=True)
class RenderOptions:
    """Everything `score-av render` can be told besides the clip and the output (its --help says more)."""
    model: str = MUSIC_MODEL            # music model: shipped name or checkpoint path
    video_model: str = "video"
    device: str = "auto"
    style: str | None = None            # musae: one style's region of the music space
    bpm: float = 120.0
    seed: int | None = None             # another rotation from picture to music space
    program: int | None = None          # General MIDI program of the melody (None: the preset's, else 0, piano)
    soundfont: Path | None = None
    smooth: float = 0.0                 # a change of picture must last to be heard (mapping.hold_steady)
    steady: float = STEADY              # a bar keeps the bar before's code when it moved less than this
    analysis_fps: float = ANALYSIS_FPS  # 0: every frame
    fit_seconds: float = 0.0            # > 0: fine-tune the video model on the clip first
    keep_audio: bool = False
    key: str | None = "auto"            # "D", "E dorian", "auto" (from the picture's colour), None: none
    modulate: bool = False              # a cut may move the piece to a related key
    phrases: bool = True                # bars placed near each other, phrase ends on the tonic
    variation: bool = True              # a bar near the one before keeps its first beats
    development: bool = True            # a held look grows a phrase (inpainted bars), not a loop
    bridge_cuts: bool = False           # the bar before each cut inpainted between the two shots
    layers: tuple[str, ...] | None = None  # the band's layers: melody, bass, harmony, drums (None: the preset's)
    preset: str | None = DEFAULT_PRESET  # a band preset by name or TOML file (band.py); "none" or None: the melody alone
    themes: float = THEME_RADIUS        # a look that returns within this distance brings its bar back; 0: off
    dynamics: bool = True               # motion sets the loudness
    density: float = 0.0                # motion moves new bars along the density vector this much
    presence: bool = False              # count people PRESENCE_HZ times a second: an entrance is a cut, an empty room still
    midi: Path | None = None            # extra outputs
    wav: Path | None = None
    report: Path | None = None
    stems: Path | None = None           # a folder: one WAV per layer beside the mix

    def check(self) -> None:
        """A ScoreAVError naming the option, before any work."""
        if not 0 < self.bpm < float("inf"):
            raise ScoreAVError(f"--bpm must be a positive number, got {self.bpm}")
        if self.seed is not None and self.seed < 0:
            raise ScoreAVError(f"--seed must be 0 or more, got {self.seed}")
        if not 0 <= self.smooth < 1:
            raise ScoreAVError(f"--smooth must be in [0, 1), got {self.smooth}")
        if self.analysis_fps < 0:
            raise ScoreAVError(f"--analysis-fps must be >= 0, got {self.analysis_fps}")
        if self.steady < 0:
            raise ScoreAVError(f"--steady must be >= 0, got {self.steady}")
        self.band()
        if self.themes < 0:
            raise ScoreAVError(f"--themes must be >= 0, got {self.themes}")
        if self.key not in (None, "auto"):
            Key.parse(self.key)
        if self.presence:
            check_counter()  # an OpenCV without the people detector: one line now, not after the picture is read

    def band(self) -> Band:
        """The band that plays: the preset's, with --layers and --program over it (band.py)."""
        return band_for(self.preset, self.layers, self.program)

    def conducting(self) -> Conducting:
        """How the conductor plays (the key is chosen in score_clip)."""
        return Conducting(modulate=self.modulate, theme_radius=self.themes, phrases=self.phrases,
                          variation=self.variation, velocity=VELOCITY if self.dynamics else None, density=self.density,
                          development=self.development, bridge_cuts=self.bridge_cuts)


@dataclass
class RenderResult:
    clip: Path                  # the scored clip
    written: list[Path]         # the scored clip first, then MIDI, WAV, report as asked
    score: Score
    seconds: float              # wall time of the call
    notes: list[str] = field(default_factory=list)  # decisions a person should hear about


class Progress:
    """What a render reports while it works; silent here, the CLI draws bars.

    `stage(name, total)` gives a function called with the seconds of picture done so far.
    """
    shown = False  # whether stages draw their own bars (the video model's --fit has one)

    def note(self, text: str) -> None:
        pass

    @contextmanager
    def stage(self, name: str, total: float | None) -> Iterator[Callable[[float], None]]:
        yield lambda done: None


def score_with_options(clip: Path, models: Models, options: RenderOptions,
                       on_frame: Callable[[float], None] | None = None, progress: bool = False,
                       people: Counts | None = None) -> Score:
    """The melody of `clip` scored as `render_clip` scores it with these options (no band, no output).
    `people`: the clip's people already counted (presence.count_clip); with `options.presence` they
    are counted here when not given, and ignored without it."""
    if options.presence and people is None:
        people = count_clip(clip)
    return score_clip(clip, models.music, models.video, bpm=options.bpm, seed=options.seed,
                      program=options.band().part("melody").program, smoothing=options.smooth, steady=options.steady,
                      fps=options.analysis_fps or None, fit_seconds=options.fit_seconds, on_frame=on_frame,
                      progress=progress, style=options.style, key=options.key, conducting=options.conducting(),
                      people=people if options.presence else None)


def render_clip(clip: str | Path, out: str | Path | None = None, options: RenderOptions = RenderOptions(),
                models: Models | None = None, progress: Progress | None = None) -> RenderResult:
    """Score `clip` and write it to `out` (default CLIP.scored.mp4 beside it), with the extras asked."""
    import torch

    started = time.time()
    progress = progress or Progress()
    options.check()
    # One torch thread, as live: the models are small, each op tens of microseconds, and a second thread
    # only waits for the first; on a busy 2-core machine a bar's greedy decode took 80-96 ms with two
    # threads against 9-16 ms with one. The video encoder already works beside FFmpeg's decoding threads.
    torch.set_num_threads(1)
    info = probe(Path(clip))
    plan = plan_output(info, Path(out) if out is not None else None)
    for path in [plan.path, options.midi, options.wav, options.report]:
        if path is not None:
            check_writable(Path(path))
    if options.stems is not None:
        check_stems_folder(Path(options.stems))
    band = options.band()
    font = synth.find_soundfont(options.soundfont)
    models = models or Models.load(options.model, options.video_model, options.device)
    notes = [plan.note] if plan.note else []
    if options.keep_audio and not info.has_audio:
        notes.append(f"{info.path.name} has no sound of its own: --keep-audio has nothing to keep, "
                     "the music is the only track")
    for text in notes:
        progress.note(text)

    people = None
    if options.presence:  # a pass of its own: the counter needs frames far larger than the analysis's
        with progress.stage("counting people", info.duration or None) as advance:
            people = count_clip(info.path, on_frame=lambda t: advance(max(0.0, t - info.start)))
    with progress.stage("reading picture", info.duration or None) as advance:
        score = score_with_options(info.path, models, options, on_frame=lambda t: advance(max(0.0, t - info.start)),
                                   progress=progress.shown, people=people)
    score.midi = arrange(score, band, options.bpm)
    tl = score.timeline
    wav = synth.WavWriter(options.wav, SAMPLE_RATE) if options.wav else None
    try:
        with synth.SynthStream(score.midi, font, sample_rate=SAMPLE_RATE, duration=tl.duration) as stream, \
                progress.stage("writing clip", round(tl.duration, 1)) as advance:
            audio = ReadAhead(stream, chunk=int(round(tl.bar * SAMPLE_RATE)))
            try:
                mux(info, audio, SAMPLE_RATE, plan, start=tl.start, keep_audio=options.keep_audio,
                    on_packet=lambda t: advance(max(0.0, min(tl.duration, t - tl.start))),
                    on_audio=wav.write if wav else None)
            finally:
                audio.close()
        written = [plan.path]
        if options.midi:
            from modelkit.atomic import atomic_save_midi

            written.append(atomic_save_midi(options.midi, score.midi))
        if wav:
            written.append(wav.commit())
        if options.stems is not None:
            with progress.stage("writing stems", None):
                written += write_stems(score.midi, Path(options.stems), font, tl.duration)
    except BaseException:
        if wav:
            wav.discard()
        raise
    if options.report:
        from .report import draw_report

        written.append(draw_report(score, options.report))
    return RenderResult(plan.path, written, score, time.time() - started, notes)


STEM_CHUNK = 1 << 16  # samples rendered at a time for a stem


def check_stems_folder(folder: Path) -> None:
    """--stems names a folder that is one or can be made; a ScoreAVError before any work otherwise."""
    if folder.exists() and not folder.is_dir():
        raise ScoreAVError(f"--stems {folder}: exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    check_writable(folder / "melody.wav")


def write_stems(midi, folder: Path, font, duration: float) -> list[Path]:
    """One WAV per layer of the arranged MIDI (LAYER.wav in `folder`), each as long as the picture:
    what the mix is made of, for a person to balance in their own editor."""
    written = []
    for name, alone in stems(midi).items():
        writer = synth.WavWriter(folder / f"{name}.wav", SAMPLE_RATE)
        try:
            with synth.SynthStream(alone, font, sample_rate=SAMPLE_RATE, duration=duration) as stream:
                while len(chunk := stream.read(STEM_CHUNK)):  # a chunk at a time: memory flat in length
                    writer.write(chunk)
            written.append(writer.commit())
        except BaseException:
            writer.discard()
            raise
    return written
