"""The one exception type that the CLI turns into a one-line message."""


class RadsynthError(Exception):
    """A user-facing error: bad input, a missing file, a refused overwrite.

    The CLI prints ``radsynth <command>: error: <message>`` and exits with status 2, without a
    traceback. Raise it with a message a user can act on, in one line.
    """
