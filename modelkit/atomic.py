"""Files written whole or not at all: to a temporary name beside the target, then renamed over it.

A run interrupted while saving must leave the previous file intact, never half of a new one.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

import numpy as np


def unwritable(path: Path) -> str | None:
    """Why no file can be written at `path`, in a few words, or None: checked before any work, so
    that a mistyped output is one line at once, not a traceback at the end."""
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        return "is a folder; give a file name"
    if not folder.is_dir():
        return f"the folder {folder} does not exist"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"the folder {folder} is not writable"
    return None


def _atomic(path: Path, write: Callable[[Path], None]) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_torch_save(obj, path: Path) -> None:
    import torch  # here: the module's other writers are used where torch is not loaded

    _atomic(path, lambda tmp: torch.save(obj, tmp))


def atomic_write_text(path: Path, text: str) -> None:
    _atomic(path, lambda tmp: tmp.write_text(text))


def atomic_save_midi(path: Path, midi) -> Path:
    """A mido.MidiFile written under a temporary name, then renamed; the path."""
    path = Path(path)
    _atomic(path, lambda tmp: midi.save(str(tmp)))
    return path


def atomic_write_json(path: Path, obj) -> None:
    """Indented, with a final newline: model cards are read by people too."""
    atomic_write_text(path, json.dumps(obj, indent=2) + "\n")


def atomic_save_arrays(path: Path, **arrays) -> None:
    """Named numpy arrays as one .npz (read back with np.load(..., allow_pickle=False))."""
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # a file object, or np.savez would append .npz to the temporary name
            np.savez(f, **arrays)
    _atomic(path, write)
