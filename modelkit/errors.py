"""The one base for errors a person can fix: the CLI prints their message as one line, no traceback."""


class UserError(Exception):
    """A problem a person can fix: the message says what, which file, and what to do."""


class CheckpointError(UserError):
    """A checkpoint that is missing, not ours, or from an incompatible version."""
