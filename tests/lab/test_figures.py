"""The survey's pictures, checked as numbers: what each optimizer does on the default scenes, and the
files `plot` and `animate` write."""

import re

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import sgdlab
from sgdlab import lab
from sgdlab.cli import app

BEALE_MIN = np.array([3.0, 0.5])


@pytest.fixture(scope="module")
def beale():
    return lab.race("beale")


@pytest.fixture(scope="module")
def saddle():
    return lab.race("saddle")


def _toward_minimum(race):
    start = race.results["sgd"].trajectory[0]
    return (BEALE_MIN - start) / np.linalg.norm(BEALE_MIN - start)


def _overshoot(race, name):
    """How far the path went past the minimum, along the line from the start to the minimum."""
    return float(((race.results[name].trajectory - BEALE_MIN) @ _toward_minimum(race)).max())


@pytest.mark.parametrize("name", ["adagrad", "adadelta", "rmsprop"])
def test_on_beale_adaptive_methods_head_for_the_minimum_at_once(beale, name):
    first = np.diff(beale.results[name].trajectory[:2], axis=0)[0]
    cosine = first @ _toward_minimum(beale) / np.linalg.norm(first)
    assert cosine > 0.95


def test_on_beale_momentum_and_nag_overshoot_and_nag_corrects_sooner(beale):
    momentum, nag = _overshoot(beale, "momentum"), _overshoot(beale, "nag")
    assert momentum > 0.5 and nag > 0.3
    assert nag < 0.85 * momentum
    for name in ("adagrad", "adadelta", "rmsprop"):
        assert _overshoot(beale, name) < 0.05


def test_on_beale_every_survey_optimizer_stays_finite_and_most_converge(beale):
    assert not any(r.diverged for r in beale.results.values())
    close = [n for n, r in beale.results.items() if np.linalg.norm(r.x - BEALE_MIN) < 0.1]
    assert set(close) >= {"momentum", "nag", "adagrad", "rmsprop", "adam"}


def _escape_step(race, name):
    """First step at which the path is one unit down the negative slope (|y| >= 1)."""
    hits = np.flatnonzero(np.abs(race.results[name].trajectory[:, 1]) >= 1.0)
    return int(hits[0]) if hits.size else None


@pytest.mark.parametrize("name", ["sgd", "momentum", "nag"])
def test_at_the_saddle_sgd_momentum_and_nag_linger(saddle, name):
    path = saddle.results[name].trajectory
    assert np.linalg.norm(path, axis=1).min() < 0.1  # slid down to the saddle point
    assert _escape_step(saddle, name) is None  # and still there after all the steps


@pytest.mark.parametrize("name", ["adagrad", "adadelta", "rmsprop"])
def test_at_the_saddle_adaptive_methods_escape_down_the_negative_slope(saddle, name):
    step = _escape_step(saddle, name)
    assert step is not None and step < 100
    assert np.linalg.norm(saddle.results[name].trajectory, axis=1).min() > 0.5  # never near it


def test_plot_returns_a_figure_with_contour_and_loss_panels(tmp_path):
    fig = lab.plot("beale", ["adam", "sgd"], steps=20, out=tmp_path / "b.png")
    assert len(fig.axes) == 2
    assert Image.open(tmp_path / "b.png").size[0] > 500


def test_plot_of_a_saddle_adds_a_surface_view(tmp_path):
    fig = lab.plot("saddle", ["sgd"], steps=20, out=tmp_path / "s.svg")
    assert [ax.name for ax in fig.axes] == ["rectilinear", "3d", "rectilinear"]
    assert (tmp_path / "s.svg").read_text().lstrip().startswith("<?xml")


def test_animate_writes_a_gif_with_one_frame_per_sampled_step(tmp_path):
    anim = lab.animate("beale", ["adam", "nag"], steps=40, max_frames=21, out=tmp_path / "b.gif")
    gif = Image.open(tmp_path / "b.gif")
    assert gif.n_frames == 21
    first, last = np.asarray(gif.convert("RGB")), None
    gif.seek(20)
    last = np.asarray(gif.convert("RGB"))
    assert (first != last).any()  # the paths moved
    assert anim._fig is not None  # a matplotlib FuncAnimation, for notebooks


def test_gif_keeps_every_optimizers_colour_exactly(tmp_path):
    names = ["sgd", "momentum", "nag", "adam"]  # red, green, orange, blue: once merged by the palette
    lab.animate("beale", names, steps=40, max_frames=5, out=tmp_path / "b.gif")
    gif = Image.open(tmp_path / "b.gif")
    gif.seek(gif.n_frames - 1)
    pixels = {tuple(p) for p in np.asarray(gif.convert("RGB")).reshape(-1, 3)}
    for name in names:
        hexcolor = lab.figures.COLORS[name]
        rgb = tuple(int(hexcolor[i:i + 2], 16) for i in (1, 3, 5))
        assert rgb in pixels, name


def test_animate_to_html_embeds_the_animation(tmp_path):
    lab.animate("saddle", ["sgd"], steps=10, out=tmp_path / "s.html")
    page = (tmp_path / "s.html").read_text()
    assert "data:image/gif;base64," in page and "saddle" in page


def test_diverged_path_is_shown_as_diverged_not_a_crash():
    fig = lab.plot("beale", ["sgd"], steps=50, lr={"sgd": 1.0})
    labels = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert any("diverged" in label for label in labels)


def test_unknown_output_format_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"\.gif, \.mp4 or \.html"):
        lab.animate("beale", ["adam"], steps=5, out=tmp_path / "b.avi")


runner = CliRunner()


def test_cli_plot_writes_the_file(tmp_path):
    result = runner.invoke(app, ["plot", "saddle", "--optimizers", "sgd,adagrad", "--steps", "30",
                                 "--out", str(tmp_path / "s.png")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "s.png").exists()


@pytest.mark.parametrize("args, message", [
    (["plot", "bealee"], "bealee.*beale"),
    (["plot", "beale", "--optimizers", "adamm"], "adamm.*adam"),
    (["plot", "beale", "--start", "9,9"], r"9\.0.*domain"),
    (["plot", "beale", "--lr", "adam:0.1"], "name=value"),
    (["plot", "beale", "--optimizers", "sgd", "--lr", "adam=0.1"], "adam"),
])
def test_cli_bad_input_says_what_is_valid(args, message):
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert re.search(message, " ".join(result.output.split()))


@pytest.mark.skipif(__import__("shutil").which("ffprobe") is None,
                    reason="needs ffmpeg (Debian package ffmpeg; .ci/run installs it)")
def test_animate_writes_an_mp4_through_ffmpeg(tmp_path):
    import subprocess

    lab.animate("saddle", ["sgd", "adagrad"], steps=30, max_frames=31, out=tmp_path / "s.mp4")
    probe = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                            "-show_entries", "stream=nb_read_frames,codec_name", "-of", "csv=p=0",
                            str(tmp_path / "s.mp4")], capture_output=True, text=True, check=True)
    codec, frames = probe.stdout.strip().split(",")
    assert codec == "h264" and int(frames) == 31


def test_mp4_without_ffmpeg_says_so(tmp_path, monkeypatch):
    from sgdlab.lab import figures

    monkeypatch.setattr(figures.shutil, "which", lambda name: None)
    with pytest.raises(ValueError, match="ffmpeg"):
        lab.animate("beale", ["adam"], steps=5, out=tmp_path / "b.mp4")


def test_every_optimizer_has_its_own_colour_and_a_default_learning_rate():
    from sgdlab.lab import figures

    names = sgdlab.optim.available()
    assert set(names) <= set(figures.DEFAULT_LR) and set(names) <= set(figures.COLORS)
    colours = list(figures.COLORS.values())
    assert len(set(colours)) == len(colours)


ELEMENTWISE_MODERN = ["radam", "nadamw", "lion", "schedulefree_sgd", "schedulefree_adamw", "ademamix"]


def test_the_elementwise_modern_optimizers_race_on_beale_from_their_default_rates():
    r = lab.race("beale", ELEMENTWISE_MODERN, steps=300)
    start = lab.get("beale").value(torch.tensor(lab.SCENES["beale"]["start"], dtype=torch.float64))
    for name, res in r.results.items():
        assert not res.diverged and res.fun < 0.1 * float(start), name
