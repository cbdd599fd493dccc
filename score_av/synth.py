"""Offline FluidSynth rendering of MIDI, placed sample-accurately.

The audio must be exactly as long as the picture and every note must sound where the timeline
put it, so each event is sent to the synth at its absolute sample position, round(t * rate),
computed from its absolute time; the audio between two events is rendered for exactly that gap.
Positions are never built by adding up rounded chunk lengths, so no drift can accumulate.
FluidSynth itself renders in blocks of 64 samples, so an onset may sound up to 63 samples
(1.4 ms at 44.1 kHz) after its position; that lag is bounded and never accumulates.

No audio driver is ever started: rendering works on machines without a sound card. A long
soundtrack is read a chunk at a time (`SynthStream`) and written as it comes (`WavWriter`, the muxer).
"""

from __future__ import annotations

import contextlib
import io
import os
import pathlib
import site
import sysconfig
import tempfile
import wave

import mido
import numpy as np

from modelkit import UserError

ENV_VAR = "SCORE_AV_SOUNDFONT"
_WELL_KNOWN = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
    "/usr/share/soundfonts/default.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/sounds/sf3/default-GM.sf3",
    "/usr/share/sounds/sf3/MuseScore_General.sf3",
)
_WELL_KNOWN_GLOBS = (
    ("/usr/local/share/soundfonts", "*.sf2"),
    ("/opt/homebrew/share/soundfonts", "*.sf2"),
    ("~/.local/share/soundfonts", "*.sf2"),
)
_CHANNEL_TYPES = ("note_on", "note_off", "program_change", "control_change", "pitchwheel")
_DRUM_CHANNEL = 9
_CHUNK = 4096  # samples per get_samples call: bounds the temporary buffers on long gaps


class SoundfontNotFound(UserError):
    """No General MIDI soundfont could be found; the message says how to provide one."""


class SynthError(UserError):
    """libfluidsynth is missing, or it could not load the soundfont."""


def _site_packages_fonts() -> list[pathlib.Path]:
    """Soundfonts shipped inside installed Python packages (at most 3 folders deep: cheap)."""
    roots = {sysconfig.get_paths().get(k) for k in ("purelib", "platlib")}
    roots.update(getattr(site, "getsitepackages", list)())
    roots.add(site.getusersitepackages())
    found: list[pathlib.Path] = []
    for root in sorted(r for r in roots if r and os.path.isdir(r)):
        level = [root]
        for _depth in range(3):
            deeper = []
            for folder in level:
                try:
                    with os.scandir(folder) as it:
                        for entry in it:
                            if entry.is_dir(follow_symlinks=False):
                                deeper.append(entry.path)
                            elif folder != root and entry.name.lower().endswith((".sf2", ".sf3")):
                                found.append(pathlib.Path(entry.path))
                except OSError:
                    continue
            level = deeper
    return sorted(found)


def find_soundfont(explicit: str | os.PathLike | None = None) -> pathlib.Path:
    """The soundfont to use: `explicit`, then $SCORE_AV_SOUNDFONT, then one found on the system."""
    if explicit is not None:
        path = pathlib.Path(explicit).expanduser()
        if not path.is_file():
            raise SoundfontNotFound(
                f"soundfont {path} does not exist: pass an existing .sf2/.sf3 file to --soundfont")
        return path
    env = os.environ.get(ENV_VAR)
    if env:
        path = pathlib.Path(env).expanduser()
        if not path.is_file():
            raise SoundfontNotFound(
                f"{ENV_VAR}={env} does not exist: point {ENV_VAR} at an existing .sf2/.sf3 file")
        return path
    candidates = [pathlib.Path(p) for p in _WELL_KNOWN]
    for folder, pattern in _WELL_KNOWN_GLOBS:
        candidates += sorted(pathlib.Path(folder).expanduser().glob(pattern))
    for path in candidates:
        if path.is_file():  # follows symlinks such as default-GM.sf2; skips broken ones
            return path
    shipped = _site_packages_fonts()
    if shipped:
        return shipped[0]
    raise SoundfontNotFound(
        f"no General MIDI soundfont found: pass --soundfont FILE.sf2, set {ENV_VAR}, or "
        "`apt-get install timgm6mb-soundfont` (or fluid-soundfont-gm)")


def midi_events(midi: mido.MidiFile) -> list[tuple[float, mido.Message]]:
    """(absolute seconds, message) for every channel message, honouring every tempo change.

    Absolute ticks come first; seconds follow from the tempo map with integer arithmetic
    (ticks * microseconds-per-beat, the same formula as mido.tick2second), so no float error
    builds up along the file.
    """
    if midi.type == 2:
        raise ValueError("type 2 (asynchronous) MIDI files are not supported: convert to type 1")
    tpb = midi.ticks_per_beat
    timed = []  # (tick, track, order, message): a stable merge, as mido.merge_tracks does
    for track_no, track in enumerate(midi.tracks):
        tick = 0
        for order, msg in enumerate(track):
            tick += msg.time
            timed.append((tick, track_no, order, msg))
    timed.sort(key=lambda item: item[:3])
    seg_tick, seg_us, tempo = 0, 0, 500000  # segment start (ticks), its time (us * tpb), tempo
    events = []
    for tick, _track, _order, msg in timed:
        if msg.type == "set_tempo":
            seg_us += (tick - seg_tick) * tempo
            seg_tick, tempo = tick, msg.tempo
        elif msg.type in _CHANNEL_TYPES:
            micro_ticks = seg_us + (tick - seg_tick) * tempo
            events.append((micro_ticks / (1_000_000 * tpb), msg))
    return events


def _load_fluidsynth():
    """Import pyfluidsynth only when rendering, turning a missing library into one clear line. Its
    import prints where it found the library to stdout when $CI is set; that line goes nowhere, so
    that stdout stays the command's own (the one-line summary a script reads)."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            import fluidsynth
    except ModuleNotFoundError as exc:
        if exc.name != "fluidsynth":
            raise
        raise SynthError("pyfluidsynth is not installed: pip install pyfluidsynth") from None
    except (ImportError, OSError) as exc:
        raise SynthError(
            f"libfluidsynth could not be loaded ({exc}): apt-get install libfluidsynth3") from None
    return fluidsynth


def _apply(synth, sfid: int, msg: mido.Message) -> None:
    """Send one channel message to the synth."""
    ch = msg.channel
    if msg.type == "note_on" and msg.velocity > 0:
        synth.noteon(ch, msg.note, msg.velocity)
    elif msg.type in ("note_on", "note_off"):
        synth.noteoff(ch, msg.note)
    elif msg.type == "program_change":
        if ch == _DRUM_CHANNEL:
            synth.program_select(ch, sfid, 128, msg.program)
        else:
            synth.program_change(ch, msg.program)
    elif msg.type == "control_change":
        synth.cc(ch, msg.control, msg.value)
    elif msg.type == "pitchwheel":
        synth.pitch_bend(ch, msg.pitch)  # both use -8192..8191 around centre


class SynthStream:
    """A MIDI file played through FluidSynth, read a chunk at a time: (n, 2) float32 in [-1, 1].

    The whole soundtrack is never held at once, so memory does not grow with the clip's length.
    Every event is sent at its absolute sample position, round(t * rate); a read only decides how
    many samples are rendered next, so the samples are the same however they are read.
    """

    def __init__(self, midi: mido.MidiFile, soundfont=None, sample_rate: int = 44100, gain: float = 0.5,
                 tail_seconds: float = 1.0, duration: float | None = None):
        if duration is not None and duration < 0:
            raise ValueError(f"duration must be >= 0, got {duration}")
        font = find_soundfont(soundfont)
        self.events = midi_events(midi)
        self.sample_rate = sample_rate
        if duration is not None:
            self.total = max(int(round(duration * sample_rate)), 0)
        else:
            last = self.events[-1][0] if self.events else 0.0
            self.total = max(int(round((last + tail_seconds) * sample_rate)), 0)
        fluidsynth = _load_fluidsynth()
        self._synth = fluidsynth.Synth(gain=float(gain), samplerate=float(sample_rate))
        try:
            self._sfid = self._synth.sfload(str(font))
            if self._sfid < 0:
                raise SynthError(f"fluidsynth could not load soundfont {font}: choose another "
                                 f"with --soundfont or {ENV_VAR}")
            for ch in sorted({msg.channel for _t, msg in self.events}):
                self._synth.program_select(ch, self._sfid, 128 if ch == _DRUM_CHANNEL else 0, 0)
        except BaseException:
            self.close()
            raise
        self.position = 0   # samples rendered so far
        self._next = 0      # index of the next event to send

    def read(self, n: int) -> np.ndarray:
        """The next min(n, samples left) samples; an empty array at the end."""
        stop = min(self.position + max(n, 0), self.total)
        out = np.empty((stop - self.position, 2), dtype=np.float32)
        base = self.position
        while self.position < stop:
            if self._next < len(self.events):
                t, msg = self.events[self._next]
                at = int(round(t * self.sample_rate))  # from absolute time, never from chunk sums
                if at <= self.position:
                    _apply(self._synth, self._sfid, msg)
                    self._next += 1
                    continue
                until = min(at, stop)
            else:
                until = stop
            self._fill(out, self.position - base, until - base)
            self.position = until
        return out

    def _fill(self, out: np.ndarray, start: int, stop: int) -> None:
        """Render into out[start:stop] in bounded chunks."""
        while start < stop:
            n = min(_CHUNK, stop - start)
            block = self._synth.get_samples(n)  # 2*n interleaved int16 values
            out[start:start + n] = np.asarray(block, dtype=np.float32).reshape(n, 2) / 32768.0
            start += n

    def close(self) -> None:
        if self._synth is not None:
            self._synth.delete()
            self._synth = None

    def __enter__(self) -> "SynthStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def render(midi: mido.MidiFile, soundfont=None, sample_rate: int = 44100, gain: float = 0.5,
           tail_seconds: float = 1.0, duration: float | None = None) -> np.ndarray:
    """Render `midi` offline to float32 stereo, shape (n_samples, 2), values in [-1, 1], all at once.

    With `duration` the result has exactly round(duration * sample_rate) samples (later events
    are dropped, sounding notes are cut); otherwise it ends `tail_seconds` after the last event.
    For a long soundtrack read a `SynthStream` instead.
    """
    with SynthStream(midi, soundfont, sample_rate, gain, tail_seconds, duration) as stream:
        return stream.read(stream.total)


class WavWriter:
    """16-bit PCM stereo WAV written a chunk at a time under a temporary name, renamed by `commit`.

    A writer closed without `commit` (an error, an interrupt) removes its temporary file, so no
    half-written WAV is ever left under the final name.
    """

    def __init__(self, path, sample_rate: int = 44100):
        self.path = pathlib.Path(path)
        fd, self._tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        self._file = os.fdopen(fd, "wb")
        self._wav = wave.open(self._file, "wb")
        self._wav.setnchannels(2)
        self._wav.setsampwidth(2)
        self._wav.setframerate(int(sample_rate))

    def write(self, audio: np.ndarray) -> None:
        audio = np.asarray(audio)
        if audio.ndim != 2 or audio.shape[1] != 2:
            raise ValueError(f"audio must have shape (n_samples, 2), got {audio.shape}")
        self._wav.writeframes(np.round(np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2").tobytes())

    def commit(self) -> pathlib.Path:
        self._wav.close()
        self._file.close()
        os.chmod(self._tmp, 0o644)  # mkstemp makes it private; the result is an ordinary file
        os.replace(self._tmp, self.path)
        return self.path

    def discard(self) -> None:
        if not self._file.closed:
            self._wav.close()
            self._file.close()
        if os.path.exists(self._tmp):
            os.unlink(self._tmp)


def write_wav(path, audio: np.ndarray, sample_rate: int = 44100) -> None:
    """Write a whole soundtrack as 16-bit PCM stereo WAV (see `WavWriter`)."""
    writer = WavWriter(path, sample_rate)
    try:
        writer.write(audio)
        writer.commit()
    except BaseException:
        writer.discard()
        raise
