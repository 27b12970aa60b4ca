"""Opening the files the suite reads its state from (baselines, results files, calibration figures, GLUE data) and
the files it appends to (the GitHub step summary): regular files only, opened without blocking (a FIFO never
hangs a run), and read with a size limit (a link to /dev/zero or a huge file is never read forever).

Every reader of a state file goes through ``read_text`` / ``read_bytes``; a refusal is ``Unreadable``, whose
text completes "<the file> ..." in the caller's one-line message ("is a FIFO, not a regular file")."""

from __future__ import annotations

import os
import stat
from pathlib import Path

MAX_STATE_BYTES = 64 * 2**20   # baseline and calibration files are kilobytes; results files have their own limit

_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


class Unreadable(ValueError):
    """A state file that is not read. ``kind``: missing, folder, special, large, os, encoding."""

    def __init__(self, problem: str, kind: str):
        super().__init__(problem)
        self.kind = kind


def _linked(path) -> str:
    return f" (it links to {os.path.realpath(path)})" if os.path.islink(path) else ""


def _special(path, mode: int) -> Unreadable:
    kind = next((name for test, name in _KINDS if test(mode)), "not a plain file")
    return Unreadable(f"is {kind}{_linked(path)}, not a regular file", "special")


def open_regular(path: str | os.PathLike, flags: int = os.O_RDONLY, mode: int = 0o666) -> int:
    """A file descriptor of ``path`` (os.open ``flags``), opened without blocking and refused (closed, Unreadable)
    unless it is a regular file: a folder, FIFO, device or socket never is."""
    try:
        fd = os.open(path, flags | os.O_NONBLOCK | os.O_CLOEXEC, mode)
    except FileNotFoundError:
        raise Unreadable("does not exist", "missing") from None
    except IsADirectoryError:
        raise Unreadable("is a folder, not a file", "folder") from None
    except OSError as exc:
        if exc.errno == 6:  # ENXIO: a FIFO opened for writing with no reader
            raise _special(path, stat.S_IFIFO) from None
        raise Unreadable(f"cannot be opened ({exc.strerror or exc})", "os") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        if stat.S_ISDIR(st.st_mode):
            raise Unreadable("is a folder, not a file", "folder")
        raise _special(path, st.st_mode)
    os.set_blocking(fd, True)
    return fd


def _size(n: int) -> str:
    return f"{n / 2**20:.0f} MiB" if n >= 2**20 else f"{n} bytes"


def read_bytes(path: str | os.PathLike, *, limit: int = MAX_STATE_BYTES) -> bytes:
    """The whole of a regular file of at most ``limit`` bytes; Unreadable otherwise."""
    fd = open_regular(path)
    with os.fdopen(fd, "rb") as f:
        size = os.fstat(fd).st_size
        if size > limit:
            raise Unreadable(f"is {_size(size)}, larger than such a file can be ({_size(limit)} at most)", "large")
        try:
            data = f.read(limit + 1)
        except OSError as exc:
            raise Unreadable(f"cannot be read ({exc.strerror or exc})", "os") from None
    if len(data) > limit:  # it grew while being read
        raise Unreadable(f"is larger than such a file can be ({_size(limit)} at most)", "large")
    return data


def read_text(path: str | os.PathLike, *, limit: int = MAX_STATE_BYTES) -> str:
    """``read_bytes`` as UTF-8 text; invalid UTF-8 is Unreadable, naming the byte."""
    data = read_bytes(path, limit=limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Unreadable(f"is not UTF-8 text ({exc.reason} at byte {exc.start})", "encoding") from None


def open_append(path: str | os.PathLike):
    """A text file opened for appending (created when missing): a regular file only, never a blocking open of a
    FIFO. Unreadable otherwise."""
    fd = open_regular(Path(path), os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    return os.fdopen(fd, "a", encoding="utf-8")
