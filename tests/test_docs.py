"""The README and docs/*.md run, literally, on a fresh demo workspace: the docs cannot drift.

Convention for command blocks in README.md and docs/*.md:

* A ```bash (or bare ```) block is run when one of its lines starts with ``govfabric``; each file's blocks run in
  order, against one fresh copy of the demo workspace (``govfabric demo``) named ``demo-ws`` in the
  current directory — so ``--home demo-ws`` and paths like ``demo-ws/demo_data/…`` work literally —
  which is also the default home. ```bash norun (any word after ``bash``) marks an illustration.
* Every line of a run block (``\\`` continuations joined) is one of: a ``govfabric …`` command, run
  in-process through ``govfabric.cli.main.run`` and expected to exit 0; ``export VAR=value …`` (sets
  the environment, e.g. ``GOVFABRIC_USER``, ``GOVFABRIC_HOME``; ``~`` is a private temporary home);
  a comment. ``> FILE`` at the end of a command writes its output to FILE.
* A trailing ``# not run: <reason>`` skips a line (services, placeholders, your own files);
  ``# fails: <reason>`` expects a non-zero exit (to show an error). Anything else is a test failure,
  naming the file and line, so a new kind of line needs a decision, not silence.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\S*)\s*(.*)$")
EXPORT = re.compile(r"^export\s+(.+)$")
LINE_TIMEOUT_S = 180  # one command of a walkthrough; a hang fails naming its line


@dataclass
class Line:
    number: int  # 1-based line in the file
    text: str  # the command with continuations joined
    mode: str  # "run", "fails", "skip"


def command_lines(path: Path) -> list[Line]:
    """The lines of the runnable ```bash blocks of one file, in order."""
    out: list[Line] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        lang, extra = m.group(1), m.group(2).strip()
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        body = list(enumerate(lines[i + 1:j], start=i + 2))
        if lang in ("bash", "") and not extra and any(re.match(r"govfabric(\s|$)", t.strip()) for _, t in body):
            out.extend(_logical(body))
        i = j + 1
    return out


def _logical(body: list[tuple[int, str]]) -> list[Line]:
    result: list[Line] = []
    buf, start = "", 0
    for number, text in body:
        if not buf:
            start = number
        stripped = text.rstrip()
        if stripped.endswith("\\"):
            buf += stripped[:-1] + " "
            continue
        full = (buf + text).strip()
        buf = ""
        if not full or full.startswith("#"):
            continue
        mode = "run"
        if re.search(r"#\s*not run:", full):
            mode = "skip"
        elif re.search(r"#\s*fails:", full):
            mode = "fails"
        result.append(Line(start, full, mode))
    return result


def _fresh_demo(template: Path, where: Path) -> Path:
    """A private copy of the demo's store (as the `demo_home` fixture makes); data shared read-only."""
    home = where / "demo-ws"
    home.mkdir(parents=True)
    for name in ("config.toml", "secret.key", "store.db", "audit.head"):
        shutil.copy2(template / name, home / name)
    for kept in ("chain", "licences"):  # the grant's chain keys and the licence files go with the store
        if (template / kept).is_dir():
            shutil.copytree(template / kept, home / kept)
    for shared in ("duckdb_extensions", "demo_data"):
        (home / shared).symlink_to(template / shared, target_is_directory=True)
    return home


def _expand(token: str, env: dict[str, str]) -> str:
    if token.startswith("~"):
        token = env["HOME"] + token[1:]
    return re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), m.group(0)), token)


def _run_line(line: Line, env: dict[str, str]) -> tuple[int, str]:
    from govfabric.cli.main import run

    tokens = [_expand(t, env) for t in shlex.split(line.text, comments=True)]
    m = EXPORT.match(line.text)
    if m:
        for assignment in tokens[1:]:
            key, _, value = assignment.partition("=")
            env[key] = value
        return 0, ""
    if not tokens or tokens[0] != "govfabric":
        return -1, ("neither a govfabric command nor an export; mark it '# not run: <reason>' "
                    "or fence the block as ```bash norun")
    argv, target = tokens[1:], None
    if len(argv) >= 2 and argv[-2] == ">":
        argv, target = argv[:-2], argv[-1]
    saved = {k: os.environ.get(k) for k in ("GOVFABRIC_HOME", "GOVFABRIC_USER", "HOME")}
    os.environ.update({k: env[k] for k in saved if k in env})
    for k in saved:
        if k not in env:
            os.environ.pop(k, None)
    # a text stream over bytes, as a terminal's stdout is: `--format csv|json` writes to `sys.stdout.buffer`
    raw = io.BytesIO()
    out, err = io.TextIOWrapper(raw, encoding="utf-8", newline=""), io.StringIO()

    def _hung(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {LINE_TIMEOUT_S} s: a long-lived command needs '# not run: <reason>'")

    previous = signal.signal(signal.SIGALRM, _hung)
    signal.alarm(LINE_TIMEOUT_S)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = run(argv)
    except TimeoutError as e:
        code, err = -2, io.StringIO(str(e))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    out.flush()
    text = raw.getvalue().decode("utf-8", errors="replace")
    if target:
        Path(target).write_bytes(raw.getvalue())
    return code, text[-3000:] + err.getvalue()[-3000:]


def test_convention_is_parsed(tmp_path: Path) -> None:
    """The parser keeps runnable lines, joins continuations, reads the markers and skips norun blocks."""
    doc = tmp_path / "x.md"
    doc.write_text("```bash\ngovfabric a \\\n  b  # c\nexport GOVFABRIC_USER=x\ngovfabric d  # not run: no\n"
                   "govfabric e  # fails: shows an error\n```\n```bash norun\ngovfabric f\n```\n"
                   "```bash\npython3 -m venv .venv\n```\n", encoding="utf-8")
    got = [(x.number, x.text, x.mode) for x in command_lines(doc)]
    assert got == [(2, "govfabric a    b  # c", "run"), (4, "export GOVFABRIC_USER=x", "run"),
                   (5, "govfabric d  # not run: no", "skip"), (6, "govfabric e  # fails: shows an error", "fails")]


@pytest.fixture(scope="module")
def taught_demo(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo as `govfabric demo` leaves it: the tests' base demo plus its lessons (``teach``)."""
    from govfabric.demo.teach import teach
    from govfabric.fabric import connect

    home = _fresh_demo(demo_template, tmp_path_factory.mktemp("taught"))
    with connect(home) as admin:
        teach(admin)
    return home


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_doc_runs_on_the_demo(doc: Path, taught_demo: Path, tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    lines = command_lines(doc)
    if not lines:
        pytest.skip(f"{doc.name} has no runnable command block")
    home = _fresh_demo(taught_demo, tmp_path)
    user_home = tmp_path / "user-home"
    user_home.mkdir()
    monkeypatch.chdir(tmp_path)
    env = {"GOVFABRIC_HOME": str(home), "HOME": str(user_home)}
    rel, problems = doc.relative_to(ROOT), []
    for line in lines:  # run on after a failure: one run lists every stale line of the file
        if line.mode == "skip":
            continue
        code, output = _run_line(line, env)
        if (code == 0) == (line.mode == "fails"):
            want = "a non-zero exit" if line.mode == "fails" else "exit 0"
            problems.append(f"{rel}:{line.number}: {want} expected, got {code}:\n  {line.text}\n{output.strip()}")
    assert not problems, "\n\n".join(problems)
