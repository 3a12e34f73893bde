"""The errors interp raises for bad input. Each message is one line that says what is wrong and what to do.

The CLI turns these into `error: ...` on stderr and exit code 2, with no traceback.
"""


class InterpError(Exception):
    """Base class for expected, user-fixable errors."""


class ConfigError(InterpError, ValueError):
    """A config value or combination is invalid; the message names the field and how to fix it."""


class CheckpointError(InterpError, ValueError):
    """A checkpoint is missing, incomplete, corrupted or does not match its config."""


class TrainingDiverged(InterpError, RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


class DataError(InterpError, ValueError):
    """A corpus, tokenizer or batch of tokens cannot be used as asked."""


class DeviceError(InterpError, ValueError):
    """A device was asked for that this machine does not have, or a precision it cannot train in."""
