"""Exception types. Errors raised while processing one item become error rows (failures are
data); errors raised at start-up (config, inputs, run folder) stop the command with a message
that says what to fix."""


class Any2CapInsError(Exception):
    """Base class of the project's own errors."""


class ConfigError(Any2CapInsError):
    """A setting is unknown or invalid; the message names the key."""


class InputError(Any2CapInsError):
    """The source (folder, glob, manifest) or run folder cannot be used as given."""


class DecodeError(Any2CapInsError):
    """A clip cannot be opened or decoded."""


class StageError(Any2CapInsError):
    """A stage broke its contract (for example returned the wrong number of results)."""
