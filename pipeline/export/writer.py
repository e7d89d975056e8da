"""Files and folders that appear complete or not at all.

A marketing tool polls the export folder and picks up whatever ``*.csv`` it
finds, so nothing may ever be visible half written, even if the job is killed:

* every file is written under a hidden temporary name in its final directory,
  flushed, fsynced and then renamed over the final name (``os.replace`` is
  atomic on POSIX);
* a day's files are built in a hidden ``.YYYY-MM-DD.partial`` folder and only
  the finished folder is renamed to ``YYYY-MM-DD``. An older complete folder
  for the same date is swapped out in one ``renameat2(RENAME_EXCHANGE)`` on
  Linux; elsewhere it is moved aside first, so a reader sees the old folder,
  briefly none, or the new one, never a mix;
* a lock file keeps two exports from building the same folder at once, and
  leftovers of a killed run are removed by the next one.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import hashlib
import os
import re
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import BinaryIO

DATE_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}$")
LOCK_NAME = ".export.lock"
BUFFER_BYTES = 1 << 20


class ExportBusy(RuntimeError):
    """Another export holds the lock on this base folder."""


class HashingSink:
    """A ``write(str)`` target for :mod:`csv`: UTF-8 bytes to a file, SHA-256 as they go.

    Hashing while writing saves reading a large file back for the manifest.
    """

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._sha = hashlib.sha256()
        self.bytes = 0

    def write(self, text: str) -> int:
        data = text.encode("utf-8")
        self._sha.update(data)
        self._raw.write(data)
        self.bytes += len(data)
        return len(text)

    def hexdigest(self) -> str:
        return self._sha.hexdigest()


def temp_name(path: Path) -> Path:
    """The hidden name ``path`` is written under until it is complete."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


@contextmanager
def atomic_file(path: Path) -> Iterator[HashingSink]:
    """Write ``path`` so that it appears complete or not at all.

    On an exception the temporary file is removed and ``path`` is untouched
    (an older version stays as it was); a SIGKILL leaves only the hidden
    temporary name, which no reader looks at.
    """
    tmp = temp_name(path)
    raw = open(tmp, "xb", buffering=BUFFER_BYTES)  # noqa: SIM115 - closed below on every path
    try:
        sink = HashingSink(raw)
        yield sink
        raw.flush()
        os.fsync(raw.fileno())
    except BaseException:
        raw.close()
        tmp.unlink(missing_ok=True)
        raise
    raw.close()
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    """Make renames and new entries in ``path`` durable (a no-op where unsupported)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def dated_folders(base: Path) -> list[tuple[date, Path]]:
    """Complete dated export folders under ``base``, newest first."""
    found = []
    if base.is_dir():
        for entry in base.iterdir():
            if DATE_FOLDER.match(entry.name) and entry.is_dir():
                try:
                    found.append((date.fromisoformat(entry.name), entry))
                except ValueError:
                    continue
    return sorted(found, reverse=True)


class DatedFolder:
    """Builds ``<base>/<date>/`` in a hidden folder and publishes it whole.

    Use as a context manager: it takes the lock, clears leftovers of a killed
    run and creates :attr:`work`; :meth:`publish` renames it into place. If the
    block raises, the partial folder is removed and any older folder stays.
    """

    def __init__(self, base: Path, day: date) -> None:
        self.base = base
        self.final = base / day.isoformat()
        self.work = base / f".{day.isoformat()}.partial"
        self._lock_fd: int | None = None
        self.published = False

    def __enter__(self) -> DatedFolder:
        self.base.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.base / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ExportBusy(f"another export is running in {self.base} (lock {LOCK_NAME})") from None
        self._lock_fd = fd
        self._remove_leftovers()
        self.work.mkdir()
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if not self.published:
                shutil.rmtree(self.work, ignore_errors=True)
        finally:
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # releases the flock
                self._lock_fd = None

    def _remove_leftovers(self) -> None:
        """A killed run leaves its hidden partial (or moved-aside) folder: start clean."""
        stem = f".{self.final.name}."
        for entry in self.base.iterdir():
            if entry.name.startswith(stem) and (entry.name.endswith(".partial") or ".old-" in entry.name):
                shutil.rmtree(entry, ignore_errors=True)

    def publish(self) -> Path:
        """Rename the finished folder into place, replacing an older one for the date."""
        fsync_dir(self.work)
        if not self.final.exists():
            os.rename(self.work, self.final)
        elif exchange(self.work, self.final):
            shutil.rmtree(self.work)  # now holds the older folder
        else:
            aside = self.base / f".{self.final.name}.old-{os.getpid()}"
            os.rename(self.final, aside)
            try:
                os.rename(self.work, self.final)
            except OSError:
                os.rename(aside, self.final)  # put the older folder back
                raise
            shutil.rmtree(aside)
        self.published = True
        fsync_dir(self.base)
        return self.final


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2``); ``False`` where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False  # the filesystem cannot swap: fall back to two renames
    raise OSError(code, os.strerror(code), str(a), None, str(b))
