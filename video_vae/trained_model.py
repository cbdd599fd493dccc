"""A trained video VAE as the pipeline uses it: frames in, codes out (and back, to look at them).

Takes and gives numpy arrays (frames as uint8 RGB (n, h, w, 3) of any size, codes as
(n, latent_dim)), so the rest of score-av never has to touch the network.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from modelkit import resolve_device

from .checkpoint import load_model, read_model_card, resolve_model
from .errors import VideoVAEError
from .metrics import reconstruction
from .preprocess import prepare, resize_frames, to_frames
from .train import fine_tune

BATCH = 256
FIT_PROBE = 512  # frames on which fit() measures the reconstruction before and after


class VideoVAE:
    def __init__(self, name_or_path: str = "video", device: str = "auto"):
        self.path = resolve_model(name_or_path)
        self.device = resolve_device(device)
        self.model, self.config, _ = load_model(self.path, self.device)
        self.card = read_model_card(self.path)

    @property
    def latent_dim(self) -> int:
        return self.config.model.latent_dim

    @property
    def image_size(self) -> int:
        """The square frame size (pixels) the model encodes."""
        return self.config.model.image_size

    @property
    def latent_mean(self) -> np.ndarray:
        """Per-dimension mean of mu over the frames the model was trained (or last fitted) on."""
        return self.model.latent_mean.cpu().numpy().astype(np.float32)

    @property
    def latent_std(self) -> np.ndarray:
        return self.model.latent_std.cpu().numpy().astype(np.float32)

    @torch.no_grad()
    def encode(self, frames) -> np.ndarray:
        """Mean code mu(x) of each uint8 RGB frame (any size; one frame or many), (n, latent_dim)."""
        self.model.eval()
        frames = resize_frames(frames, self.config.model.image_size)
        out = np.empty((len(frames), self.latent_dim), np.float32)
        for i in range(0, len(frames), BATCH):
            mu, _ = self.model.encode(prepare(frames[i:i + BATCH]).to(self.device))
            out[i:i + BATCH] = mu.cpu().numpy()
        return out

    @torch.no_grad()
    def decode(self, codes) -> np.ndarray:
        """uint8 RGB frames (n, size, size, 3) decoded from codes (n, latent_dim)."""
        self.model.eval()
        codes = np.asarray(codes, np.float32).reshape(-1, self.latent_dim)
        images = [to_frames(self.model.decode(torch.from_numpy(codes[i:i + BATCH]).to(self.device)))
                  for i in range(0, len(codes), BATCH)]
        size = self.config.model.image_size
        return np.concatenate(images) if images else np.empty((0, size, size, 3), np.uint8)

    def fit(self, frames, seconds: float = 60.0, progress: bool = True) -> dict:
        """Fine-tune in place on these frames for at most `seconds`, and take the latent statistics
        from them; returns the reconstruction error before and after on (up to) 512 of the frames."""
        frames = resize_frames(frames, self.config.model.image_size)
        if len(frames) == 0:
            raise VideoVAEError("no frames to fit the video model to")
        probe = frames[np.unique(np.linspace(0, len(frames) - 1, min(len(frames), FIT_PROBE)).astype(int))]
        before = reconstruction(self.model, probe)
        started = time.time()
        fine_tune(self.model, frames, seconds, self.config.train, progress=progress)
        after = reconstruction(self.model, probe)
        return {"frames": int(len(frames)), "seconds": round(time.time() - started, 1),
                "mse_before": before["mse"], "mse_after": after["mse"],
                "psnr_db_before": before["psnr_db"], "psnr_db_after": after["psnr_db"]}
