"""Offline FluidSynth rendering of MIDI, placed sample-accurately.

The audio must be exactly as long as the picture and every note must sound where the timeline
put it, so each event is sent to the synth at its absolute sample position, round(t * rate),
computed from its absolute time; the audio between two events is rendered for exactly that gap.
Positions are never built by adding up rounded chunk lengths, so no drift can accumulate.
FluidSynth itself renders in blocks of 64 samples, so an onset may sound up to 63 samples
(1.4 ms at 44.1 kHz) after its position; that lag is bounded and never accumulates.

No audio driver is ever started: rendering works on machines without a sound card.
"""

from __future__ import annotations

import os
import pathlib
import site
import sysconfig
import tempfile
import wave

import mido
import numpy as np

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


class SoundfontNotFound(Exception):
    """No General MIDI soundfont could be found; the message says how to provide one."""


class SynthError(Exception):
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
    """Import pyfluidsynth only when rendering, turning a missing library into one clear line."""
    try:
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


def _fill(synth, out: np.ndarray, start: int, stop: int) -> int:
    """Render samples [start, stop) into `out` in bounded chunks; return `stop`."""
    while start < stop:
        n = min(_CHUNK, stop - start)
        block = synth.get_samples(n)  # 2*n interleaved int16 values
        out[start:start + n] = np.asarray(block, dtype=np.float32).reshape(n, 2) / 32768.0
        start += n
    return stop


def render(midi: mido.MidiFile, soundfont=None, sample_rate: int = 44100, gain: float = 0.5,
           tail_seconds: float = 1.0, duration: float | None = None) -> np.ndarray:
    """Render `midi` offline to float32 stereo, shape (n_samples, 2), values in [-1, 1].

    With `duration` the result has exactly round(duration * sample_rate) samples (later events
    are dropped, sounding notes are cut); otherwise it ends `tail_seconds` after the last event.
    """
    if duration is not None and duration < 0:
        raise ValueError(f"duration must be >= 0, got {duration}")
    font = find_soundfont(soundfont)
    events = midi_events(midi)
    if duration is not None:
        total = int(round(duration * sample_rate))
    else:
        last = events[-1][0] if events else 0.0
        total = int(round((last + tail_seconds) * sample_rate))
    out = np.zeros((max(total, 0), 2), dtype=np.float32)
    fluidsynth = _load_fluidsynth()
    synth = fluidsynth.Synth(gain=float(gain), samplerate=float(sample_rate))
    try:
        sfid = synth.sfload(str(font))
        if sfid < 0:
            raise SynthError(f"fluidsynth could not load soundfont {font}: choose another "
                             f"with --soundfont or {ENV_VAR}")
        for ch in sorted({msg.channel for _t, msg in events}):
            synth.program_select(ch, sfid, 128 if ch == _DRUM_CHANNEL else 0, 0)
        pos = 0
        for t, msg in events:
            index = int(round(t * sample_rate))  # from absolute time, never from chunk sums
            if index >= total:
                break
            pos = _fill(synth, out, pos, index)
            _apply(synth, sfid, msg)
        _fill(synth, out, pos, total)
    finally:
        synth.delete()
    return out


def write_wav(path, audio: np.ndarray, sample_rate: int = 44100) -> None:
    """Write 16-bit PCM stereo WAV via a temporary name, so no half-written file is left."""
    audio = np.asarray(audio)
    if audio.ndim != 2 or audio.shape[1] != 2:
        raise ValueError(f"audio must have shape (n_samples, 2), got {audio.shape}")
    pcm = np.round(np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2")
    path = pathlib.Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh, wave.open(fh, "wb") as wav:
            wav.setnchannels(2)
            wav.setsampwidth(2)
            wav.setframerate(int(sample_rate))
            wav.writeframes(pcm.tobytes())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the result is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
