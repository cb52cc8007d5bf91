"""Signals end a run the way ``q`` does: SIGINT (Ctrl-C), SIGTERM and SIGHUP become :class:`Interrupted`.

Inside :func:`handle_signals` each of these signals raises
:class:`Interrupted` in the main thread, at the next Python instruction.
The runner catches it, commits every sink with the frames finished so far and
reports how the run ended; the command line then exits with ``128 + signal
number`` (130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP), the shell's
convention. Code that must not be cut in the middle (one frame's writes to
all sinks, committing the outputs) runs inside :func:`deferred`: a signal
arriving there is held and raised when the block ends.

:class:`Interrupted` subclasses ``KeyboardInterrupt``, so whatever already
cleans up on Ctrl-C (``atomic_path``, ``except BaseException``) cleans up on
SIGTERM too.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

__all__ = ["Interrupted", "handle_signals", "deferred", "HANDLED_SIGNALS"]

#: The signals that end a run cleanly (those that exist on this platform).
HANDLED_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))

_depth = 0
_pending: int | None = None


class Interrupted(KeyboardInterrupt):
    """The process received SIGINT, SIGTERM or SIGHUP.

    Attributes:
        signum: the signal number.
        name: ``"SIGINT"``, ``"SIGTERM"``, ...
        exit_code: ``128 + signum`` (130, 143, 129), what the command line exits with.
    """

    def __init__(self, signum: int):
        self.signum = int(signum)
        self.name = signal.Signals(self.signum).name
        self.exit_code = 128 + self.signum
        super().__init__(self.name)


def _handler(signum, frame) -> None:
    global _pending
    if _depth > 0:
        _pending = signum
        return
    raise Interrupted(signum)


@contextlib.contextmanager
def handle_signals() -> Iterator[None]:
    """Turn SIGINT / SIGTERM / SIGHUP into :class:`Interrupted` while the block runs (main thread only;
    elsewhere, and for signals set to be ignored, e.g. ``nohup``'s SIGHUP, nothing changes). The previous
    handlers are restored afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for s in HANDLED_SIGNALS:
        old = signal.getsignal(s)
        if old is signal.SIG_IGN:
            continue
        previous[s] = old
        signal.signal(s, _handler)
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold the signals of :func:`handle_signals` until the block ends, then raise the last one as
    :class:`Interrupted` (not when the block itself raised: its error goes on, the signal is dropped). Nests."""
    global _depth, _pending
    _depth += 1
    try:
        yield
    except BaseException:
        if _depth == 1:
            _pending = None
        raise
    finally:
        _depth -= 1
    if _depth == 0 and _pending is not None:
        signum, _pending = _pending, None
        raise Interrupted(signum)
