"""The one exception type for user mistakes: the CLI prints its message on one line and exits 2."""


class UsageError(ValueError):
    """Bad input from the user (a flag, an env id, a path); the message names the value and what is allowed."""
