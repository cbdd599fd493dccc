"""Where models are found: a model is named by a path to its checkpoint, or by a NAME looked up as
NAME.pt in these folders, in order (the first that has it wins):

1. $SCORE_AV_MODELS, when set: your own folder of models;
2. media/models of the checkout this code runs from (a git clone, or `pip install -e .`);
3. <prefix>/share/score-av/models, where pip puts the shipped models of an installed wheel
   (<prefix> is the environment's, or the user's for `pip install --user`).
"""
from __future__ import annotations

import os
import sysconfig
from pathlib import Path

from .errors import CheckpointError

ENV_VAR = "SCORE_AV_MODELS"
CHECKOUT_MODELS = Path(__file__).resolve().parent.parent / "media" / "models"
INSTALLED_MODELS = Path("share") / "score-av" / "models"  # under a scheme's data path: see pyproject.toml


def _installed_dirs() -> list[Path]:
    schemes = [sysconfig.get_default_scheme(), sysconfig.get_preferred_scheme("user")]
    return [Path(sysconfig.get_path("data", scheme)) / INSTALLED_MODELS for scheme in schemes]


def search_path() -> list[Path]:
    """The folders a model name is looked up in, in order, whether they exist or not."""
    env = os.environ.get(ENV_VAR)
    return [*([Path(env).expanduser()] if env else []), CHECKOUT_MODELS, *_installed_dirs()]


def models_dir() -> Path:
    """The first folder of the search path that exists: where the models a name finds live."""
    return next((d for d in search_path() if d.is_dir()), search_path()[0])


def shipped_names() -> list[str]:
    """Every model name the search path knows, sorted."""
    return sorted({p.stem for d in search_path() if d.is_dir() for p in d.glob("*.pt")})


def resolve_model(name_or_path: str | os.PathLike, error: type[CheckpointError] = CheckpointError,
                  train: str = "score-av train") -> Path:
    """A checkpoint file: the path itself when it is a file, else NAME.pt from the search path.
    `train` is the command that makes one, for the message when there is none."""
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    for folder in search_path():
        if (folder / f"{name_or_path}.pt").is_file():
            return folder / f"{name_or_path}.pt"
    raise error(f"{name_or_path}: no such model file, nor a shipped model "
                f"(shipped: {', '.join(shipped_names()) or 'none'}; train one with `{train}`)")
