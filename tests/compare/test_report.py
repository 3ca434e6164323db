"""The report: files written, tables filled, images that decode, robust to an optimizer that always
diverged; and rendered in headless Chromium, every image loads."""

from __future__ import annotations

import base64
import io
import math
import re
import shutil
import subprocess
import zlib

import numpy as np
import pytest
from PIL import Image

from sgdlab import optim
from sgdlab.problems.base import Budget, Problem
from sgdlab.compare.report import write_report

UPDATES_PER_EPOCH = 40
QUICK_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)


def _problem(name, metric, target, tags=(), epochs=6):
    hib = metric == "accuracy"
    return Problem(name, f"The {name} problem", f"A synthetic {metric} problem named {name}.", metric,
                   hib, target, Budget(epochs, 32), Budget(epochs, 32), builder=lambda seed: None,
                   tags=tuple(tags))


PROBLEMS = [
    _problem("quadratic", "loss", 0.25, epochs=8),
    _problem("sparse_logreg", "accuracy", 0.85, tags=("sparse",)),
    _problem("digits_mlp", "accuracy", 0.9, tags=("batch_norm",)),
    _problem("char_lm", "loss", 2.2, epochs=5),
]


def synthetic_records(problems=PROBLEMS, optimizers=None, grid=QUICK_GRID, seeds=2, always_diverge=(),
                      errors=(), rng_seed=0):
    """Plausible trial records, made up: every optimizer has a best learning rate (log10 ``centre``);
    the result falls off away from it, and above ``centre + 1.3`` decades the run diverges. The pairs
    in ``always_diverge`` diverge at every learning rate; the (problem, optimizer, lr) in ``errors``
    raise an error."""
    rng = np.random.default_rng(rng_seed)
    optimizers = list(optimizers or optim.available())
    centre = {o: (-0.8 if o in ("sgd", "momentum", "nag", "qhm", "aggmo") else
                  0.3 if o == "adadelta" else -2.3) for o in optimizers}
    skill = {(p.name, o): rng.uniform(0.6, 1.0) for p in problems for o in optimizers}
    records = []

    def trial(p, o, lr, seed, phase):
        q = skill[(p.name, o)] * math.exp(-((math.log10(lr) - centre[o]) ** 2) / (2 * 0.9**2))
        noise = np.random.default_rng(zlib.crc32(f"{p.name}/{o}/{lr}/{seed}/{rng_seed}".encode()))
        rate = 0.15 + 1.2 * q
        if p.metric == "loss":
            start, floor = (1.0, 0.05) if p.name == "quadratic" else (4.2, 1.6)
            final = floor + (start - floor) * (1 - 0.97 * q) * (1 + 0.03 * noise.standard_normal())
            curve = [final + (start - final) * math.exp(-rate * e) for e in range(1, p.quick.epochs + 1)]
        else:
            chance, best = 0.1, 0.97
            final = chance + (best - chance) * q + 0.005 * noise.standard_normal()
            curve = [final - (final - chance) * math.exp(-rate * e) for e in range(1, p.quick.epochs + 1)]
        status, error = "ok", None
        if (p.name, o) in always_diverge or math.log10(lr) > centre[o] + 1.3:
            status, curve = "diverged", curve[: int(noise.integers(0, 3))]
        if (p.name, o, lr) in errors:
            status, error, curve = "error", "RuntimeError: CUDA out of memory (made up)", curve[:1]
        history = [{"epoch": e, "updates": e * UPDATES_PER_EPOCH, "train_loss": v, "val_loss": v,
                    "val_metric": v, "time": 0.5 * e} for e, v in enumerate(curve, start=1)]
        done = status == "ok"
        return {"key": f"{p.name}/{o}/{lr:g}/{seed}", "problem": p.name, "optimizer": o, "lr": lr,
                "seed": seed, "epochs": p.quick.epochs, "batch_size": 32, "convention": "paper",
                "phase": phase, "status": status, "error": error, "history": history,
                "final_val_metric": curve[-1] if done else None,
                "final_test_metric": curve[-1] + 0.002 * noise.standard_normal() if done else None,
                "final_test_loss": 0.5 if done else None, "wall_time": 0.5 * len(curve),
                "sgdlab_version": "0.1.0", "torch_version": "2.13.0", "created": "2026-11-30T00:00:00"}

    from sgdlab.compare.protocol import select_best

    for p in problems:
        for o in optimizers:
            tune = [trial(p, o, lr, 0, "tune") for lr in grid]
            records += tune
            best = select_best(tune, p.higher_is_better)
            records += [trial(p, o, best["lr"], s, "rerun") for s in range(1, seeds)]
    return records


CONFIG = {"mode": "quick", "grid": list(QUICK_GRID), "seeds": 2, "date": "2026-11-30",
          "sgdlab_version": "0.1.0", "torch_version": "2.13.0", "machine": "test machine"}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    records = synthetic_records(always_diverge={("quadratic", "aggmo")},
                                errors={("char_lm", "adam", 1e-4)})
    html, md = write_report(records, PROBLEMS, out, config=CONFIG, animations=False)
    return out, html, md, records


def _rows(html: str, table_id: str) -> list[str]:
    table = re.search(rf'<table[^>]*id="{table_id}".*?</table>', html, re.S)
    assert table is not None, f"no table {table_id}"
    return re.findall(r"<tr[^>]*>\s*<td.*?</tr>", table.group(0), re.S)


def test_report_writes_html_markdown_and_the_figures_beside_them(report):
    out, html, md, _ = report
    assert html == out / "report.html" and html.stat().st_size > 0
    assert md == out / "summary.md" and md.stat().st_size > 0
    pngs = sorted(f.name for f in out.glob("*.png"))
    assert pngs == sorted([f"problem_{p.name}.png" for p in PROBLEMS] + ["performance_profile.png"])


def test_every_problem_table_has_a_row_per_optimizer(report):
    _, html, _, _ = report
    text = html.read_text()
    for p in PROBLEMS:
        rows = _rows(text, f"ranking-{p.name}")
        assert len(rows) == len(optim.available())
        names = [re.search(r'<td class="name">(.*?)</td>', r).group(1) for r in rows]
        assert sorted(names) == sorted(optim.available())


def test_an_optimizer_that_always_diverged_ranks_last_with_dashes(report):
    _, html, _, _ = report
    rows = _rows(html.read_text(), "ranking-quadratic")
    last = rows[-1]
    assert '<td class="name">aggmo</td>' in last and 'class="failed"' in last
    cells = re.findall(r"<td[^>]*>(.*?)</td>", last)
    assert cells[3] == "—" and cells[5] == "never" and cells[6] == "never"


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


def test_failed_trials_list_names_the_error(report):
    _, html, _, records = report
    text = html.read_text()
    rows = _rows(text, "errors")
    assert len(rows) == 1 and "CUDA out of memory (made up)" in rows[0] and "char_lm" in rows[0]
    failed = [r for r in records if r["status"] != "ok"]
    assert len(_rows(text, "failed-trials")) == len(failed)


def test_summary_markdown_has_the_ranking_tables_and_links_the_figures(report):
    out, _, md, _ = report
    text = md.read_text()
    for p in PROBLEMS:
        section = text.split(f"(`{p.name}`)")[1].split("\n## ")[0]
        rows = [line for line in section.splitlines() if re.match(r"\| \d+ \|", line)]
        assert len(rows) == len(optim.available())
        assert all(line.count("|") == 9 for line in rows)
        assert f"](problem_{p.name}.png)" in section
    assert "## Which optimizer should I use?" in text and "](performance_profile.png)" in text
    for link in re.findall(r"\]\(([^)]+\.png)\)", text):
        assert (out / link).is_file()


def test_report_shows_the_config(report):
    _, html, md, _ = report
    rows = _rows(html.read_text(), "config")
    assert any("machine" in r and "test machine" in r for r in rows)
    assert any("grid" in r and "0.0001, 0.001, 0.01, 0.1, 1" in r for r in rows)
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
    problems = PROBLEMS[:1]
    records = synthetic_records(problems, optimizers=["sgd", "adam"],
                                always_diverge={("quadratic", "sgd"), ("quadratic", "adam")})
    html, md = write_report(records, problems, tmp_path, animations=False)
    rows = _rows(html.read_text(), "ranking-quadratic")
    assert len(rows) == 2 and all('class="failed"' in r for r in rows)
    assert "No optimizer reached the validation target" in md.read_text()


def test_write_report_refuses_a_file_as_out_dir(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("x")
    with pytest.raises(ValueError, match="out_dir"):
        write_report(synthetic_records(PROBLEMS[:1], optimizers=["sgd"]), PROBLEMS[:1], target,
                     animations=False)


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
           f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000", "--dump-dom",
           html.as_uri()]
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    loaded = re.search(r'data-images-loaded="(\d+)/(\d+)"', dom)
    assert loaded is not None, "the page's load script did not run"
    assert loaded.group(1) == loaded.group(2) == str(len(PROBLEMS) + 1)
    for p in PROBLEMS:
        assert len(_rows(dom, f"ranking-{p.name}")) == len(optim.available())
    assert len(_rows(dom, "scores")) == len(optim.available())
