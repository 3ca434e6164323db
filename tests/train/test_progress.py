"""The progress bar: on a terminal only, off with progress=False."""

import io
import sys

import pytest
import torch
import torch.nn.functional as F

from sgdlab.train import fit


def _fit(progress, **kw):
    X, y = torch.randn(40, 2), torch.randn(40, 1)
    return fit(torch.nn.Linear(2, 1), F.mse_loss, (X, y), val=(X, y), optimizer="sgd", epochs=3,
               batch_size=8, progress=progress, **kw)


def test_progress_false_prints_nothing(capsys):
    _fit(False)
    out, err = capsys.readouterr()
    assert out == "" and err == ""


def test_progress_true_prints_nothing_when_stdout_is_not_a_terminal(capsys):
    assert not sys.stdout.isatty()
    _fit(True)
    out, err = capsys.readouterr()
    assert out == "" and err == ""


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_on_a_terminal_shows_epochs_loss_and_eta(monkeypatch):
    term = FakeTerminal()
    monkeypatch.setattr(sys, "stdout", term)
    monkeypatch.setenv("TERM", "xterm-256color")
    _fit(True)
    text = term.getvalue()
    assert "epoch 3" in text and "5/5" in text and "3/3" in text
    assert "loss" in text and "val" in text and "eta" in text


def test_progress_bar_is_closed_when_training_fails(monkeypatch):
    import sgdlab.train.loop as loop

    closed = []
    original = loop._Progress.close
    monkeypatch.setattr(loop._Progress, "close", lambda self: (closed.append(1), original(self)))
    monkeypatch.setattr(sys, "stdout", FakeTerminal())

    def nan_loss(out, y):
        return F.mse_loss(out, y) * float("nan")

    with pytest.raises(FloatingPointError):
        fit(torch.nn.Linear(2, 1), nan_loss, (torch.randn(8, 2), torch.randn(8, 1)), optimizer="sgd",
            epochs=1, progress=True)
    assert closed == [1]
