"""modelkit: what the model packages (music_vae, video_vae) share about model files, and nothing else.

It imports only the standard library and torch, never the rest of score-av, so both model packages
can stand on it without standing on each other:

- `CheckpointFormat`: a checkpoint is a torch-saved dict tagged with a format name and version,
  read back with `weights_only=True` and refused in one CheckpointError line when it is not right;
- `resolve_model`, `models_dir`: a model is a checkpoint path, or a NAME found as NAME.pt in
  $SCORE_AV_MODELS, else the checkout's media/models, else <prefix>/share/score-av/models where
  an installed wheel puts the shipped models (see `modelkit.locate`);
- the model card beside each checkpoint (NAME.json), with the `machine_record` of its training;
- atomic writes, `resolve_device`, and `UserError`: the one base of every error whose message is
  for a person, which the CLI prints as one line.
"""
from importlib import import_module

from .atomic import atomic_save_arrays, atomic_torch_save, atomic_write_json, atomic_write_text
from .errors import CheckpointError, UserError
from .locate import models_dir, resolve_model, search_path, shipped_names

# The rest stands on torch, imported when first asked for (PEP 562): a command that only parses its
# arguments, or a render's first frames, need not wait for torch to load.
_LAZY = {
    "cards": ("card_path", "machine_record", "parameter_count", "read_model_card", "write_model_card"),
    "checkpoint": ("CheckpointFormat", "half_weights", "load_half_weights"),
    "device": ("resolve_device", "start_training"),
}
_HOME = {name: module for module, names in _LAZY.items() for name in names}


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module 'modelkit' has no attribute {name!r}")
    value = getattr(import_module(f".{_HOME[name]}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "CheckpointError", "CheckpointFormat", "UserError", "atomic_save_arrays", "atomic_torch_save", "atomic_write_json",
    "atomic_write_text", "card_path", "half_weights", "load_half_weights", "machine_record", "models_dir", "parameter_count", "read_model_card",
    "resolve_device", "resolve_model", "search_path", "shipped_names", "start_training", "write_model_card",
]
