"""The one error type users see: a clear sentence, mapped to exit code 2 by the CLI."""


class InfwidthError(ValueError):
    """Invalid user input or an impossible request, explained in one sentence.

    The CLI prints ``error: <message>`` to stderr and exits with code 2, with no
    traceback. Library users can catch it as a ``ValueError``.
    """
