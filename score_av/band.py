"""The band as data: which layers play, on which instrument, how loud; the presets that name them.

A soundtrack is a melody (the conductor's) and, under it, up to three layers made from it
(arrangement.py): a bass the picture steers, chords, drums. Which of them play and how they
sound is a `Band`: one `Part` per layer. The shipped presets are TOML files in score_av/presets
(`folk`, `chamber`, `ambient`, `band`), and a person's own file has the same form, one table per
layer:

    [bass]
    program = 32     # General MIDI program 0-127 (not for drums: channel 10 is the kit)
    level = 0.8      # 0-1: the layer's channel volume (MIDI CC 7 = level x 127)
    on = true        # a table present is on unless it says false; a layer without a table is off

    [harmony]
    pattern = "half" # how the chords are struck: block (once a bar), half (beats 1 and 3), beats

What the command line says wins over the preset: `--layers` chooses the layers that play,
`--program` the melody's instrument. `render` and `batch` play DEFAULT_PRESET (`folk`) unless told
otherwise; `--preset none` is the melody alone on the piano (and `live`'s default: an
installation chooses its band in its config).
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from music_vae.harmony import PATTERNS

from .errors import ScoreAVError

LAYERS = ("melody", "bass", "harmony", "drums")      # in the order their tracks are written
CHANNELS = {"melody": 0, "harmony": 1, "bass": 2, "drums": 9}  # MIDI channels (0-based; 9 is GM's kit)
PRESETS = Path(__file__).parent / "presets"
KEYS = {"on", "program", "level", "pattern"}
NONE = "none"           # the preset of no band: the melody alone, on the piano
DEFAULT_PRESET = "folk"  # what `score-av render` plays unless told: the idiom the default music model learned


@dataclass(frozen=True)
class Part:
    """One layer of the band."""
    on: bool = False
    program: int = 0            # General MIDI program (drums: ignored, the kit is channel 10's)
    level: float = 1.0          # 0-1, the channel's volume
    pattern: str = "half"       # harmony: how chords are struck (music_vae.harmony.voice)


def _defaults() -> dict[str, Part]:
    return {"melody": Part(on=True, program=0), "bass": Part(program=32, level=0.8),
            "harmony": Part(program=0, level=0.6), "drums": Part(level=0.6)}


@dataclass(frozen=True)
class Band:
    name: str = "melody"
    parts: dict[str, Part] = field(default_factory=_defaults)

    @property
    def layers(self) -> tuple[str, ...]:
        """The layers that play, in LAYERS order (the melody first)."""
        return tuple(name for name in LAYERS if self.parts[name].on)

    def part(self, name: str) -> Part:
        return self.parts[name]

    def with_layers(self, layers: tuple[str, ...]) -> "Band":
        """The same band with exactly `layers` playing (each keeps its instrument and level)."""
        return replace(self, parts={n: replace(p, on=n in layers) for n, p in self.parts.items()})

    def with_program(self, program: int) -> "Band":
        """The same band with the melody on `program`."""
        return replace(self, parts={**self.parts, "melody": replace(self.parts["melody"], program=program)})


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS.glob("*.toml"))


def load_preset(name_or_path: str | Path) -> Band:
    """A shipped preset by name, or a preset file; a ScoreAVError that names the file and the field otherwise."""
    text = str(name_or_path)
    if text == NONE:
        return Band()
    path = Path(text) if text.endswith(".toml") or Path(text).exists() else PRESETS / f"{text}.toml"
    if not path.exists():
        raise ScoreAVError(f"--preset {text}: no such preset; choose one of {', '.join(preset_names())}, "
                           f"{NONE} (the melody alone) or give a .toml file")
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ScoreAVError(f"{path}: not a TOML file ({exc})") from None
    unknown = [k for k in data if k not in LAYERS]
    if unknown:
        raise ScoreAVError(f"{path}: unknown layer {', '.join(unknown)}; tables may be {', '.join(LAYERS)}")
    parts = {name: replace(part, on=False) for name, part in _defaults().items()}
    for name, table in data.items():
        if not isinstance(table, dict):
            raise ScoreAVError(f"{path}: {name} must be a table ([{name}]), not a value")
        parts[name] = _part(path, name, table, parts[name])
    if not parts["melody"].on:
        raise ScoreAVError(f"{path}: the melody cannot be off: the other layers are made under it")
    return Band(path.stem, parts)


def _part(path: Path, name: str, table: dict, default: Part) -> Part:
    bad = sorted(set(table) - KEYS)
    if bad:
        raise ScoreAVError(f"{path}: [{name}] has unknown field {', '.join(bad)}; fields are {', '.join(sorted(KEYS))}")
    on, program = table.get("on", True), table.get("program", default.program)
    level, pattern = table.get("level", default.level), table.get("pattern", default.pattern)
    if not isinstance(on, bool):
        raise ScoreAVError(f"{path}: [{name}] on must be true or false, not {on!r}")
    if isinstance(program, bool) or not isinstance(program, int) or not 0 <= program <= 127:
        raise ScoreAVError(f"{path}: [{name}] program must be a General MIDI program 0-127, not {program!r}")
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 <= level <= 1:
        raise ScoreAVError(f"{path}: [{name}] level must be a number from 0 to 1, not {level!r}")
    if pattern not in PATTERNS:
        raise ScoreAVError(f"{path}: [{name}] pattern must be one of {', '.join(PATTERNS)}, not {pattern!r}")
    return Part(on, program, float(level), pattern)


def parse_layers(text: str | None) -> tuple[str, ...]:
    """'melody,harmony,drums' -> the layers in LAYERS order; the melody always plays."""
    names = [n.strip().lower() for n in (text or "melody").split(",") if n.strip()]
    unknown = [n for n in names if n not in LAYERS]
    if unknown:
        raise ScoreAVError(f"--layers: unknown layer {', '.join(unknown)}; choose from {', '.join(LAYERS)}")
    if "melody" not in names:
        raise ScoreAVError("--layers must include melody: the other layers are made under it")
    return tuple(n for n in LAYERS if n in names)


def band_for(preset: str | Path | None = None, layers: tuple[str, ...] | None = None,
             program: int | None = None) -> Band:
    """The band a use asks for: the preset's (the melody alone without one), then the command line's
    layers and melody program over it."""
    band = load_preset(preset) if preset is not None else Band()
    if layers is not None:
        band = band.with_layers(parse_layers(",".join(layers)))
    if program is not None:
        if not 0 <= program <= 127:
            raise ScoreAVError(f"--program must be a General MIDI program 0-127, got {program}")
        band = band.with_program(program)
    return band
