"""Foreseeable problems in the pipeline; the CLI prints their message as one line and exits non-zero."""

from modelkit import UserError


class ScoreAVError(UserError):
    """A problem a person can fix: the message says what, which file, and what to do."""
