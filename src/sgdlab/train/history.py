"""What ``fit`` returns: one record per epoch, as columns."""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._validation import ArgumentValueError, Instance, check

#: The per-epoch columns, in the order of ``to_csv``.
COLUMNS = ("epoch", "train_loss", "val_loss", "val_metric", "lr", "time", "updates")
_INT_COLUMNS = ("epoch", "updates")


@dataclass
class History:
    """The training history of :func:`sgdlab.train.fit`: one list per quantity, one entry per epoch.

    Attributes:
        epoch: the epoch numbers, from 1.
        train_loss: the mean training loss over the epoch's examples, each batch's loss taken when it
            was computed (so while the parameters moved); with ``batch_size=None`` the loss at the
            start of the epoch.
        val_loss: the validation loss after the epoch (``None`` without validation data).
        val_metric: ``metric`` on the validation data after the epoch (``None`` without one).
        lr: the learning rate the epoch trained with (the first param group's, before the
            scheduler's step at the epoch's end).
        time: the epoch's wall time in seconds, validation included.
        updates: the number of optimizer steps in the epoch.
        stopped_early: whether training stopped before ``epochs`` (early stopping or a callback).
        stop_reason: why, in words; ``None`` when it ran all epochs.

    ``history[i]`` and :attr:`records` give the epochs as dicts. ``to_csv`` holds the columns only;
    ``to_json`` also ``stopped_early`` and ``stop_reason``.

    Example:
        >>> from sgdlab.train import History
        >>> h = History()
        >>> h.append({"epoch": 1, "train_loss": 0.5, "val_loss": None, "val_metric": None,
        ...           "lr": 0.1, "time": 0.01, "updates": 4})
        >>> print(h.to_csv().splitlines()[1])
        1,0.5,,,0.1,0.01,4
        >>> History.from_json(h.to_json()) == h
        True
    """

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float | None] = field(default_factory=list)
    val_metric: list[float | None] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    time: list[float] = field(default_factory=list)
    updates: list[int] = field(default_factory=list)
    stopped_early: bool = False
    stop_reason: str | None = None

    def append(self, record: dict[str, Any]) -> None:
        """Add one epoch's record (a dict with every key of ``COLUMNS``)."""
        missing = [c for c in COLUMNS if c not in record]
        if missing:
            raise ArgumentValueError(f"Invalid record: it lacks {', '.join(missing)} (expected every key of "
                                     "History.COLUMNS)")
        for c in COLUMNS:
            getattr(self, c).append(record[c])

    def __len__(self) -> int:
        return len(self.epoch)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {c: getattr(self, c)[i] for c in COLUMNS}

    @property
    def records(self) -> list[dict[str, Any]]:
        """The epochs as a list of dicts, one per epoch."""
        return [self[i] for i in range(len(self))]

    @property
    def total_updates(self) -> int:
        return int(sum(self.updates))

    # ---- serialisation ----------------------------------------------------------------------------

    def to_csv(self, path: str | Path | None = None) -> str:
        """The columns as CSV (header ``epoch,train_loss,...``; an empty field is ``None``). Floats are
        written with ``repr``, which reads back to the same float. Written to ``path`` if given;
        returns the text either way."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(COLUMNS)
        for rec in self.records:
            writer.writerow(["" if rec[c] is None else repr(rec[c]) for c in COLUMNS])
        text = buf.getvalue()
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_csv(cls, text: str) -> History:
        """The history of :meth:`to_csv`'s text (read the file first: ``from_csv(path.read_text())``);
        a malformed line is named."""
        h = cls()
        reader = csv.DictReader(io.StringIO(check("text", text, Instance(str, what="the text of a CSV file"))))
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise ArgumentValueError(f"Invalid text: line 1 lacks the column(s) {', '.join(missing)} "
                                     f"(expected the header {','.join(COLUMNS)})")
        for row in reader:
            try:
                h.append({c: _parse(c, row[c]) for c in COLUMNS})
            except (TypeError, ValueError) as err:
                raise ArgumentValueError(f"Invalid text: line {reader.line_num}: {err} (expected the "
                                         f"numbers of one epoch under {','.join(COLUMNS)})") from None
        return h

    def to_json(self, path: str | Path | None = None) -> str:
        """``{"epochs": [record, ...], "stopped_early": ..., "stop_reason": ...}`` as JSON (a non-finite
        validation loss is written as ``NaN``/``Infinity``, which Python's json reads back). Written to
        ``path`` if given; returns the text either way."""
        text = json.dumps({"epochs": self.records, "stopped_early": self.stopped_early,
                           "stop_reason": self.stop_reason}, indent=1)
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_json(cls, text: str) -> History:
        """The history of :meth:`to_json`'s text; malformed JSON is refused naming its line."""
        try:
            data = json.loads(check("text", text, Instance(str, what="the text of a JSON file")))
        except json.JSONDecodeError as err:
            raise ArgumentValueError(f"Invalid text: line {err.lineno}, column {err.colno}: {err.msg} (expected "
                                     "the JSON of History.to_json)") from None
        h = cls(stopped_early=bool(data.get("stopped_early", False)), stop_reason=data.get("stop_reason"))
        for rec in data["epochs"]:
            h.append(rec)
        return h

    # ---- plotting ---------------------------------------------------------------------------------

    def plot(self, figsize: tuple[float, float] | None = None) -> Any:
        """A matplotlib ``Figure``: the training and validation loss, the validation metric (if any)
        and the learning rate against the epoch, with the early stop (if any) marked."""
        # matplotlib is imported here only: training needs none of it.
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        has_metric = any(v is not None for v in self.val_metric)
        panels = 3 if has_metric else 2
        fig = Figure(figsize=figsize or (4.5 * panels, 3.6), layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(1, panels)
        ax = axes[0]
        ax.plot(self.epoch, self.train_loss, marker=".", label="train")
        if any(v is not None for v in self.val_loss):
            ax.plot(self.epoch, _nan(self.val_loss), marker=".", label="validation")
        ax.set(xlabel="epoch", ylabel="loss", title="loss")
        losses = [v for v in self.train_loss + self.val_loss if v is not None]
        if losses and all(math.isfinite(v) and v > 0 for v in losses):
            ax.set_yscale("log")  # losses fall over decades; a linear axis flattens all but the start
        ax.legend()
        if has_metric:
            axes[1].plot(self.epoch, _nan(self.val_metric), marker=".", color="C2")
            axes[1].set(xlabel="epoch", ylabel="metric", title="validation metric")
        axes[-1].plot(self.epoch, self.lr, marker=".", color="C3")
        axes[-1].set(xlabel="epoch", ylabel="learning rate", title="learning rate")
        if self.stopped_early and self.epoch:
            for a in axes:
                a.axvline(self.epoch[-1], color="0.5", linestyle=":", linewidth=1)
            fig.suptitle(f"stopped early: {self.stop_reason}", fontsize="small")
        return fig


def _parse(column: str, text: str | None) -> Any:
    if text is None:
        raise ValueError(f"no {column} field")
    if text == "":
        return None
    try:
        return int(text) if column in _INT_COLUMNS else float(text)
    except ValueError:
        raise ValueError(f"{column} is {text!r}") from None


def _nan(values: list[float | None]) -> list[float]:
    return [math.nan if v is None else v for v in values]
