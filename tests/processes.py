"""Real `incident` processes, started fast: each is forked from a server process that has already
imported incident and its libraries (multiprocessing's forkserver), so a test that kills fifty
runs pays for fifty forks, not fifty interpreter starts. Each run is its own process with its own
database connections and sockets; a SIGKILL ends it as it would end `incident` started by hand.
The test that the installed command starts as a real program is in test_cli.py."""

from __future__ import annotations

import functools
import gc
import multiprocessing
import os
import signal
import sys
import tempfile
from pathlib import Path

from incident.amazon.spapi import tls_context

_PRELOAD = ["incident.cli", "incident.notices.send", "incident.notices.messaging", "incident.notices.smtp",
            "incident.amazon.feeds", "incident.amazon.listings", "incident.amazon.spapi", "sp_api.api", "sp_api.auth",
            "httpx", "httpcore", "typer._adapters", "typer._click.decorators", "pydantic.plugin._loader",
            "importlib.metadata", "smtplib", "email.policy", "email.generator", "email.contentmanager", "csv",
            "encodings.idna",  # what a run imports on first use
            "processes"]  # this module: in the server, it also prepares what every run needs (below)
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(_PRELOAD)
_SERVER = "INCIDENT_TESTS_FORK_SERVER"  # set while the server starts (the tests' workers skip the below)


@functools.cache
def _command():
    """incident's click command, as `incident` builds it at each start (built once, in the server,
    with each option's converter built too: typer builds them on first use, 14 ms a run)."""
    import typer.main

    from incident.cli import app

    command = typer.main.get_command(app)
    groups = [command]
    while groups:
        group = groups.pop()
        for param in group.params:
            getattr(param, "get_runtime_param", lambda: None)()
        groups.extend(getattr(group, "commands", {}).values())
    return command


if os.environ.get(_SERVER):  # the server, before it forks: as a run that had already started once
    from later import travel

    travel()
    tls_context()  # the certificate authorities, loaded
    _command()
    gc.freeze()  # a forked run's garbage collections skip what the server loaded: no copying its pages


def _start_server() -> None:
    """Python 3.11's fork server imports its preload list before it takes the tests' sys.path, so
    it could not import this module: each run imported it (and prepared the above) after the fork.
    The server is started with this folder on PYTHONPATH, and told it is the server, for its start only."""
    from multiprocessing import forkserver

    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).parent), saved]))
    os.environ[_SERVER] = "1"
    try:
        forkserver.ensure_running()
    finally:
        os.environ.pop(_SERVER, None)
        if saved is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = saved


def _main(args: list[str], env: dict[str, str], out: str, err: str, code: str | None) -> None:
    """In the forked process: this run's environment and output files, then incident's command
    with these arguments (or `code`, a test's stand-in that ends by calling incident's main)."""
    os.environ.clear()
    os.environ.update(env)
    for fd, path in ((1, out), (2, err)):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(target, fd)
        os.close(target)
    sys.argv = ["incident", *args]
    if code is not None:
        exec(compile(code, "<test stand-in>", "exec"), {"__name__": "__main__"})
        return
    _command().main(args=list(args), prog_name="incident")


class Run:
    """One run of `incident ARGS`: poll(), wait(), kill() (SIGKILL), and its output once ended."""

    def __init__(self, *args: str, env: dict[str, str] | None = None, code: str | None = None):
        _start_server()
        self._folder = tempfile.TemporaryDirectory(prefix="incident-run-")
        self._out, self._err = (str(Path(self._folder.name) / name) for name in ("out", "err"))
        self._process = _CONTEXT.Process(target=_main, args=([str(a) for a in args], dict(env or os.environ),
                                                             self._out, self._err, code), daemon=True)
        self._process.start()
        self.pid = self._process.pid

    def poll(self) -> int | None:
        return self._process.exitcode

    def wait(self, timeout: float | None = 120) -> int:
        self._process.join(timeout)
        if self._process.exitcode is None:
            self.kill()
            raise TimeoutError(f"incident run {self.pid} still running after {timeout} s")
        return self._process.exitcode

    def kill(self) -> None:
        if self._process.exitcode is None:
            os.kill(self.pid, signal.SIGKILL)
        self._process.join()

    @property
    def stdout(self) -> str:
        return Path(self._out).read_text(errors="replace") if Path(self._out).exists() else ""

    @property
    def stderr(self) -> str:
        return Path(self._err).read_text(errors="replace") if Path(self._err).exists() else ""

    def communicate(self, timeout: float | None = 120) -> tuple[int, str, str]:
        code = self.wait(timeout)
        return code, self.stdout, self.stderr
