"""The one exception type for user mistakes: the CLI prints its message on one line and exits 2."""


class UsageError(ValueError):
    """Bad input from the user (a flag, an env id, a path); the message names the value and what is allowed."""


def first_line(e: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message (its type's name without one), for a one-line error."""
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:limit]
