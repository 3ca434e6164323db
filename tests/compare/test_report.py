"""The report: files written, tables filled with intervals and the best trials' hyper-parameters, your
problems first, images that decode, robust to an optimizer that always diverged, tracebacks of failed
trials; and rendered in headless Chromium, every image loads."""

from __future__ import annotations

import base64
import dataclasses
import io
import math
import re
import shutil
import subprocess
import zlib

import numpy as np
import pytest
from PIL import Image

from sgdlab import optim, problems as registry
from sgdlab.compare.protocol import optimizer_defaults
from sgdlab.compare.report import write_report
from sgdlab.compare.search import search_space
from sgdlab.problems.base import Budget, Problem

UPDATES_PER_EPOCH = 40
OPTIMIZERS = [*optim.available(), "baseline"]

MINE = Problem("mine", "My regression", "A made-up user problem.", "loss", False, 0.25, Budget(8, 32), Budget(8, 32),
               builder=lambda seed: None, target_calibrated=True)
PROBLEMS = [MINE, registry.get("sparse_logreg"), registry.get("digits_mlp"), registry.get("quadratic_deep")]


def synthetic_records(problems=PROBLEMS, optimizers=None, studies=3, trials=3, always_diverge=(), errors=(),
                      rng_seed=0):
    """Plausible external-tuning records, made up: every optimizer has a best learning rate (log10
    ``centre``) and the result falls off away from it; above ``centre + 1.3`` decades the run diverges.
    Each study draws its trials from the optimizer's search space. The pairs in ``always_diverge``
    diverge every time; the (problem, optimizer, study) in ``errors`` raise an error."""
    rng = np.random.default_rng(rng_seed)
    optimizers = list(optimizers or OPTIMIZERS)
    centre = {o: (-0.8 if o in ("sgd", "momentum", "nag", "qhm", "aggmo") else 0.3 if o == "adadelta" else -2.3)
              for o in optimizers}
    skill = {(p.name, o): rng.uniform(0.6, 1.0) for p in problems for o in optimizers}
    records = []
    for p in problems:
        epochs = p.quick.epochs
        for o in optimizers:
            space = search_space(o, optimizer_defaults(o, "paper"))
            for s in range(studies):
                for k, hp in enumerate(space.points(trials, s)):
                    lr = hp["lr"]
                    q = skill[(p.name, o)] * math.exp(-((math.log10(lr) - centre[o]) ** 2) / (2 * 0.9**2))
                    noise = np.random.default_rng(zlib.crc32(f"{p.name}/{o}/{lr}/{s}/{rng_seed}".encode()))
                    rate = 0.15 + 1.2 * q
                    if p.metric == "loss":
                        start, floor = 3 * p.target, 0.8 * p.target
                        final = floor + (start - floor) * (1 - 0.97 * q) * (1 + 0.03 * noise.standard_normal())
                        curve = [final + (start - final) * math.exp(-rate * e) for e in range(1, epochs + 1)]
                    else:
                        chance, best = 0.1, min(0.995, p.target + 0.01)
                        final = chance + (best - chance) * q + 0.005 * noise.standard_normal()
                        curve = [final - (final - chance) * math.exp(-rate * e) for e in range(1, epochs + 1)]
                    status, error = "ok", None
                    if (p.name, o) in always_diverge or math.log10(lr) > centre[o] + 1.3:
                        status, curve = "diverged", curve[: int(noise.integers(0, 3))]
                    if (p.name, o, s) in errors and k == 0:
                        status, curve = "error", curve[:1]
                        error = "Traceback (most recent call last):\n  File \"x.py\", line 1\nRuntimeError: out of memory (made up)"
                    history = [{"epoch": e, "updates": e * UPDATES_PER_EPOCH, "train_loss": v, "val_loss": v,
                                "val_metric": v, "time": 0.05 * e} for e, v in enumerate(curve, start=1)]
                    done = status == "ok"
                    records.append({
                        "key": f"{p.name}/{o}/{s}/{k}", "problem": p.name, "problem_key": "f", "optimizer": o,
                        "hparams": hp, "lr": lr, "seed": s, "epochs": epochs, "batch_size": 32, "convention": "paper",
                        "tuning": "external", "phase": "tune", "study": s, "trial": k, "status": status,
                        "error": error, "history": history, "final_val_metric": curve[-1] if done else None,
                        "final_test_metric": curve[-1] + 0.002 * noise.standard_normal() if done else None,
                        "final_test_loss": 0.5 if done else None, "budget_steps": epochs * UPDATES_PER_EPOCH,
                        "wall_time": 0.5, "train_seconds": 0.05 * len(curve), "sgdlab_version": "0.3.0",
                        "torch_version": "2.13.0", "created": "2026-12-02T00:00:00"})
    return records


CONFIG = {"mode": "quick", "tuning": "external", "trials per optimizer x problem": "3 studies x 3 trials",
          "date": "2026-12-02", "sgdlab": "0.3.0", "torch": "2.13.0", "machine": "test machine",
          # as long as the quick run's list (its 19 optimizers and the baseline)
          "optimizers": ", ".join(["schedulefree_adamw"] * 20)}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    records = synthetic_records(always_diverge={("quadratic_deep", "aggmo")}, errors={("digits_mlp", "adam", 1)})
    calibration = [dict(r, optimizer=o, phase="calibrate") for o in ("sgd", "momentum", "adam", "adagrad")
                   for r in records[:1]]
    html, md = write_report(records, PROBLEMS, out, config=CONFIG, animations=False, calibration=calibration)
    return out, html, md, records


def _rows(html: str, table_id: str) -> list[str]:
    table = re.search(rf'<table[^>]*id="{table_id}".*?</table>', html, re.S)
    assert table is not None, f"no table {table_id}"
    return re.findall(r"<tr[^>]*>\s*<td.*?</tr>", table.group(0), re.S)


def _cells(row: str) -> list[str]:
    return [re.sub(r"<[^>]+>", " ", c).split() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


def test_report_writes_html_markdown_and_the_figures_beside_them(report):
    out, html, md, _ = report
    assert html == out / "report.html" and html.stat().st_size > 0
    assert md == out / "summary.md" and md.stat().st_size > 0
    pngs = sorted(f.name for f in out.glob("*.png"))
    assert pngs == sorted([f"problem_{p.name}.png" for p in PROBLEMS] + ["performance_profile.png"])


def test_your_problems_come_first_in_the_page_and_in_the_answer(report):
    _, html, _, _ = report
    text = html.read_text()
    assert text.index('id="problem-mine"') < text.index('id="yours"') + 400 < text.index('id="builtin"')
    answer = text[text.index('id="answer"'):text.index('id="yours"')]
    assert answer.index("Your problems") < answer.index("Overall")
    assert "(calibrated by sgdlab compare" in text


def test_every_problem_table_has_a_row_per_optimizer_with_intervals_and_hyper_parameters(report):
    _, html, _, _ = report
    text = html.read_text()
    for p in PROBLEMS:
        rows = _rows(text, f"ranking-{p.name}")
        assert sorted(_cells(r)[1][0] for r in rows) == sorted(OPTIMIZERS)
        for row in rows:
            cells = _cells(row)
            if cells[2][0] != "—":
                assert re.fullmatch(r"\[[-\d.e]+, [-\d.e]+\]", " ".join(cells[2][-2:]))
        adam = next(r for r in rows if _cells(r)[1] == ["adam"])
        assert re.search(r"lr [\d.e-]+, betas \([\d.]+, [\d.]+\), eps [\d.e-]+, weight_decay", adam)


def test_an_optimizer_that_always_diverged_ranks_last_with_dashes(report):
    _, html, _, _ = report
    last = _rows(html.read_text(), "ranking-quadratic_deep")[-1]
    cells = _cells(last)
    assert cells[1] == ["aggmo"] and 'class="failed"' in last
    assert cells[2] == ["—", "—"] and cells[3][0] == "never"


def test_the_scores_table_has_both_scores_and_the_speed_up_with_intervals(report):
    _, html, _, _ = report
    rows = _rows(html.read_text(), "scores")
    assert len(rows) == len(OPTIMIZERS)
    baseline = next(_cells(r) for r in rows if _cells(r)[0] == ["baseline"])
    assert baseline[3] == ["1.00×", "[1.00,", "1.00]"]
    scores = [float(_cells(r)[1][0]) for r in rows]
    assert scores == sorted(scores, reverse=True)


def test_the_search_spaces_are_listed(report):
    _, html, _, _ = report
    rows = _rows(html.read_text(), "search-spaces")
    assert len(rows) == len(OPTIMIZERS)
    assert any("lr in [1e-05, 0.1] (log-uniform)" in r and "adam" in r for r in rows)


def test_embedded_images_decode_as_png(report):
    _, html, _, _ = report
    uris = re.findall(r'src="data:image/(png|gif);base64,([^"]+)"', html.read_text())
    assert len(uris) == len(PROBLEMS) + 1
    for kind, data in uris:
        image = Image.open(io.BytesIO(base64.b64decode(data)))
        assert image.format == kind.upper() and image.size[0] > 300


def test_html_makes_no_external_request(report):
    _, html, _, _ = report
    text = html.read_text()
    assert not re.search(r'(src|href)="(https?:)?//', text)
    assert "<link" not in text and "@import" not in text and "url(" not in text


def test_failed_trials_show_the_error_and_its_traceback(report):
    _, html, _, records = report
    text = html.read_text()
    rows = _rows(text, "errors")
    assert len(rows) == 1 and "RuntimeError: out of memory (made up)" in rows[0] and "digits_mlp" in rows[0]
    assert "Traceback (most recent call last):" in rows[0]
    failed = [r for r in records if r["status"] != "ok"]
    assert len(_rows(text, "failed-trials")) == len(failed)


def test_summary_markdown_has_the_ranking_tables_and_links_the_figures(report):
    out, _, md, _ = report
    text = md.read_text()
    for p in PROBLEMS:
        section = text.split(f"(`{p.name}`)")[1].split("\n## ")[0]
        rows = [line for line in section.splitlines() if re.match(r"\| \d+ \|", line)]
        assert len(rows) == len(OPTIMIZERS)
        assert all(line.count("|") == 11 for line in rows)
        assert f"](problem_{p.name}.png)" in section
    assert "## Which optimizer should I use?" in text and "](performance_profile.png)" in text
    for link in re.findall(r"\]\(([^)]+\.png)\)", text):
        assert (out / link).is_file()


def test_report_shows_the_config(report):
    _, html, md, _ = report
    rows = _rows(html.read_text(), "config")
    assert any("machine" in r and "test machine" in r for r in rows)
    assert any("3 studies x 3 trials" in r for r in rows)
    assert "| mode | quick |" in md.read_text()


def test_report_with_the_animations_embeds_two_small_gifs(tmp_path):
    problems = PROBLEMS[:1]
    records = synthetic_records(problems, optimizers=["sgd", "adam"])
    html, _ = write_report(records, problems, tmp_path, animations=True)
    gifs = re.findall(r'src="data:image/gif;base64,([^"]+)"', html.read_text())
    assert len(gifs) == 2
    for data in gifs:
        raw = base64.b64decode(data)
        assert len(raw) < 1_500_000
        image = Image.open(io.BytesIO(raw))
        assert image.format == "GIF" and image.n_frames > 10
    assert (tmp_path / "beale.gif").is_file() and (tmp_path / "saddle.gif").is_file()


def test_report_of_a_run_where_every_trial_failed_is_still_written(tmp_path):
    problems = [dataclasses.replace(MINE, target_calibrated=False)]
    records = synthetic_records(problems, optimizers=["sgd", "adam"],
                                always_diverge={("mine", "sgd"), ("mine", "adam")})
    html, md = write_report(records, problems, tmp_path, animations=False)
    rows = _rows(html.read_text(), "ranking-mine")
    assert len(rows) == 2 and all('class="failed"' in r for r in rows)
    assert "No optimizer reached the validation target" in md.read_text()


def test_write_report_refuses_a_file_as_out_dir(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("x")
    with pytest.raises(ValueError, match="out_dir"):
        write_report(synthetic_records(PROBLEMS[:1], optimizers=["sgd"]), PROBLEMS[:1], target, animations=False)


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.mark.skipif(_chromium() is None, reason="no chromium binary on the PATH (CI installs Debian's "
                    "chromium; apt-get install chromium)")
def test_report_renders_in_headless_chromium_with_every_image_loaded(report, tmp_path):
    _, html, _, _ = report
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000", "--window-size=1400,1000",
           "--dump-dom", html.as_uri()]
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    loaded = re.search(r'data-images-loaded="(\d+)/(\d+)"', dom)
    assert loaded is not None, "the page's load script did not run"
    assert loaded.group(1) == loaded.group(2) == str(len(PROBLEMS) + 1)
    # nothing wider than a 1400-px window (the overview's list of optimizers wraps)
    assert int(re.search(r'data-page-width="(\d+)"', dom).group(1)) <= 1400
    for p in PROBLEMS:
        assert len(_rows(dom, f"ranking-{p.name}")) == len(OPTIMIZERS)
    assert len(_rows(dom, "scores")) == len(OPTIMIZERS)
