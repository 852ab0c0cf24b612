"""Debian packages a test needs (a browser, a font): installed in the test set-up when missing and
the machine allows it (root, apt-get), as CI starts from a bare machine; else the test is skipped
with the reason."""

from __future__ import annotations

import os
import shutil
import subprocess

_updated: list[bool] = []


def ensure(package: str, present) -> str | None:
    """None when `present()` holds (after installing `package` if needed), else why it cannot."""
    if present():
        return None
    if shutil.which("apt-get") is None or not hasattr(os, "geteuid") or os.geteuid() != 0:
        return f"{package} is not installed and cannot be here (needs root and apt-get): apt-get install {package}"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if not _updated:
        update = subprocess.run(["apt-get", "update"], capture_output=True, text=True, env=env, timeout=900)
        if update.returncode != 0:
            return f"apt-get update failed, so {package} cannot be installed: {update.stderr.strip()[-300:]}"
        _updated.append(True)
    installed = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", package], capture_output=True,
                               text=True, env=env, timeout=1800)
    if installed.returncode != 0 or not present():
        return f"apt-get install {package} failed: {installed.stderr.strip()[-300:]}"
    return None
