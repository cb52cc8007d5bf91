"""Atomic outputs: a hidden temporary sibling that replaces the destination only when complete.

Every file or folder siamtrack writes goes first to a hidden temporary
sibling in the destination's folder and is renamed over the destination
(``os.replace``, atomic on POSIX within one file system) when complete; on an
error, Ctrl-C or SIGTERM it is deleted. So a destination is either untouched
or complete, never half-written.

A process killed with SIGKILL (or a power cut) cannot delete its temporary
file, so the names say whose they are::

    .<stem>.tmp-<host>-<pid>-<start>-<random><ext>

``host`` is a 6-hex-digit hash of the host name, ``pid`` the writing
process, ``start`` its start time (``/proc/<pid>/stat`` field 22, clock ticks
since boot; ``0`` where there is no ``/proc``) and ``random`` 8 hex digits.
The next writer of the same destination (:class:`AtomicPath`,
:func:`temp_sibling`) removes the leftovers of processes that are dead: same
host, and no process with that pid, or one with another start time (the pid
was reused). Files of other hosts, of live processes, and every name not of
this exact form are never touched.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import shutil
import socket
import weakref
from typing import Iterator

from siamtrack.errors import SiamtrackError

__all__ = ["AtomicPath", "atomic_path", "temp_sibling", "reap_leftovers", "remove_quietly"]

_HOST = hashlib.sha1(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:6]
_STARTS: dict[int, str] = {}


def _start_time(pid: int) -> str | None:
    """Start time of process ``pid`` in clock ticks since boot (``/proc/<pid>/stat`` field 22), as text;
    ``"0"`` on systems without ``/proc``; ``None`` when ``/proc`` exists but has no such process."""
    if not os.path.isdir("/proc/self"):
        return "0"
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
    except OSError:
        return None
    # field 2 (comm) is in parentheses and may hold spaces: count fields after the last ')' (field 3 = index 0)
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else "0"


def _owner() -> str:
    """``<host>-<pid>-<start>`` of this process (the pid is read each call: forked workers differ)."""
    pid = os.getpid()
    if pid not in _STARTS:
        _STARTS[pid] = _start_time(pid) or "0"
    return f"{_HOST}-{pid}-{_STARTS[pid]}"


def _is_dead(host: str, pid: int, start: str) -> bool:
    """Whether the process that wrote a temporary name is surely gone (never True for another host's)."""
    if host != _HOST:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        pass  # exists (another user's), or cannot tell: alive unless its start time differs
    now = _start_time(pid)
    if now is None:  # exists, but its start time cannot be read (or it has just ended): leave it
        return False
    return start != "0" and now != "0" and now != start  # the pid now belongs to another process


def _split(path: str) -> tuple[str, str, str]:
    folder, base = os.path.split(os.path.abspath(os.fspath(path)))
    stem, ext = os.path.splitext(base)
    return folder, stem, ext


def _pattern(stem: str, ext: str) -> re.Pattern:
    return re.compile(rf"\.{re.escape(stem)}\.tmp-([0-9a-f]{{6}})-(\d+)-(\d+)-[0-9a-f]{{8}}{re.escape(ext)}")


def remove_quietly(path: str) -> None:
    """Delete a file (or a folder tree); no error when it is already gone."""
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.remove(path)
    except OSError:
        pass


def _only_our_files(folder: str) -> bool:
    """A leftover temporary folder is removed only if it holds nothing but numbered PNG masks."""
    try:
        return all(e.is_file(follow_symlinks=False) and re.fullmatch(r"\d+\.png", e.name)
                   for e in os.scandir(folder))
    except OSError:
        return False


def reap_leftovers(path: str, is_dir: bool = False) -> list[str]:
    """Remove the temporary siblings of ``path`` left by dead siamtrack processes (see the module docstring).

    Args:
        path: the destination file (or folder, with ``is_dir``).

    Returns:
        The paths removed. Errors (permissions, a name vanishing meanwhile) are ignored.
    """
    folder, stem, ext = _split(path)
    if is_dir:
        stem, ext = stem + ext, ""
    pattern = _pattern(stem, ext)
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for e in entries:
        m = pattern.fullmatch(e.name)
        if not m or not _is_dead(m.group(1), int(m.group(2)), m.group(3)):
            continue
        if is_dir:
            if not e.is_dir(follow_symlinks=False) or not _only_our_files(e.path):
                continue
            shutil.rmtree(e.path, ignore_errors=True)
        elif e.is_file(follow_symlinks=False):
            remove_quietly(e.path)
        else:
            continue
        removed.append(e.path)
    return removed


def temp_sibling(path: str, is_dir: bool = False) -> str:
    """Create (exclusively) and return a hidden temporary sibling of ``path``: an empty file with ``path``'s
    extension (OpenCV picks the format from it), or an empty folder with ``is_dir``. Leftovers of dead
    processes for the same ``path`` are removed first (:func:`reap_leftovers`).

    Raises:
        SiamtrackError: ``"<path>: cannot write (...)"``.
    """
    folder, stem, ext = _split(path)
    if is_dir:
        stem, ext = stem + ext, ""
    reap_leftovers(path, is_dir)
    for _ in range(100):
        tmp = os.path.join(folder, f".{stem}.tmp-{_owner()}-{secrets.token_hex(4)}{ext}")
        try:
            if is_dir:
                os.mkdir(tmp)
            else:
                os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        except OSError as e:
            raise SiamtrackError(f"{path}: cannot write ({e.strerror or e})") from None
        return tmp
    raise SiamtrackError(f"{path}: cannot create a temporary file")  # pragma: no cover - 100 collisions


def check_output_file(path: str) -> None:
    """Raise SiamtrackError if ``path`` cannot be an output file (missing folder, or a folder itself)."""
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise SiamtrackError(f"{path}: folder does not exist")
    if os.path.isdir(path):
        raise SiamtrackError(f"{path}: is a folder, not a file")


class AtomicPath:
    """A temporary file that becomes ``path`` on :meth:`commit`.

    The temporary file (:func:`temp_sibling`) is created empty in ``path``'s
    folder, hidden and with ``path``'s extension. If the object is
    garbage-collected or the interpreter exits before :meth:`commit`, it is
    deleted; after SIGKILL the next writer of ``path`` removes it.

    Attributes:
        path: the destination path (str).
        tmp: the temporary file's path (str), to write to.

    Raises:
        SiamtrackError: ``"<path>: folder does not exist"``, ``"<path>: is a
            folder, not a file"``, ``"<path>: cannot write (...)"``.
    """

    def __init__(self, path: str):
        self.path = os.fspath(path)
        check_output_file(self.path)
        self.tmp = temp_sibling(self.path)
        self.done = False
        self._finalizer = weakref.finalize(self, remove_quietly, self.tmp)

    def commit(self) -> None:
        """Move the temporary file over ``path`` (``os.replace``).

        Raises:
            SiamtrackError: the rename failed (e.g. permissions); the
                temporary file is then deleted.
        """
        if self.done:
            return
        self.done = True
        try:
            os.replace(self.tmp, self.path)
        except OSError as e:
            self._finalizer()
            raise SiamtrackError(f"{self.path}: cannot write ({e.strerror or e})") from None
        self._finalizer.detach()

    def abort(self) -> None:
        """Delete the temporary file; ``path`` is left untouched."""
        self.done = True
        self._finalizer()


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """Context manager yielding a temporary path that replaces ``path`` on success.

    ``with atomic_path("out.txt") as tmp: write(tmp)`` -- when the block
    ends normally ``tmp`` is renamed over ``path`` with ``os.replace``; when
    it raises (including ``KeyboardInterrupt`` and siamtrack's SIGTERM
    :class:`~siamtrack.runner.interrupts.Interrupted`) ``tmp`` is deleted and
    ``path`` is untouched. ``tmp`` is in the same folder and has the same
    extension as ``path``.

    Raises:
        SiamtrackError: see :class:`AtomicPath`.
    """
    ap = AtomicPath(path)
    try:
        yield ap.tmp
    except BaseException:
        ap.abort()
        raise
    ap.commit()
