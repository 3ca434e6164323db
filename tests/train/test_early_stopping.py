"""EarlyStopping: stops after `patience` epochs without improvement and restores the best weights."""

import pytest
import torch
import torch.nn.functional as F

import sgdlab
from sgdlab.train import EarlyStopping, fit


class Snapshots(sgdlab.train.Callback):
    """The weights at the end of every epoch (before early stopping acts: it runs last)."""

    def __init__(self):
        self.weights = {}

    def on_epoch_end(self, ctx, record):
        self.weights[record["epoch"]] = [p.detach().clone() for p in ctx.model.parameters()]


def _fit(regression, ScriptedVal, script, stop, epochs=20, **kw):
    X, y = regression
    model = torch.nn.Linear(3, 1)
    snaps = Snapshots()
    h = fit(model, ScriptedVal(script), (X, y), val=(X[:10], y[:10]),
            optimizer=sgdlab.optim.SGD(model.parameters(), lr=0.05), epochs=epochs, batch_size=16,
            early_stopping=stop, callbacks=[snaps], progress=False, **kw)
    return model, h, snaps


def test_stops_after_patience_epochs_and_restores_the_best_weights(regression, scripted_val):
    script = [5.0, 4.0, 3.0, 3.5, 3.2, 3.1, 1.0, 0.5] + [0.1] * 20
    model, h, snaps = _fit(regression, scripted_val, script, EarlyStopping(patience=3))
    # best at epoch 3; epochs 4, 5, 6 do not beat it: stop after epoch 6
    assert len(h) == 6 and h.epoch == [1, 2, 3, 4, 5, 6]
    assert h.val_loss == script[:6]
    assert h.stopped_early
    assert h.stop_reason == ("val_loss did not improve by more than 0.0 for 3 epochs; best 3 at epoch 3; "
                             "restored the weights of epoch 3")
    for p, best, last in zip(model.parameters(), snaps.weights[3], snaps.weights[6]):
        torch.testing.assert_close(p.detach(), best, rtol=0, atol=0)
        assert not torch.equal(best, last)  # the weights did move after the best epoch


def test_restore_best_false_keeps_the_last_weights(regression, scripted_val):
    script = [5.0, 4.0, 3.0, 3.5, 3.2, 3.1]
    model, h, snaps = _fit(regression, scripted_val, script, EarlyStopping(patience=3, restore_best=False))
    assert len(h) == 6
    assert h.stop_reason == "val_loss did not improve by more than 0.0 for 3 epochs; best 3 at epoch 3"
    for p, last in zip(model.parameters(), snaps.weights[6]):
        torch.testing.assert_close(p.detach(), last, rtol=0, atol=0)


def test_min_delta_counts_only_large_enough_improvements(regression, scripted_val):
    script = [1.0, 0.95, 0.92, 0.5]
    _, h, _ = _fit(regression, scripted_val, script, EarlyStopping(patience=2, min_delta=0.1))
    assert len(h) == 3
    assert h.stop_reason.startswith("val_loss did not improve by more than 0.1 for 2 epochs; best 1 at epoch 1")


def test_runs_all_epochs_while_improving(regression, scripted_val):
    stop = EarlyStopping(patience=2)
    _, h, _ = _fit(regression, scripted_val, [5, 4, 3, 2, 1], stop, epochs=5)
    assert len(h) == 5 and not h.stopped_early and h.stop_reason is None
    assert stop.best_epoch == 5 and stop.stopped_epoch is None


def test_val_metric_is_maximised(regression):
    X, y = regression
    script = iter([0.5, 0.7, 0.6, 0.65, 0.9])

    def metric(out, y):
        return next(script)

    h = fit(torch.nn.Linear(3, 1), F.mse_loss, (X, y), val=(X[:10], y[:10]), metric=metric,
            optimizer="sgd", epochs=10, early_stopping=EarlyStopping("val_metric", patience=2),
            progress=False)
    assert h.val_metric == [0.5, 0.7, 0.6, 0.65]
    assert "best 0.7 at epoch 2" in h.stop_reason


def test_train_loss_monitor_works_without_val(regression):
    X, y = regression
    losses = iter([3.0, 2.0, 2.5, 2.6, 1.0])

    def loss_fn(out, y):  # the batch loss, whole epoch in one batch: the epoch's training loss
        return F.mse_loss(out, y) * 0 + next(losses)

    h = fit(torch.nn.Linear(3, 1), loss_fn, (X, y), optimizer="sgd", epochs=10, batch_size=None,
            early_stopping=EarlyStopping("train_loss", patience=2), progress=False)
    assert h.train_loss == pytest.approx([3.0, 2.0, 2.5, 2.6])
    assert "best 2 at epoch 2" in h.stop_reason


def test_a_callback_can_stop_training(regression):
    X, y = regression

    def stop_at_2(ctx, record):
        if record["epoch"] == 2:
            ctx.stop("enough")

    h = fit(torch.nn.Linear(3, 1), F.mse_loss, (X, y), optimizer="sgd", epochs=10,
            callbacks=[stop_at_2], progress=False)
    assert len(h) == 2 and h.stopped_early and h.stop_reason == "enough"


def test_monitoring_what_is_not_there_is_an_error(regression):
    X, y = regression
    with pytest.raises(ValueError, match="it monitors 'val_loss', but fit got no val"):
        fit(torch.nn.Linear(3, 1), F.mse_loss, (X, y), optimizer="sgd", epochs=2,
            early_stopping=EarlyStopping(), progress=False)
    with pytest.raises(ValueError, match="it monitors 'val_metric', but fit got no metric"):
        fit(torch.nn.Linear(3, 1), F.mse_loss, (X, y), val=(X, y), optimizer="sgd", epochs=2,
            early_stopping=EarlyStopping("val_metric"), progress=False)


@pytest.mark.parametrize("kwargs, match", [
    ({"monitor": "loss"}, "Invalid monitor: 'loss'"),
    ({"patience": 0}, "Invalid patience: 0"),
    ({"min_delta": -1.0}, "Invalid min_delta: -1.0"),
    ({"mode": "up"}, "Invalid mode: 'up'"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EarlyStopping(**kwargs)


@pytest.mark.parametrize("kwargs, match", [
    ({"patience": 2.5}, "Invalid patience: 2.5 of type float"),
    ({"min_delta": "0"}, "Invalid min_delta: '0' of type str"),
    ({"restore_best": 1}, "Invalid restore_best: 1 of type int"),
])
def test_arguments_of_the_wrong_type_are_type_errors(kwargs, match):
    with pytest.raises(TypeError, match=match):
        EarlyStopping(**kwargs)


def test_mode_defaults_from_the_monitor():
    assert EarlyStopping("val_loss").mode == "min"
    assert EarlyStopping("train_loss").mode == "min"
    assert EarlyStopping("val_metric").mode == "max"
