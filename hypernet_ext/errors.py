"""Error types raised by hypernet_ext. Every message names the problem and the fix."""


class HypernetError(ValueError):
    """Base class for every error hypernet_ext raises on bad input."""


class InvalidOptionError(HypernetError):
    """A creation or training option is invalid (wrong layer structure, unknown activation, ...)."""


class HypernetworkFileError(HypernetError):
    """A hypernetwork, optimizer or checkpoint file is unsafe, truncated, corrupt or inconsistent."""
