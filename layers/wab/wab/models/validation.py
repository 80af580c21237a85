"""The one way a validation failure is told back: short, readable, and without echoing the (possibly huge or hostile)
input."""

import re
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

Locate = Callable[[tuple[Any, ...]], list[Any]]
MAX_PART = 64  # a location part is a key of the input: a hostile one can be huge
# A key of the input can also be a phone number (`{"+64211234567": 1}`): told back, it would reach events and logs.
NUMBER_LIKE = re.compile(r"\+?[0-9][0-9 ().-]{5,}[0-9]")
MAX_MESSAGE = 1000


def describe(
    exc: ValidationError, *, limit: int = 3, prefix: str = "", whole: str = "body", locate: Locate = list
) -> str:
    """Up to `limit` problems as `where: what`, `where` the dotted location (`locate` may rewrite it) after `prefix`,
    or `whole` when the problem is with the value as a whole."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False)[:limit]:
        where = ".".join(_bounded(NUMBER_LIKE.sub("…", str(part))) for part in locate(error["loc"]))
        problems.append(
            f"{prefix + where if where else prefix.rstrip('.') or whole}: {error['msg'].removeprefix('Value error, ')}"
        )
    more = exc.error_count() - limit
    return _bounded("; ".join(problems) + (f" (and {more} more)" if more > 0 else ""), MAX_MESSAGE)


def _bounded(text: str, limit: int = MAX_PART) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
