"""Errors the user caused: reported as one line and exit status 2."""


class UserError(Exception):
    """Bad input: the message names the bad value and what is accepted."""
