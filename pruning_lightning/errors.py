"""The one exception type users see as a single clear line."""

from __future__ import annotations


class PruningError(Exception):
    """A user-facing error: bad config, bad file, bad argument.

    The CLI prints ``error: <message>`` on one line and exits with status 2. The message names the
    problem and what to do about it.
    """
