"""History: per-epoch records, CSV/JSON round trips, a plot."""

import csv
import json
import math

import pytest
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

import sgdlab
from sgdlab.train import EarlyStopping, History, fit


def _accuracy_like(out, y):
    return float((out - y).abs().lt(0.5).float().mean())


@pytest.fixture
def history(regression, scripted_val):
    X, y = regression
    model = torch.nn.Linear(3, 1)
    opt = sgdlab.optim.SGD(model.parameters(), lr=0.05)
    return fit(model, scripted_val([1.0, 0.5, 0.25, 0.3, 0.4]), (X, y), val=(X[:10], y[:10]),
               metric=_accuracy_like, optimizer=opt, epochs=8, batch_size=16,
               scheduler=sgdlab.train.InverseTimeDecay(opt, k=1.0),
               early_stopping=EarlyStopping(patience=2), progress=False)


def test_records_every_epoch(history):
    assert len(history) == 5 and history.epoch == [1, 2, 3, 4, 5]
    assert history.updates == [4] * 5 and history.total_updates == 20
    assert history.val_loss == [1.0, 0.5, 0.25, 0.3, 0.4]
    assert history.lr == pytest.approx([0.05 / (1 + e) for e in range(5)])
    assert all(t > 0 for t in history.time)
    assert all(0 <= m <= 1 for m in history.val_metric)
    assert history.stopped_early and "best 0.25 at epoch 3" in history.stop_reason
    assert history[2] == history.records[2]
    assert set(history[0]) == {"epoch", "train_loss", "val_loss", "val_metric", "lr", "time", "updates"}


def test_csv_round_trip(history, tmp_path):
    path = tmp_path / "h.csv"
    text = history.to_csv(path)
    assert path.read_text() == text
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == 5
    for row, rec in zip(rows, history.records):
        assert int(row["epoch"]) == rec["epoch"] and int(row["updates"]) == rec["updates"]
        for key in ("train_loss", "val_loss", "val_metric", "lr", "time"):
            assert float(row[key]) == rec[key]  # exactly: written with repr
    back = History.from_csv(text)
    assert back.records == history.records


def test_json_round_trip(history, tmp_path):
    path = tmp_path / "h.json"
    text = history.to_json(path)
    data = json.loads(path.read_text())
    assert data["stopped_early"] is True and data["stop_reason"] == history.stop_reason
    assert data["epochs"] == history.records
    assert History.from_json(text) == history


def test_missing_values_round_trip_as_none():
    h = History()
    h.append({"epoch": 1, "train_loss": 0.5, "val_loss": None, "val_metric": None, "lr": 0.1,
              "time": 0.25, "updates": 3})
    h.append({"epoch": 2, "train_loss": 0.25, "val_loss": math.nan, "val_metric": None, "lr": 0.1,
              "time": 0.25, "updates": 3})
    for back in (History.from_csv(h.to_csv()), History.from_json(h.to_json())):
        assert back.val_loss[0] is None and math.isnan(back.val_loss[1]) and back.val_metric == [None, None]
        assert back.train_loss == [0.5, 0.25]
    assert h.to_csv().splitlines() == ["epoch,train_loss,val_loss,val_metric,lr,time,updates",
                                      "1,0.5,,,0.1,0.25,3", "2,0.25,nan,,0.1,0.25,3"]


def test_append_needs_every_column():
    with pytest.raises(ValueError, match="lacks val_loss"):
        History().append({"epoch": 1, "train_loss": 0.5, "val_metric": None, "lr": 0.1, "time": 0.0,
                          "updates": 1})


def test_plot_returns_a_figure(history, regression):
    fig = history.plot()
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3  # loss, metric, lr
    X, y = regression
    h = fit(torch.nn.Linear(3, 1), F.mse_loss, (X, y), optimizer="sgd", epochs=2, progress=False)
    fig = h.plot()
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    fig.canvas.draw()  # renders headless
