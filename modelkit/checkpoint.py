"""The checkpoint file format: a dict saved by torch, tagged with its format name and version.

Files are read with `torch.load(weights_only=True)`, so a checkpoint can hold tensors and plain
values but never code. Anything wrong with a file (missing, not a checkpoint, someone else's, a
version this code cannot read, weights that do not fit) becomes one CheckpointError line.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

from .atomic import atomic_torch_save
from .errors import CheckpointError


@dataclass(frozen=True)
class CheckpointFormat:
    """One kind of checkpoint: `tag` and `version` are written into every file and checked on reading;
    `what` names it in messages ("not a {what} checkpoint"); `error` is the class raised."""

    tag: str
    version: int
    what: str
    error: type[CheckpointError] = CheckpointError

    def write(self, path: Path, contents: dict) -> None:
        """Save contents (tensors and plain values) with the format tag and version, atomically."""
        atomic_torch_save({"format": self.tag, "version": self.version, **contents}, Path(path))

    def read(self, path: Path) -> dict:
        """The checkpoint's contents, checked to be of this format and version."""
        path = Path(path)
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise self.error(f"{path}: no such checkpoint") from None
        except Exception as exc:
            raise self.error(f"{path}: not a {self.what} checkpoint ({type(exc).__name__})") from None
        if not isinstance(ckpt, dict) or ckpt.get("format") != self.tag:
            raise self.error(f"{path}: not a {self.what} checkpoint")
        if ckpt.get("version") != self.version:
            raise self.error(f"{path}: checkpoint version {ckpt.get('version')} is not supported "
                             f"(this score-av reads version {self.version})")
        return ckpt

    def write_model(self, path: Path, net: torch.nn.Module, config, step: int, extra: dict | None = None) -> None:
        """A trained network as shipped: its configuration (`config.to_dict()`), the training step, its
        weights as float16 (half_weights) and any `extra` values."""
        self.write(path, {"config": config.to_dict(), "step": step, "model": half_weights(net),
                          "stored_as": "float16 weights (loaded as float32)", **(extra or {})})

    def read_model(self, path: Path, config_type, network, device="cpu") -> tuple:
        """(the network on `device` in eval mode, its configuration, the checkpoint) from a file
        write_model wrote: `config_type.from_dict` reads the configuration, `network(config.model)`
        builds the module, and the float16 weights are loaded as float32."""
        ckpt = self.read(path)
        with self.building(path):
            config = config_type.from_dict(ckpt["config"])
            net = network(config.model)
            load_half_weights(net, ckpt["model"])
        return net.to(device).eval(), config, ckpt

    @contextmanager
    def building(self, path: Path):
        """Around building a model from a checkpoint's config and weights: a config or weights that do
        not fit the model (a missing key, a wrong shape) become one CheckpointError line."""
        try:
            yield
        except (KeyError, TypeError, ValueError, RuntimeError):
            raise self.error(f"{path}: weights do not match the configuration stored with them") from None


def half_weights(module: torch.nn.Module) -> dict:
    """A module's weights as float16, the way shipped checkpoints store them: half the size, and the
    models' figures agree to three decimals. Training state stays float32 in OUT.train.pt."""
    return {k: v.half() if v.is_floating_point() else v for k, v in module.state_dict().items()}


def load_half_weights(module: torch.nn.Module, weights: dict) -> None:
    """Weights stored by half_weights, loaded back into `module` as float32."""
    module.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in weights.items()})
