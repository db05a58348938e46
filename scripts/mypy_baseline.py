"""mypy with a baseline that may only shrink.

Runs ``mypy`` (configured in pyproject.toml) and compares its errors, without line numbers, with
``mypy-baseline.txt``: any error not in the baseline fails the run; baseline entries mypy no longer
reports fail it too, until removed (``--prune`` removes them; nothing ever adds to the baseline
except ``--init``, which is for introducing mypy, not for hiding new errors).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "mypy-baseline.txt"
ERROR = re.compile(r"^(?P<path>[^:\s]+\.py):\d+(?::\d+)?: error: (?P<msg>.*)$")


def normalise(output: str) -> Counter[str]:
    """``path:line: error: message  [code]`` → ``path: message  [code]``, counted."""
    found: Counter[str] = Counter()
    for line in output.splitlines():
        m = ERROR.match(line.strip())
        if m:
            found[f"{m['path']}: {m['msg']}"] += 1
    return found


def read_baseline() -> Counter[str]:
    if not BASELINE.exists():
        return Counter()
    return Counter(line for line in BASELINE.read_text(encoding="utf-8").splitlines()
                   if line and not line.startswith("#"))


def write_baseline(errors: Counter[str]) -> None:
    lines = sorted(errors.elements())
    BASELINE.write_text("# mypy errors present when mypy was introduced; this list may only shrink\n"
                        "# (scripts/mypy_baseline.py). Fix one, then remove its line (--prune).\n"
                        + "".join(f"{line}\n" for line in lines), encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prune", action="store_true", help="remove baseline entries mypy no longer reports")
    parser.add_argument("--init", action="store_true", help="write the baseline from the current errors")
    args = parser.parse_args()
    run = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    if run.returncode not in (0, 1) or (run.returncode == 1 and "error:" not in run.stdout):
        sys.stderr.write(run.stdout + run.stderr)
        print("mypy did not run", file=sys.stderr)
        return 2
    current = normalise(run.stdout)
    if args.init:
        write_baseline(current)
        print(f"baseline written: {sum(current.values())} error(s)")
        return 0
    baseline = read_baseline()
    new, fixed = current - baseline, baseline - current
    if args.prune and fixed:
        write_baseline(baseline - fixed)
        print(f"removed {sum(fixed.values())} fixed error(s) from {BASELINE.name}")
        fixed = Counter()
    if new:
        print(f"mypy: {sum(new.values())} new error(s) (not in {BASELINE.name}); fix them:", file=sys.stderr)
        for line in run.stdout.splitlines():
            m = ERROR.match(line.strip())
            if m and f"{m['path']}: {m['msg']}" in new:
                print(f"  {line}", file=sys.stderr)
    if fixed:
        print(f"mypy: {sum(fixed.values())} baseline error(s) are fixed; remove them from {BASELINE.name} "
              "(python scripts/mypy_baseline.py --prune):", file=sys.stderr)
        for line in sorted(fixed.elements()):
            print(f"  {line}", file=sys.stderr)
    if new or fixed:
        return 1
    print(f"mypy: no new errors ({sum(baseline.values())} in the baseline, which may only shrink)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
