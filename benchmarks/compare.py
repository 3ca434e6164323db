"""How long `sgdlab compare --quick` (the README's first command) takes from an empty store, and what it
finds, with its intervals; then the same on the model of examples/compare_my_model.py.

Runs the whole quick comparison (every built-in problem x sgdlab.optim.QUICK and the baseline, AlgoPerf's
external tuning) into a fresh temporary store and report folder, then the example's problem alone, and
prints the Markdown of docs/benchmarks.md and docs/compare.md: the date, the load average before and
after, the wall time, the trials' own time per problem, the verdict's scores with their 90% intervals
and the speed-ups over the baseline. Usage:

    python benchmarks/compare.py [--jobs N] [--skip-builtin] [--skip-example]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
from datetime import date
from pathlib import Path

from sgdlab.compare.analysis import analyze
from sgdlab.compare.command import compare

HERE = Path(__file__).resolve().parent


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _scores_table(output, problems, top: int) -> list[str]:
    a = analyze(output.records, problems)
    rows = ["| optimizer | AlgoPerf score (steps) [90%] | score (seconds) [90%] | speed-up over the baseline [90%] "
            "| targets reached |", "| --- | ---: | ---: | ---: | ---: |"]
    reached = a.profile.reached()
    ranked = a.ranked_scores("steps")
    shown = ranked[:top] + [(o, s) for o, s in ranked[top:] if o == "baseline"]
    for opt, s in shown:
        sec = a.scores["seconds"][opt]
        up = a.speedup[opt]
        rows.append(f"| {opt} | {s.value:.3f} [{s.interval[0]:.3f}, {s.interval[1]:.3f}] | {sec.value:.3f} "
                    f"[{sec.interval[0]:.3f}, {sec.interval[1]:.3f}] | {up.value:.2f}x [{up.interval[0]:.2f}, "
                    f"{up.interval[1]:.2f}] | {reached[opt]}/{len(a.profile.problems)} |")
    return rows


def _run(problems, jobs: int, tmp: Path, name: str):
    store = tmp / f"{name}.sqlite"
    before = _load()
    start = time.perf_counter()
    output = compare(mode="quick", problems=problems, jobs=jobs, store=store, out=tmp / name, progress=False,
                     animations=name == "builtin")
    wall = time.perf_counter() - start
    return output, wall, before, _load(), store


def _per_problem(store: Path) -> list[str]:
    db = sqlite3.connect(store)
    rows = db.execute("select problem, count(*), sum(wall_time), avg(wall_time), sum(status = 'diverged') "
                      "from trials group by problem order by min(rowid)").fetchall()
    out = ["| problem | trials | trial time, sum (s) | per trial (s) | diverged |", "| --- | ---: | ---: | ---: | ---: |"]
    for problem, n, total, mean, diverged in rows:
        out.append(f"| {problem} | {n} | {total:.0f} | {mean:.2f} | {diverged} |")
    out.append(f"| all | {sum(r[1] for r in rows)} | {sum(r[2] for r in rows):.0f} | "
               f"{sum(r[2] for r in rows) / sum(r[1] for r in rows):.2f} | {sum(r[4] for r in rows)} |")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=os.cpu_count())
    parser.add_argument("--skip-builtin", action="store_true")
    parser.add_argument("--skip-example", action="store_true")
    args = parser.parse_args()
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if not args.skip_builtin:
            output, wall, before, after, store = _run(None, args.jobs, tmp, "builtin")
            lines += [f"`sgdlab compare --quick`, measured {date.today()} on {os.cpu_count()} cores, `jobs={args.jobs}`, "
                      f"from an empty store (load average {before} before, {after} after): "
                      f"**{len(output.records)} trials in {wall:.0f} s** wall time (trials, analysis, report and "
                      "its two animations).", "", *_per_problem(store), "", "The verdict (`Overall`):", "",
                      f"> {dict(output.recommendation)['Overall']}", ""]
            lines += _scores_table(output, output.problems, top=5)
            lines.append("")
        if not args.skip_example:
            problem = [f"{HERE.parent / 'examples' / 'compare_my_model.py'}:make_problem"]
            output, wall, before, after, store = _run(problem, args.jobs, tmp, "example")
            mine = output.recommendation[0]
            lines += [f"The model of `examples/compare_my_model.py` (`sgdlab compare --problem "
                      f"examples/compare_my_model.py`), measured {date.today()}, `jobs={args.jobs}` (load average "
                      f"{before} before, {after} after): **{len(output.records)} trials and "
                      f"{output.ran - len(output.records)} more to calibrate its target, in {wall:.0f} s**.", "",
                      f"> **{mine[0]}.** {mine[1]}", ""]
            lines += _scores_table(output, output.problems, top=5)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
