"""Files the incident writes: atomically (a temporary file in the same folder, renamed into
place), private to the user (0600), never through a symbolic link, and CSV text with one header
row and no cell a spreadsheet would run.

The folders an incident writes into (exports/, outbox/, downloads/) are opened without following
links: a folder replaced by a link to somewhere else is refused, not written through. The checks
on who owns a folder and who may write it, as ssh makes them on ~/.ssh, are here too.
"""

from __future__ import annotations

import errno
import hashlib
import os
import secrets
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from incident.errors import WorkspaceError
from incident.safetext import csv_cell


def csv_text(header: list[str], rows: Iterable[Iterable[Any]]) -> str:
    """Comma-separated, one header row, LF line ends. Every cell is report data made inert:
    control characters visible, and never a formula (a leading ' keeps it text)."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([csv_cell(name) for name in header])
    writer.writerows([csv_cell(cell) for cell in row] for row in rows)
    return buffer.getvalue()


# -- who owns a folder, who may write it ------------------------------------------------------------


def _owner_name(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return f"uid {uid}"


def check_folder(path: Path, what: str, *, root_may_own: bool = False) -> None:
    """Refuse, with the fix, a folder that is a symbolic link (for an incident folder), not a
    folder, not the user's, or writable by others. `root_may_own`: a folder root owns and nobody
    else may write is fine too (as ssh accepts), for INCIDENT_HOME."""
    try:
        info = os.stat(path) if root_may_own else os.lstat(path)
    except FileNotFoundError:
        raise WorkspaceError(f"{path}: {what} does not exist") from None
    if stat.S_ISLNK(info.st_mode):
        raise WorkspaceError(f"{path}: {what} is a symbolic link; incident does not follow links there. "
                             f"To fix: replace the link with the real folder (mv it there)")
    if not stat.S_ISDIR(info.st_mode):
        raise WorkspaceError(f"{path}: {what} is not a folder. To fix: move the file away, or set INCIDENT_HOME "
                             "to another folder")
    me = os.geteuid()
    if info.st_uid != me and not (root_may_own and info.st_uid == 0):
        raise WorkspaceError(f"{path}: {what} belongs to {_owner_name(info.st_uid)}, not to you "
                             f"({_owner_name(me)}); incident only uses folders of yours, which hold buyer data. "
                             "To fix: set INCIDENT_HOME to a folder of your own (export INCIDENT_HOME=~/incidents)")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise WorkspaceError(f"{path}: {what} can be written by others (mode {stat.filemode(info.st_mode)}), so "
                             f"they could replace what is in it. To fix: chmod go-w {path}")


def private_home(path: Path) -> Path:
    """INCIDENT_HOME, created 0700 when it is missing, and checked as ssh checks ~/.ssh."""
    try:
        path.mkdir(parents=True, mode=0o700)
    except FileExistsError:
        pass
    check_folder(path, "INCIDENT_HOME", root_may_own=True)
    return path


# -- writing without following links ---------------------------------------------------------------


@contextmanager
def _folder_fd(folder: Path) -> Iterator[int]:
    """The folder opened without following a link in its last part: created 0700 if missing."""
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except FileExistsError:  # a dangling link, or a file: refused just below
        pass
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EEXIST) or folder.is_symlink():
            raise WorkspaceError(f"{folder} is a symbolic link or not a folder; incident never writes through "
                                 f"a link. To fix: remove it (rm {folder}) and run the command again") from None
        raise
    try:
        yield fd
    finally:
        os.close(fd)


def _write_temp(fd: int, name: str, data: bytes) -> str:
    temp = f".{name}.{secrets.token_hex(4)}.tmp"
    handle_fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=fd)
    try:
        with os.fdopen(handle_fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        os.unlink(temp, dir_fd=fd)
        raise
    return temp


def write_private(path: Path, data: bytes) -> str:
    """Write atomically (temp file in the same folder, then rename) with mode 0600, replacing what
    is there. The folder is never reached through a link, and a link at `path` is replaced, not
    followed. Returns the sha256 of what was written."""
    with _folder_fd(path.parent) as fd:
        temp = _write_temp(fd, path.name, data)
        try:
            os.replace(temp, path.name, src_dir_fd=fd, dst_dir_fd=fd)
        except BaseException:
            os.unlink(temp, dir_fd=fd)
            raise
    return hashlib.sha256(data).hexdigest()


def write_new(path: Path, data: bytes) -> str:
    """Like write_private, but never replaces anything: FileExistsError when `path` exists (a hard
    link of the finished temporary file is made only if the name is free). Returns the sha256."""
    with _folder_fd(path.parent) as fd:
        temp = _write_temp(fd, path.name, data)
        try:
            os.link(temp, path.name, src_dir_fd=fd, dst_dir_fd=fd, follow_symlinks=False)
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                raise
            # no hard links on this file system: claim the name first, then fill it
            claim = os.open(path.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=fd)
            with os.fdopen(claim, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        finally:
            os.unlink(temp, dir_fd=fd)
    return hashlib.sha256(data).hexdigest()


def refuse_link(folder: Path) -> None:
    """Refuse, before anything is changed, a folder of the incident that is a link."""
    if folder.is_symlink() or (os.path.lexists(folder) and not folder.is_dir()):
        raise WorkspaceError(f"{folder} is a symbolic link or not a folder; incident never writes or deletes "
                             f"through a link. To fix: remove it (rm {folder}) and run the command again")


def remove_files(folder: Path, names: Iterable[str]) -> int:
    """Delete these regular files in `folder`, reached without following links; a name that is a
    link, a folder, or missing is left alone. Returns how many were deleted."""
    if not os.path.lexists(folder):
        return 0
    removed = 0
    with _folder_fd(folder) as fd:
        for name in names:
            if "/" in name or name in ("", ".", ".."):
                continue
            try:
                info = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            if stat.S_ISREG(info.st_mode):
                os.unlink(name, dir_fd=fd)
                removed += 1
    return removed

