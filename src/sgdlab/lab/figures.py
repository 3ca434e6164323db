"""The survey's figures, reproducible: optimizers racing on a test function's contours.

``plot`` draws the whole paths (PNG/SVG); ``animate`` draws them step by step (GIF, MP4 or a
self-contained HTML page). Both return the matplotlib objects, for notebooks. Panels: the contour plot
(log-spaced levels, the minima marked, each path with a moving head), a 3-D surface for the saddles,
and the loss against the step. A path that diverges (non-finite values, or far off the domain) is
drawn up to its last point, marked with a cross and labelled "diverged".
"""

from __future__ import annotations

import base64
import io
import math
import shutil
import subprocess
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib import animation
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from .. import optim
from .._validation import Instance, Int, Options, Seq, argument_error, check, validate
from .functions import _REGISTRY, TestFunction, get
from .minimize import minimize

#: The optimizers of the survey's animations (its Images 5 and 6).
SURVEY_OPTIMIZERS = ("sgd", "momentum", "nag", "adagrad", "adadelta", "rmsprop", "adam")

#: Per function: start, steps and per-optimizer learning rates chosen so that the pictures show what
#: the survey describes (tests/lab/test_animate.py checks these behaviours numerically).
#: On Beale, Adagrad, Adadelta and RMSprop head for the minimum at once; Momentum and NAG overshoot
#: it, NAG less. At the saddle, SGD, Momentum and NAG slide down to the saddle point and linger there,
#: while Adagrad, Adadelta and RMSprop escape down the negative slope.
SCENES: dict[str, dict[str, Any]] = {
    "beale": {"start": (1.0, -1.0), "steps": 300, "window": ((-0.5, 4.5), (-1.5, 2.0)),
              "lr": {"sgd": 0.01, "momentum": 0.01, "nag": 0.01, "adagrad": 0.5, "adadelta": 1.0,
                     "rmsprop": 0.05, "adam": 0.1}},
    "rosenbrock": {"steps": 1000,
                   "lr": {"sgd": 1e-3, "momentum": 1e-3, "nag": 1e-3, "adagrad": 0.5, "adadelta": 1.0,
                          "rmsprop": 0.01, "adam": 0.05}},
    "saddle": {"start": (1.0, 0.001), "steps": 200,
               "lr": {"sgd": 0.01, "momentum": 0.001, "nag": 0.001, "adagrad": 0.1, "adadelta": 1.0,
                      "rmsprop": 0.01, "adam": 0.01}},
}
#: Learning rates for the optimizers and functions no scene names.
DEFAULT_LR = {"sgd": 0.01, "momentum": 0.005, "nag": 0.005, "adagrad": 0.3, "adadelta": 1.0,
              "rmsprop": 0.02, "adam": 0.05, "adamax": 0.05, "nadam": 0.05, "amsgrad": 0.05,
              "adamw": 0.05, "qhm": 0.05, "qhadam": 0.05, "aggmo": 0.005,
              # RAdam's first steps are unnormalised momentum steps: at 0.05 it crosses Beale and
              # Himmelblau, and diverges on Rosenbrock's steep start, as torch.optim.RAdam does.
              # Lion moves every coordinate by lr each step, so lr is its resolution at the minimum.
              "radam": 0.05, "nadamw": 0.05, "lion": 0.01, "schedulefree_sgd": 0.01,
              "schedulefree_adamw": 0.1, "ademamix": 0.05,
              # Adafactor's lr caps its relative step; SOAP on a point (a vector) is Adam; a point is
              # no matrix either, so Muon gives it to its AdamW group: the rate is its adamw_lr.
              "adafactor": 0.05, "soap": 0.05, "muon": 0.05}
#: The hyper-parameter a race's rate sets, where it is not ``lr``.
_RATE = {"muon": "adamw_lr"}
COLORS = {"sgd": "#d62728", "momentum": "#2ca02c", "nag": "#ff7f0e", "adagrad": "#9467bd",
          "adadelta": "#e6b800", "rmsprop": "#1f1f1f", "adam": "#1f77b4", "adamax": "#17becf",
          "nadam": "#e377c2", "amsgrad": "#8c564b", "adamw": "#7f7f7f", "qhm": "#bcbd22",
          "qhadam": "#aec7e8", "aggmo": "#98df8a",
          "radam": "#393b79", "nadamw": "#ad494a", "lion": "#8c6d31", "schedulefree_sgd": "#637939",
          "schedulefree_adamw": "#e7298a", "ademamix": "#7b4173", "adafactor": "#c49c94", "muon": "#00a087",
          "soap": "#fdae6b"}


@dataclass
class Race:
    """The paths of several optimizers on one function, ready to draw."""

    function: TestFunction
    results: dict[str, Any]  # optimizer name -> OptimizeResult
    lr: dict[str, float]
    steps: int
    window: tuple[tuple[float, float], tuple[float, float]]  # the part of the plane drawn


_RACE = {"function": (Options(*_REGISTRY), Instance(TestFunction, what="a TestFunction")),
         "steps": (Int(1), None), "seed": Int()}


@validate(**_RACE)
def race(function: str | TestFunction = "beale", optimizers: Iterable[str] | None = None,
         steps: int | None = None, start: Sequence[float] | None = None,
         lr: Mapping[str, float] | None = None, seed: int = 0) -> Race:
    """Run each optimizer from the same start; defaults from :data:`SCENES`.

    >>> r = race("saddle", ["sgd", "adagrad"], steps=10)
    >>> sorted(r.results), r.results["sgd"].trajectory.shape
    (['adagrad', 'sgd'], (11, 2))
    """
    fn = get(function) if isinstance(function, str) else function
    scene = SCENES.get(fn.name, {})
    names = list(check("optimizers", list(optimizers or SURVEY_OPTIMIZERS),
                       Seq(Options(*optim.available()), min_length=1)))
    for name in lr or {}:
        if name.lower() not in names:
            raise argument_error("lr", {name: lr[name]}, f"rates for the optimizers drawn: {', '.join(names)}")
    steps = steps if steps is not None else scene.get("steps", 300)
    start = tuple(start) if start is not None else scene.get("start", fn.start)
    rates = {n: float((lr or {}).get(n, scene.get("lr", {}).get(n, DEFAULT_LR[n]))) for n in names}
    results = {n: minimize(fn, start, optimizer=n, steps=steps, seed=seed, **{_RATE.get(n, "lr"): rates[n]})
               for n in names}
    return Race(fn, results, rates, steps, scene.get("window", fn.domain))


def _grid(fn: TestFunction, window, n: int = 200):
    (x0, x1), (y0, y1) = window
    xs, ys = np.linspace(x0, x1, n), np.linspace(y0, y1, n)
    X, Y = np.meshgrid(xs, ys)
    with torch.no_grad():
        Z = fn.value(torch.from_numpy(np.stack([X, Y], axis=-1))).numpy()
    return X, Y, Z


class _Drawing:
    """The figure of a race and the artists that move."""

    def __init__(self, r: Race, figsize: tuple[float, float] | None = None, dpi: int = 100):
        self.race = r
        fn = r.function
        panels = 3 if fn.saddle else 2
        # A bare Figure on the Agg canvas: no pyplot state, works headless and in notebooks alike.
        self.fig = Figure(figsize=figsize or (5.2 * panels, 4.8), dpi=dpi)
        FigureCanvasAgg(self.fig)
        self.ax = self.fig.add_subplot(1, panels, 1)
        self.ax3d = self.fig.add_subplot(1, panels, 2, projection="3d") if fn.saddle else None
        self.axl = self.fig.add_subplot(1, panels, panels)
        X, Y, Z = _grid(fn, r.window)
        self._contours(X, Y, Z)
        if self.ax3d is not None:
            self.ax3d.plot_surface(X, Y, Z, cmap="viridis", alpha=0.45, linewidth=0, rstride=8,
                                   cstride=8)
            self.ax3d.set(xlabel="x", ylabel="y", title="surface")
            self.ax3d.view_init(elev=30, azim=-60)
            self.zlim = (float(Z.min()), float(Z.max()))
            self.ax3d.set_zlim(*self.zlim)
        self.paths, self.heads, self.curves, self.lines3d, self.heads3d = {}, {}, {}, {}, {}
        self.data = {}
        vals = []
        for name, res in r.results.items():
            traj, values, diverged = res.trajectory, res.values, bool(res.diverged)
            self.data[name] = (traj, values, diverged)
            label = f"{name} (lr={r.lr[name]:g})" + (", diverged" if diverged else "")
            color = COLORS.get(name, None)
            (self.paths[name],) = self.ax.plot([], [], "-", lw=1.8, color=color, label=label)
            (self.heads[name],) = self.ax.plot([], [], "o", ms=6, color=color,
                                               markeredgecolor="white")
            (self.curves[name],) = self.axl.plot([], [], "-", lw=1.5, color=color, label=name)
            if self.ax3d is not None:
                (self.lines3d[name],) = self.ax3d.plot([], [], [], "-", lw=1.8, color=color)
                (self.heads3d[name],) = self.ax3d.plot([], [], [], "o", ms=5, color=color)
            vals.append(values[self._inside(traj)])
        start = next(iter(r.results.values())).trajectory[0]
        (self.start_marker,) = self.ax.plot(*start, "k^", ms=7, label="start")
        self.legend = self.axl.legend(handles=[*self.paths.values(), self.start_marker],
                                      loc="upper right", fontsize=7, framealpha=0.9)
        self._loss_axes(np.concatenate(vals) if vals else np.array([0.0]))
        self.fig.suptitle(textwrap.fill(fn.description, 150), fontsize=8.5)
        self.fig.tight_layout()

    def _contours(self, X, Y, Z):
        fn = self.race.function
        ax = self.ax
        if fn.levels == "log":
            floor = min(fn.value(torch.tensor(m, dtype=torch.float64)).item() for m in fn.minima) \
                if fn.minima else float(Z.min())
            shifted = Z - floor + 1e-3
            levels = np.logspace(math.log10(max(shifted.min(), 1e-3)), math.log10(shifted.max()), 35)
            ax.contour(X, Y, shifted, levels=levels, norm=LogNorm(), cmap="viridis", linewidths=0.7)
        else:
            ax.contour(X, Y, Z, levels=list(fn.levels), cmap="viridis", linewidths=0.7)
        for m in fn.minima:
            ax.plot(*m, "r*", ms=13, markeredgecolor="k", zorder=5)
        if fn.saddle:
            ax.plot(0, 0, "kX", ms=8, zorder=5)
        (x0, x1), (y0, y1) = self.race.window
        ax.set(xlim=(x0, x1), ylim=(y0, y1), xlabel="x", ylabel="y", title="contours and paths")

    def _loss_axes(self, values: np.ndarray):
        ax = self.axl
        finite = values[np.isfinite(values)]
        ax.set_xlim(0, self.race.steps)
        if finite.size and finite.min() > 0:
            ax.set_yscale("log")
            ax.set_ylim(max(finite.min() * 0.5, 1e-12), finite.max() * 2)
        else:
            ax.set_yscale("symlog", linthresh=1e-2)
            lo, hi = (finite.min(), finite.max()) if finite.size else (-1, 1)
            ax.set_ylim(lo - abs(lo) * 0.2 - 0.1, hi + abs(hi) * 0.2 + 0.1)
        ax.set(xlabel="step", ylabel="f(x, y)", title="loss")
        ax.grid(alpha=0.3)

    def moving(self) -> list:
        artists = [*self.paths.values(), *self.heads.values(), *self.curves.values()]
        return artists + [*self.lines3d.values(), *self.heads3d.values(), self.legend]  # legend on top

    def update(self, k: int) -> list:
        """Show every path up to step ``k``."""
        for name, (traj, values, diverged) in self.data.items():
            upto = min(k, len(traj) - 1)
            self.paths[name].set_data(traj[: upto + 1, 0], traj[: upto + 1, 1])
            head = traj[upto]
            self.heads[name].set_data([head[0]], [head[1]])
            self.heads[name].set_marker("X" if diverged and k >= len(traj) - 1 else "o")
            self.curves[name].set_data(np.arange(upto + 1), values[: upto + 1])
            if self.ax3d is not None:
                z = np.clip(values[: upto + 1], *self.zlim)
                inside = self._inside(traj[: upto + 1])
                self.lines3d[name].set_data_3d(traj[: upto + 1, 0][inside], traj[: upto + 1, 1][inside],
                                               z[inside])
                self.heads3d[name].set_data_3d([head[0]], [head[1]], [z[-1]])
                self.heads3d[name].set_visible(bool(inside[-1]))
        return self.moving()

    def _inside(self, pts: np.ndarray) -> np.ndarray:
        (x0, x1), (y0, y1) = self.race.window
        return (pts[:, 0] >= x0) & (pts[:, 0] <= x1) & (pts[:, 1] >= y0) & (pts[:, 1] <= y1)


@validate(**_RACE, dpi=Int(1))
def plot(function: str | TestFunction = "beale", optimizers: Iterable[str] | None = None,
         steps: int | None = None, start: Sequence[float] | None = None,
         lr: Mapping[str, float] | None = None, out: str | Path | None = None, dpi: int = 110,
         seed: int = 0):
    """The whole paths of each optimizer on ``function``; saved to ``out`` (.png, .svg, .pdf) if
    given. Returns the matplotlib Figure.

    >>> fig = plot("beale", ["adam", "momentum"], steps=50)
    >>> len(fig.axes)
    2
    """
    drawing = _Drawing(race(function, optimizers, steps, start, lr, seed), dpi=dpi)
    drawing.update(drawing.race.steps)
    if out is not None:
        out = Path(out)
        if out.suffix.lower() not in (".png", ".svg", ".pdf", ".jpg"):
            raise argument_error("out", str(out), "a .png, .svg, .pdf or .jpg file")
        out.parent.mkdir(parents=True, exist_ok=True)
        drawing.fig.savefig(out, dpi=dpi)
    return drawing.fig


@validate(**_RACE, fps=Int(1), max_frames=Int(2), dpi=Int(1))
def animate(function: str | TestFunction = "beale", optimizers: Iterable[str] | None = None,
            steps: int | None = None, start: Sequence[float] | None = None,
            lr: Mapping[str, float] | None = None, out: str | Path | None = None, fps: int = 30,
            max_frames: int = 300, dpi: int = 80, seed: int = 0) -> animation.FuncAnimation:
    """The paths drawn step by step; saved to ``out`` (.gif, .mp4 or .html) if given. Returns the
    matplotlib ``FuncAnimation`` (in a notebook: ``HTML(anim.to_jshtml())``).

    Saving does not go through matplotlib's writers, which redraw every contour for every frame: the
    static parts are drawn once and each frame only redraws the moving artists (blitting), so 8
    optimizers x 300 frames take seconds.
    """
    drawing = _Drawing(race(function, optimizers, steps, start, lr, seed), dpi=dpi)
    frames = np.unique(np.linspace(0, drawing.race.steps, min(max_frames, drawing.race.steps + 1))
                       .round().astype(int))
    anim = animation.FuncAnimation(drawing.fig, drawing.update, frames=frames, interval=1000 / fps,
                                   blit=True, init_func=lambda: drawing.update(0))
    if out is not None:
        save(drawing, frames, Path(out), fps)
    return anim


def _frames(drawing: _Drawing, frames: np.ndarray):
    """RGB frames, redrawing only the moving artists over a cached background."""
    fig = drawing.fig
    canvas = fig.canvas
    for artist in drawing.moving():
        artist.set_visible(False)
    canvas.draw()
    background = canvas.copy_from_bbox(fig.bbox)
    for artist in drawing.moving():
        artist.set_visible(True)
    for k in frames:
        canvas.restore_region(background)
        for artist in drawing.update(int(k)):
            artist.axes.draw_artist(artist)
        canvas.blit(fig.bbox)
        yield np.asarray(canvas.buffer_rgba())[..., :3].copy()


def save(drawing: _Drawing, frames: np.ndarray, out: Path, fps: int) -> None:
    """Write the frames to a .gif, .mp4 (needs ffmpeg) or self-contained .html file."""
    suffix = out.suffix.lower()
    if suffix not in (".gif", ".mp4", ".html"):
        raise argument_error("out", str(out), "a .gif, .mp4 or .html file")
    if suffix == ".mp4" and shutil.which("ffmpeg") is None:
        raise argument_error("out", str(out), "a .gif or .html file: .mp4 needs ffmpeg on the PATH")
    out.parent.mkdir(parents=True, exist_ok=True)
    from PIL import Image

    if suffix == ".mp4":
        _write_mp4(_frames(drawing, frames), out, fps, drawing.fig)
        return
    # One palette for all frames: consecutive frames then differ only where the paths moved, and
    # the GIF stores just those rectangles. It holds every optimizer's colour exactly (a palette cut
    # from the image alone merges thin lines: sgd's red came out orange, momentum's green black),
    # and the rest is cut from the last frame, which shows every path.
    rgb = list(_frames(drawing, frames))
    fixed = [int(c[i:i + 2], 16) for c in COLORS.values() for i in (1, 3, 5)]
    cut = Image.fromarray(rgb[-1]).quantize(colors=96 - len(COLORS), method=Image.Quantize.MEDIANCUT)
    palette = Image.new("P", (1, 1))
    palette.putpalette(fixed + cut.getpalette()[:3 * (96 - len(COLORS))])
    images = [Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE) for f in rgb]
    hold = [int(1000 / fps)] * (len(images) - 1) + [2000]  # pause on the last frame
    buffer = io.BytesIO() if suffix == ".html" else out
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=hold,
                   loop=0, optimize=False)
    if suffix == ".html":
        gif = base64.b64encode(buffer.getvalue()).decode()
        fn = drawing.race.function
        caption = ", ".join(f"{n} (lr={lr:g})" for n, lr in drawing.race.lr.items())
        out.write_text(
            "<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>sgdlab: {fn.name}</title></head><body style='font-family:sans-serif'>"
            f"<h1>{fn.name}</h1><p>{fn.description}</p>"
            f"<img alt='optimizers on {fn.name}' src='data:image/gif;base64,{gif}'>"
            f"<p>{caption}; {drawing.race.steps} steps.</p></body></html>", encoding="utf-8")


def _write_mp4(frames, out: Path, fps: int, fig) -> None:
    width, height = fig.canvas.get_width_height()
    cmd = ["ffmpeg", "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s",
           f"{width}x{height}", "-r", str(fps), "-i", "-", "-pix_fmt", "yuv420p",
           "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", str(out)]
    with subprocess.Popen(cmd, stdin=subprocess.PIPE) as proc:
        for frame in frames:
            proc.stdin.write(frame.tobytes())
        proc.stdin.close()
        if proc.wait() != 0:
            raise RuntimeError(f"ffmpeg failed writing {str(out)!r}")
