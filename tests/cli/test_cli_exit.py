"""The console entry point ends without the interpreter's teardown (≈ 1 s of CPU after `govfabric demo`),
yet does what exit must: joins non-daemon threads, runs atexit handlers, flushes output, keeps the code.
Checked by what runs, in a fresh interpreter (never by timing)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from govfabric.cli import main

PROBE = """
import atexit, os, sys, threading, time
from concurrent.futures import ThreadPoolExecutor
from govfabric.cli import main

POOL = ThreadPoolExecutor(2)  # idle workers left running, as a command's pool may be: exit must end them
POOL.submit(lambda: None).result()

class Teardown:
    def __del__(self):  # runs only when the interpreter finalizes its modules
        os.write(1, b"teardown\\n")

main._probe = Teardown()
atexit.register(lambda: os.write(1, b"atexit\\n"))
threading.Thread(target=lambda: (time.sleep(0.2), os.write(1, b"thread\\n"))).start()
sys.stdout.write("buffered ")  # no newline, not flushed: exit must flush it
sys.argv = ["govfabric", *sys.argv[1:]]
main.entry()
"""


def probe(*args: str) -> subprocess.CompletedProcess[str]:
    root = Path(main.__file__).parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env,
                          timeout=60, check=False)


def test_entry_skips_teardown_but_not_what_exit_does() -> None:
    proc = probe("--version")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split()
    assert "govfabric" in lines and "buffered" in lines, proc.stdout
    assert "thread" in lines and "atexit" in lines, proc.stdout  # joined, then the handlers
    assert lines.index("thread") < lines.index("atexit")
    assert "teardown" not in lines, proc.stdout


def test_an_idle_thread_pool_does_not_hold_the_exit() -> None:
    """Joining non-daemon threads by hand waited forever on a pool's idle workers (probe's timeout):
    threading's own shutdown first tells pools to stop."""
    proc = probe("--version")
    assert proc.returncode == 0 and "atexit" in proc.stdout.split(), (proc.returncode, proc.stderr)


def test_entry_keeps_the_exit_code() -> None:
    proc = probe("no-such-command")
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "teardown" not in proc.stdout
