"""Files the incident writes: atomically (a temporary file in the same folder, renamed into
place), private to the user (0600), and CSV text with one header row."""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def csv_text(header: list[str], rows: Iterable[Iterable[Any]]) -> str:
    """Comma-separated, one header row, LF line ends."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def write_private(path: Path, data: bytes) -> str:
    """Write atomically (temp file in the same folder, then rename) with mode 0600. Returns the
    sha256 of what was written."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return hashlib.sha256(data).hexdigest()
