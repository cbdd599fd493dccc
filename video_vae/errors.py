"""Foreseeable problems with what a person gives us; the CLI prints their message as one line."""

import modelkit


class VideoVAEError(modelkit.UserError):
    """Base for errors whose message is meant for the person, not a traceback."""


class CheckpointError(VideoVAEError, modelkit.CheckpointError):
    """A checkpoint that is missing, not ours, or from an incompatible version."""
