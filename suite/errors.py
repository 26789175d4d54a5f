"""Errors the user caused: reported as one line and exit status 2."""


class UserError(Exception):
    """Bad input: the message names the bad value and what is accepted."""


class Skipped(Exception):
    """A benchmark that cannot run on this machine (too few cores, a missing
    tool): the runner records it as skipped with this message, not as an error."""


class DiskFull(Exception):
    """A write that ran out of space: one line naming the path and the free
    space, exit status 1 (the input was fine; the machine was not)."""
