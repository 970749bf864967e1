"""Training steps per second of this tree beside a baseline commit, in one run: the
default synthetic run (sets towers, batch 256) and a run on your own folder (generic
towers, the spoken digits). The baseline defaults to the tree before the open-modalities
redesign (issue 22), `74d0271^`, checked out with `git worktree` into a temporary folder.

Each measure is `eqx-multimodal train --steps N --log-every L --no-report` run in a
fresh process of one tree; its speed is the median of the `steps_per_sec` the run logs,
the first log (which holds the compilation) left out. The trees alternate (baseline,
this, baseline, this, ...) so that a drift of the machine hits both; the table gives the
median over `--repeats` runs of each and the ratio this / baseline.

    pip install ".[bench,digits]" && python benchmarks/redesign_speed.py [--digits DIR]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from eqx_multimodal.cli._tables import format_table


ROOT = Path(__file__).resolve().parent.parent


def speed(src: Path, arguments: list[str], steps: int, log_every: int) -> float:
    with tempfile.TemporaryDirectory() as out:
        run = Path(out) / "run"
        command = [sys.executable, "-m", "eqx_multimodal", "train", *arguments]
        command += ["--steps", str(steps), "--log-every", str(log_every), "--no-report"]
        command += ["--out", str(run)]
        env = {**os.environ, "PYTHONPATH": str(src)}
        subprocess.run(command, env=env, check=True, capture_output=True)
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        speeds = [row["steps_per_sec"] for row in rows if "steps_per_sec" in row][1:]
        if not speeds:
            raise SystemExit(f"no timed logs after the first: raise --steps ({steps})")
        return statistics.median(speeds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default="74d0271^", help="git ref of the baseline")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--log-every", type=int, default=25)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--digits", help="a spoken-digits folder (default: built here)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        baseline = Path(scratch) / "baseline"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(baseline), args.baseline],
            check=True,
            capture_output=True,
        )
        try:
            digits = args.digits
            if digits is None:
                digits = str(Path(scratch) / "digits")
                subprocess.run(
                    [sys.executable, "-m", "eqx_multimodal", "digits", "--out", digits, "--quiet"],
                    env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
                    check=True,
                )
            workloads = {"synthetic (sets towers, batch 256)": [], "own folder (digits)": []}
            trees = {"baseline": baseline / "src", "this tree": ROOT / "src"}
            rows = []
            for name, arguments in zip(workloads, ([], ["--data", digits])):
                measured: dict[str, list[float]] = {tree: [] for tree in trees}
                for _ in range(args.repeats):
                    for tree, src in trees.items():
                        measured[tree].append(speed(src, arguments, args.steps, args.log_every))
                base = statistics.median(measured["baseline"])
                this = statistics.median(measured["this tree"])
                rows.append([name, f"{base:.2f}", f"{this:.2f}", f"{this / base:.2f}"])
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(baseline)],
                check=False,
            )
    print(
        f"steps/s, median of {args.repeats} runs of {args.steps} steps each "
        f"(baseline {args.baseline})"
    )
    print(format_table(["run", "baseline", "this tree", "this / baseline"], rows))


if __name__ == "__main__":
    main()
