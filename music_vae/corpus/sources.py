"""Where tunes come from: music21's shipped collections, or a person's files and folders.

Each source expands into work items, one per tune, so that parsing can be spread over processes
and one bad tune never costs its neighbours. Every tune carries its style (the collection).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..configs import DEFAULT_TRAINING_DATA  # noqa: F401 (named among the sources; the configs own it)
from ..errors import MusicInputError

MUSIC_FILE_SUFFIXES = {".mid", ".midi", ".abc"}
SCORE_FILE_SUFFIXES = {".mxl", ".musicxml", ".xml", ".krn"}


@dataclass(frozen=True)
class TuneItem:
    """One tune to parse: ABC text, or a path to a MIDI or score file."""

    tune_id: str
    style: str
    kind: str  # "abc-text", "midi", "score-file"
    payload: str


@dataclass(frozen=True)
class Collection:
    folder: str
    style: str
    about: str


COLLECTIONS = {
    "oneills": Collection("oneills1850", "irish", "O'Neill's Music of Ireland (1850 tunes)"),
    "ryans": Collection("ryansMammoth", "american", "Ryan's Mammoth Collection (1883)"),
    "airds": Collection("airdsAirs", "scottish", "Aird's Selection of Scotch, English, Irish and Foreign Airs"),
    "essen": Collection("essenFolksong", "", "Essen folk song collection (style by regional file)"),
    "bach": Collection("bach", "bach", "Bach chorales, soprano line"),
}
_ESSEN_STYLES = [("han", "chinese"), ("irl", "irish"), ("lot", "lorraine"), ("lux", "luxembourg")]
_ESSEN_SKIP = ("test", "variant")  # music21's test files and variant duplicates


def _essen_style(filename: str) -> str | None:
    if filename.startswith(_ESSEN_SKIP):
        return None
    for prefix, style in _ESSEN_STYLES:
        if filename.startswith(prefix):
            return style
    return "german"


def split_abc_tunes(text: str) -> list[tuple[str, str]]:
    """(reference number, text) of each tune in an ABC file; the file header is prepended to each."""
    chunks = re.split(r"(?m)^(?=X:)", text)
    header = chunks[0] if chunks and not chunks[0].startswith("X:") else ""
    tunes = []
    for chunk in chunks:
        if chunk.startswith("X:"):
            ref = chunk[2:chunk.find("\n")].strip() if "\n" in chunk else chunk[2:].strip()
            tunes.append((ref, header + chunk))
    return tunes


def _abc_items(path: Path, prefix: str, style: str) -> list[TuneItem]:
    text = path.read_text(encoding="latin-1")
    tunes = split_abc_tunes(text)
    if not tunes and text.strip():
        tunes = [("1", text)]
    return [TuneItem(f"{prefix}#{i}:{ref}", style, "abc-text", body) for i, (ref, body) in enumerate(tunes)]


def collection_items(name: str) -> list[TuneItem]:
    """The tunes of one of music21's collections in COLLECTIONS."""
    from music21 import corpus

    coll = COLLECTIONS[name]
    root = Path(corpus.__file__).parent
    items: list[TuneItem] = []
    if name == "bach":
        for path in sorted(corpus.getComposer("bach")):
            path = Path(path)
            if path.suffix in SCORE_FILE_SUFFIXES:
                items.append(TuneItem(f"bach/{path.stem}", "bach", "score-file", str(path)))
        return items
    for path in sorted((root / coll.folder).glob("*.abc")):
        style = coll.style or _essen_style(path.name)
        if style:
            items.extend(_abc_items(path, f"{name}/{path.stem}", style))
    return items


def path_items(path: Path, style: str | None = None, root: Path | None = None) -> list[TuneItem]:
    """The tunes of a file, a folder (searched recursively) or a .txt list of files.

    Tune ids are paths relative to the folder or list given (with its name in front), so the
    split by tune does not depend on where the files happen to lie.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise MusicInputError(f"{path}: no such file or folder")
    if path.is_dir():
        style = style or path.name
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in MUSIC_FILE_SUFFIXES | SCORE_FILE_SUFFIXES)
        return [item for f in files for item in path_items(f, style, root or path)]
    suffix = path.suffix.lower()
    style = style or path.parent.name or "user"
    tune_id = str(path.relative_to(root.parent)) if root is not None else path.name
    if suffix == ".txt":
        lines = [l.strip() for l in path.read_text().splitlines() if l.strip() and not l.startswith("#")]
        return [item for l in lines for item in path_items(path.parent / l, style, root or path.parent)]
    if suffix == ".abc":
        return _abc_items(path, tune_id, style)
    if suffix in (".mid", ".midi"):
        return [TuneItem(tune_id, style, "midi", str(path))]
    if suffix in SCORE_FILE_SUFFIXES:
        return [TuneItem(tune_id, style, "score-file", str(path))]
    raise MusicInputError(f"{path}: not a music file (expected .mid, .midi, .abc, .mxl, .musicxml, .krn or a folder)")


def items_for(sources: list[str]) -> list[TuneItem]:
    """Work items for a list of collection names and paths."""
    items: list[TuneItem] = []
    for src in sources:
        if src in COLLECTIONS and not os.path.exists(src):
            items.extend(collection_items(src))
        else:
            items.extend(path_items(Path(src)))
    return items
