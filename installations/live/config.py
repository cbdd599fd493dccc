"""What a live installation is set to: the command line's options, or a TOML file with the same names.

An installation keeps its settings in a file (installations/live.example.toml; the systemd unit
reads /etc/score-av/live.toml), and a person trying something adds options on the command line,
which win. An empty string in the file means "not set" (TOML has no null).
"""
from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path

from score_av.band import Band, band_for, parse_layers
from score_av.errors import ScoreAVError
from score_av.key import KEY_FOLLOW_MIN_S, KEY_FOLLOW_S
from score_av.models import MUSIC_MODEL
from score_av.presence import PRESENCE_HZ

from .osc import OscConfigError, parse_host_port
from .player import DRIVERS, PERIOD_SIZE, PERIODS
from .status import StatusAddressError, is_loopback, parse_address


MAX_PRESENCE_HZ = 10.0  # counts of people a second at most (one takes about 125 ms of a core)


class LiveConfigError(ScoreAVError):
    """A live setting that cannot be used: one line saying which and what is expected."""


@dataclass(frozen=True)
class LiveConfig:
    camera: int = 0
    source: str | None = None        # a file or URL played in real time instead of the camera
    wait_for_source: bool = False    # a source that cannot be opened at start-up: wait for it (else an error)
    model: str = MUSIC_MODEL
    style: str | None = None
    bpm: float = 120.0
    audio_driver: str = "alsa"
    audio_periods: int = PERIODS     # the audio buffer: periods of audio_period_size samples ([audio] periods)
    audio_period_size: int = PERIOD_SIZE  # ([audio] period_size); the file driver simulates the same buffer
    wav: Path | None = None          # where the file driver writes
    midi_out: str | None = None
    osc: str | None = None           # HOST:PORT to send to
    osc_in: str | None = "127.0.0.1:9001"   # "off": no OSC in
    fullscreen: bool = False
    duration: float = 0.0            # seconds; 0: until stopped
    stats: Path | None = None
    log: Path | None = None
    soundfont: str | None = None
    program: int | None = None       # the melody's General MIDI program (None: the preset's, else 0, piano)
    layers: tuple[str, ...] | None = None  # the band's layers: melody, bass, harmony, drums (None: the preset's)
    preset: str | None = None        # a band preset by name or TOML file (score_av/band.py); None: the melody alone
    key: str = "auto"
    key_follow_s: float = KEY_FOLLOW_S  # with key "auto": seconds a change of light lasts before the key follows it; 0: never
    gestures: bool = True            # the motion of the last half beat sets how busy the melody's figure is (score_av/gesture.py)
    development: bool = True         # a held look grows a phrase (the conductor's development), not a loop
    seed: int | None = None
    volume: float = 0.8
    status: str | None = None        # HOST:PORT of the status page ([status] address); None: no page
    status_token: str | None = None  # the token the page needs when bound beyond 127.0.0.1 ([status] token)
    status_show_frames: bool = False  # the page shows a small recent frame ([status] show_frames): visitors are filmed
    presence_hz: float = PRESENCE_HZ  # people counted this many times a second (installations/live/presence.py); 0: off

    def checked(self) -> "LiveConfig":
        """The values, each checked on its own (one LiveConfigError line naming the setting); what
        depends on the machine (folders, the source, the soundfont, ports) is checked by the
        runner before it starts anything (runner.check_startable)."""
        if self.audio_driver not in DRIVERS:
            raise LiveConfigError(f"audio_driver {self.audio_driver!r}: choose one of {', '.join(DRIVERS)}")
        if not 2 <= self.audio_periods <= 64:
            raise LiveConfigError(f"audio_periods {self.audio_periods}: FluidSynth takes 2 to 64 periods")
        if not 64 <= self.audio_period_size <= 8192:
            raise LiveConfigError(f"audio_period_size {self.audio_period_size}: FluidSynth takes 64 to 8192 "
                                  "samples a period")
        if self.camera < 0:
            raise LiveConfigError(f"camera {self.camera}: a camera index is 0 or more (/dev/video0 is 0)")
        if not 20 <= self.bpm <= 300:
            raise LiveConfigError(f"bpm {self.bpm}: choose 20 to 300")
        if not 0 <= self.volume <= 1:
            raise LiveConfigError(f"volume {self.volume}: choose 0 to 1")
        if self.program is not None and not 0 <= self.program <= 127:
            raise LiveConfigError(f"program {self.program}: a General MIDI program is 0 to 127")
        if not (math.isfinite(self.duration) and self.duration >= 0):
            raise LiveConfigError(f"duration {self.duration}: give seconds, or 0 to run until stopped")
        if not (math.isfinite(self.presence_hz) and 0 <= self.presence_hz <= MAX_PRESENCE_HZ):
            raise LiveConfigError(f"presence_hz {self.presence_hz}: choose 0 (off) to {MAX_PRESENCE_HZ:g} "
                                  "counts of people a second (each takes about 125 ms of a core)")
        if not (math.isfinite(self.key_follow_s) and (self.key_follow_s == 0 or self.key_follow_s >= KEY_FOLLOW_MIN_S)):
            raise LiveConfigError(f"key_follow_s {self.key_follow_s}: give seconds a change of light must last before "
                                  f"the key follows it, {KEY_FOLLOW_MIN_S:g} or more (a passing cloud is not a change "
                                  "of light), or 0 to keep the first bar's key")
        if self.seed is not None and self.seed < 0:
            raise LiveConfigError(f"seed {self.seed}: a seed is 0 or more")
        if self.key not in ("auto", "none"):
            from score_av.key import Key

            Key.parse(self.key)  # raises ScoreAVError: --key 'H': the tonic must be a note name ...
        for name in ("osc", "osc_in"):
            value = getattr(self, name)
            if value is not None and not (name == "osc_in" and value == "off"):
                try:
                    parse_host_port(value)
                except OscConfigError as exc:
                    raise LiveConfigError(f"{name}: {exc}") from None
        if self.status is not None:
            try:
                host, _ = parse_address(self.status)
            except StatusAddressError as exc:
                raise LiveConfigError(f"status: {exc}") from None
            if not is_loopback(host) and not self.status_token:
                raise LiveConfigError(f"status {self.status}: bound beyond this machine the status page needs a "
                                      "token (--status-token, token in [status]); or bind it to 127.0.0.1")
        if self.wav is not None and self.audio_driver != "file":
            raise LiveConfigError(f"wav {self.wav}: only the file audio driver writes a WAV "
                                  f"(audio_driver = \"file\", --audio-driver file); the {self.audio_driver} "
                                  "driver plays to the sound card")
        checked = self
        if self.layers is not None:  # "melody,bass" from the command line, a list from a file
            text = self.layers if isinstance(self.layers, str) else ",".join(self.layers)
            checked = replace(checked, layers=parse_layers(text))  # an unknown layer: one ScoreAVError line
        checked.band()  # a preset that is not there or not right: one ScoreAVError line
        if self.audio_driver == "file" and self.wav is None:
            checked = replace(checked, wav=Path("live.wav"))
        return checked

    def band(self) -> Band:
        """The band that plays: the preset's, with the layers and the melody's program given over it (band.py)."""
        return band_for(self.preset, self.layers, self.program)


_TYPES = {f.name: f for f in fields(LiveConfig)}


def _value(name: str, raw):
    """A file's value in the field's type; "" is not set."""
    if raw == "":
        return None
    kind = str(_TYPES[name].type)
    try:
        if "Path" in kind:
            return Path(raw)
        if kind.startswith("int") or kind == "int | None":
            if isinstance(raw, bool) or float(raw) != int(raw):
                raise ValueError
            return int(raw)
        if kind.startswith("float"):
            return float(raw)
        if kind == "bool":
            if not isinstance(raw, bool):
                raise ValueError
            return raw
        if kind.startswith("tuple"):  # a list of names (or one string, comma-separated)
            if isinstance(raw, str):
                return raw
            if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
                raise ValueError
            return tuple(raw)
        return str(raw)
    except (TypeError, ValueError):
        expected = 'a list of layers, e.g. ["melody", "bass"]' if kind.startswith("tuple") else kind.replace(" | None", "")
        raise LiveConfigError(f"{name} = {raw!r}: expected {expected}") from None


TABLES = {  # a file's tables, each setting in it -> the setting's name
    "status": {"address": "status", "token": "status_token", "show_frames": "status_show_frames"},
    "audio": {"periods": "audio_periods", "period_size": "audio_period_size"},
}


def _flatten_tables(path: Path, data: dict) -> dict:
    """The `[status]` and `[audio]` tables as settings of their own (status.token is status_token)."""
    for name, names in TABLES.items():
        table = data.get(name)
        if not isinstance(table, dict):
            continue
        unknown = sorted(set(table) - set(names))
        if unknown:
            raise LiveConfigError(f"{path}: unknown setting {', '.join(name + '.' + k for k in unknown)}; "
                                  f"known in [{name}]: {', '.join(names)}")
        data = {**{k: v for k, v in data.items() if k != name}, **{names[k]: v for k, v in table.items()}}
    return data


def read_config(path: Path | None, overrides: dict | None = None) -> LiveConfig:
    """The settings of `path` (TOML; None: the defaults), with the options given on the command line
    (`overrides`: name -> value, None for not given) on top."""
    settings: dict = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text())
        except FileNotFoundError:
            raise LiveConfigError(f"{path}: no such config file") from None
        except tomllib.TOMLDecodeError as exc:
            raise LiveConfigError(f"{path}: not valid TOML ({exc})") from None
        data = _flatten_tables(path, data)
        unknown = sorted(set(data) - set(_TYPES))
        if unknown:
            raise LiveConfigError(f"{path}: unknown setting {', '.join(unknown)}; known: {', '.join(_TYPES)}")
        settings = {k: v for k, v in ((k, _value(k, v)) for k, v in data.items()) if v is not None}
    settings.update({k: v for k, v in (overrides or {}).items() if v is not None and k in _TYPES})
    return LiveConfig(**settings).checked()
