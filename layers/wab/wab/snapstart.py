"""Lambda SnapStart: what must differ between execution environments is made again after a restore.

With SnapStart on (`SnapStart=on`), every environment resumes from one snapshot of the initialised function, so
anything initialisation left behind is shared by all of them: the random generator's state (the retry jitter would
draw the same numbers everywhere), open connections (stale after the pause) and cached secrets (perhaps rotated since
the snapshot). `on_restore` registers what a function must forget then; the runtime's `snapshot_restore_py` runs it.
Without SnapStart (and outside Lambda) the hooks never run.
"""

import random
from collections.abc import Callable

from wab import aws

_forget: list[Callable[[], None]] = []


def on_restore(*forget: Callable[[], None]) -> None:
    """Run these after every restore from a snapshot (each function's own cached dependencies)."""
    _forget.extend(forget)


def after_restore() -> None:
    random.seed()
    aws.reset_clients()
    for forget in _forget:
        forget()


def _register() -> None:
    try:
        from snapshot_restore_py import register_after_restore  # in Lambda's Python runtimes, not on PyPI's path here
    except ImportError:
        return
    register_after_restore(after_restore)


_register()
