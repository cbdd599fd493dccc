"""Foreseeable problems with what a person gives us; the CLI prints their message as one line."""

import modelkit


class MusicVAEError(modelkit.UserError):
    """Base for errors whose message is meant for the person, not a traceback."""


class MusicInputError(MusicVAEError):
    """A music file or folder that cannot be read or holds nothing usable."""


class CheckpointError(MusicVAEError, modelkit.CheckpointError):
    """A checkpoint that is missing, not ours, or from an incompatible version."""
