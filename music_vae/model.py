"""The recurrent bar VAE: a bidirectional LSTM encoder and an LSTM decoder.

As in MusicVAE, the decoder gets z twice: z sets its first state, and z is fed again with the
previous token at every step, so that the decoder cannot ignore the code. `step` decodes one
token at a time from any state, which is what lets live playback re-decode the rest of a bar
from the current step when the picture changes.

With `autoregressive=False` (the flat variant) the previous token is replaced by the start token
at every step, so each step depends on z alone: a change of one note cannot make the decoder
rewrite the rest of the bar, and the teacher-forced Jacobian is that of what is played.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


from .configs import ModelConfig
from .representation import FIRST_PITCH_TOKEN, STEPS_PER_BAR


class BarVAE(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.start_token = cfg.vocab_size  # one extra embedding row: "before the bar"
        self.embed = nn.Embedding(cfg.vocab_size + 1, cfg.embed_dim)
        self.encoder = nn.LSTM(cfg.embed_dim, cfg.encoder_hidden, batch_first=True, bidirectional=True)
        self.to_mu = nn.Linear(2 * cfg.encoder_hidden, cfg.latent_dim)
        self.to_logvar = nn.Linear(2 * cfg.encoder_hidden, cfg.latent_dim)
        self.to_state = nn.Linear(cfg.latent_dim, 2 * cfg.decoder_layers * cfg.decoder_hidden)
        self.decoder = nn.LSTM(cfg.embed_dim + cfg.latent_dim, cfg.decoder_hidden,
                               num_layers=cfg.decoder_layers, batch_first=True)
        self.out = nn.Linear(cfg.decoder_hidden, cfg.vocab_size)

    def encode(self, bars: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(z | bar) for bars (batch, 16) of tokens."""
        return self.encode_embedded(self.embed(bars))

    def encode_embedded(self, embedded: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`encode` of bars already embedded (batch, 16, embed_dim): soft tokens embed as probability-weighted rows."""
        _, (h, _) = self.encoder(embedded)
        h = torch.cat([h[0], h[1]], dim=-1)
        return self.to_mu(h), self.to_logvar(h).clamp(-12.0, 6.0)

    def initial_state(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        L, H = self.cfg.decoder_layers, self.cfg.decoder_hidden
        s = torch.tanh(self.to_state(z)).view(z.shape[0], 2, L, H).permute(1, 2, 0, 3).contiguous()
        return s[0], s[1]

    def shifted(self, bars: torch.Tensor) -> torch.Tensor:
        """Decoder inputs for teacher forcing: the start token, then the bar without its last step."""
        start = torch.full_like(bars[:, :1], self.start_token)
        return torch.cat([start, bars[:, :-1]], dim=1)

    def logits(self, z: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits (batch, steps, vocab) given decoder inputs (batch, steps)."""
        if not self.cfg.autoregressive:
            inputs = torch.full_like(inputs, self.start_token)
        x = torch.cat([self.embed(inputs), z[:, None, :].expand(-1, inputs.shape[1], -1)], dim=-1)
        y, _ = self.decoder(x, self.initial_state(z))
        return self.out(y)

    def step(self, z: torch.Tensor, token: torch.Tensor, state):
        """One decoding step: logits of the next token and the new state."""
        if not self.cfg.autoregressive:
            token = torch.full_like(token, self.start_token)
        x = torch.cat([self.embed(token), z], dim=-1)[:, None, :]
        y, state = self.decoder(x, state)
        return self.out(y[:, 0]), state

    @torch.no_grad()
    def decode(self, z: torch.Tensor, temperature: float = 0.0, prefix: torch.Tensor | None = None,
               generator: torch.Generator | None = None, bias: torch.Tensor | None = None,
               leap_penalty: float = 0.0, max_step: int = 7, previous: torch.Tensor | None = None) -> torch.Tensor:
        """Bars (batch, 16) decoded from z, greedily (temperature 0) or by sampling.

        With `prefix` (batch, k), the first k tokens are given and decoding continues from step k.
        `bias` (batch, 16, vocab) is added to the logits of each step before a token is chosen: -inf
        forbids a token (a scale, a register), a finite penalty makes it rarer. `leap_penalty` is
        taken off every note more than `max_step` semitones from the note before it (the bar's own,
        or `previous` (batch,), the last note token before the bar, -1 for none).
        """
        state = self.initial_state(z)
        token = torch.full((z.shape[0],), self.start_token, dtype=torch.long, device=z.device)
        last = previous.clone() if previous is not None else torch.full_like(token, -1)
        notes = torch.arange(self.cfg.vocab_size, device=z.device)
        out = []
        for t in range(STEPS_PER_BAR):
            logits, state = self.step(z, token, state)
            if bias is not None:
                logits = logits + bias[:, t]
            if leap_penalty:
                far = (notes[None] >= FIRST_PITCH_TOKEN) & (last[:, None] >= FIRST_PITCH_TOKEN) & \
                    ((notes[None] - last[:, None]).abs() > max_step)
                logits = logits - leap_penalty * far
            if prefix is not None and t < prefix.shape[1]:
                token = prefix[:, t]
            elif temperature <= 0:
                token = logits.argmax(-1)
            else:
                probs = F.softmax(logits / temperature, dim=-1)
                token = torch.multinomial(probs, 1, generator=generator)[:, 0]
            last = torch.where(token >= FIRST_PITCH_TOKEN, token, last)
            out.append(token)
        return torch.stack(out, dim=1)

