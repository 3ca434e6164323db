"""How long `sgdlab compare --quick` (the README's first command) takes, from an empty store.

Runs the whole quick comparison (every problem x every optimizer) into a fresh temporary store and
report folder, and prints the wall time of the run, the trials' own time per problem, and the
share of diverged trials: the figures of docs/benchmarks.md. Usage:

    python benchmarks/compare.py [--jobs N]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
from pathlib import Path

from sgdlab.compare.command import compare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=os.cpu_count())
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "store.sqlite"
        start = time.perf_counter()
        output = compare(mode="quick", jobs=args.jobs, store=store, out=Path(tmp) / "report", progress=False)
        wall = time.perf_counter() - start
        db = sqlite3.connect(store)
        rows = db.execute("select problem, count(*), sum(wall_time), avg(wall_time), "
                          "sum(status = 'diverged') from trials group by problem order by min(rowid)").fetchall()
    print(f"sgdlab compare --quick, jobs={args.jobs}, {os.cpu_count()} cores: {len(output.records)} trials, "
          f"{wall:.0f} s wall (trials, report and animations)\n")
    print("| problem | trials | trial time, sum (s) | per trial (s) | diverged |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for problem, n, total, mean, diverged in rows:
        print(f"| {problem} | {n} | {total:.0f} | {mean:.2f} | {diverged} |")
    print(f"| all | {sum(r[1] for r in rows)} | {sum(r[2] for r in rows):.0f} | "
          f"{sum(r[2] for r in rows) / sum(r[1] for r in rows):.2f} | {sum(r[4] for r in rows)} |")


if __name__ == "__main__":
    main()
