"""Bad input gets an error that says what is wrong."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import sgdlab
from sgdlab.train import Curriculum, fit


def _fit(train=None, **kw):
    X, y = torch.randn(8, 2), torch.randn(8, 1)
    args = {"optimizer": "sgd", "epochs": 2, "progress": False}
    args.update(kw)
    return fit(torch.nn.Linear(2, 1), args.pop("loss_fn", F.mse_loss), (X, y) if train is None else train,
               **args)


def test_x_and_y_of_different_lengths():
    with pytest.raises(ValueError, match=r"train: X and y have different lengths \(10 and 9\)"):
        _fit((torch.randn(10, 2), torch.randn(9, 1)))
    with pytest.raises(ValueError, match=r"val: X and y have different lengths \(4 and 5\)"):
        _fit(val=(np.zeros((4, 2)), np.zeros((5, 1))))


def test_empty_data():
    with pytest.raises(ValueError, match=r"train is empty \(0 examples\)"):
        _fit((torch.zeros(0, 2), torch.zeros(0, 1)))
    with pytest.raises(ValueError, match="val is empty"):
        _fit(val=torch.utils.data.TensorDataset(torch.zeros(0, 2), torch.zeros(0, 1)))


def test_data_of_the_wrong_kind():
    with pytest.raises(TypeError, match="train must be a pair"):
        _fit(torch.randn(8, 2))
    with pytest.raises(TypeError, match="train: X must be a torch.Tensor, a NumPy array or a scipy.sparse"):
        _fit(([[1.0, 2.0]], [1.0]))
    with pytest.raises(TypeError, match="IterableDataset"):
        _fit(torch.utils.data.IterableDataset())


@pytest.mark.parametrize("batch_size", [0, -3, 2.5, "4", True])
def test_bad_batch_size(batch_size):
    with pytest.raises(ValueError, match=f"Invalid batch_size: {batch_size!r}"):
        _fit(batch_size=batch_size)


@pytest.mark.parametrize("epochs", [0, -1, 1.0, None])
def test_bad_epochs(epochs):
    with pytest.raises(ValueError, match=f"Invalid epochs: {epochs!r}"):
        _fit(epochs=epochs)


@pytest.mark.parametrize("grad_clip", [0, -1.0, float("inf")])
def test_bad_grad_clip(grad_clip):
    with pytest.raises(ValueError, match="Invalid grad_clip"):
        _fit(grad_clip=grad_clip)


def test_non_finite_loss_names_epoch_and_batch():
    calls = []

    def loss_fn(out, y):  # NaN at the 7th training batch: epoch 2, batch 3 of 4
        calls.append(1)
        loss = F.mse_loss(out, y)
        return loss * float("nan") if len(calls) == 7 else loss

    with pytest.raises(FloatingPointError, match="training loss is nan at epoch 2, batch 3 of 4"):
        _fit(loss_fn=loss_fn, batch_size=2, epochs=3)


def test_non_finite_loss_in_batch_gradient_descent_names_the_chunk(monkeypatch):
    monkeypatch.setattr(sgdlab.train.loop, "CHUNK_SIZE", 3)
    X = torch.randn(8, 2)
    X[7, 0] = float("inf")  # in the third chunk of 3 + 3 + 2
    with pytest.raises(FloatingPointError, match=r"training loss is (inf|nan) at epoch 1, chunk 3 of 3"):
        _fit((X, torch.randn(8, 1)), batch_size=None)


def test_divergence_is_caught():
    X = torch.randn(32, 2) * 100
    y = torch.randn(32, 1)
    model = torch.nn.Linear(2, 1)
    with pytest.raises(FloatingPointError, match="at epoch"):
        fit(model, F.mse_loss, (X, y), optimizer=torch.optim.SGD(model.parameters(), lr=10.0),
            epochs=50, progress=False)


def test_unknown_optimizer_name():
    with pytest.raises(ValueError, match="Invalid optimizer name: 'adamm'"):
        _fit(optimizer="adamm")
    with pytest.raises(TypeError, match="optimizer must be a torch.optim.Optimizer or the name"):
        _fit(optimizer=sgdlab.optim.SGD)


def test_unknown_curriculum_strategy():
    with pytest.raises(ValueError, match="Invalid strategy: 'hard'"):
        Curriculum(np.arange(8.0), strategy="hard")


def test_difficulty_of_the_wrong_length():
    with pytest.raises(ValueError, match="Invalid difficulty: 5 scores for 8 training examples"):
        _fit(curriculum=Curriculum(np.arange(5.0)))
    with pytest.raises(ValueError, match="Invalid difficulty: 3 scores for 8 training examples"):
        _fit(curriculum=Curriculum(lambda X, y: np.arange(3.0)))


def test_metric_needs_val():
    with pytest.raises(ValueError, match="metric is evaluated on the validation data"):
        _fit(metric=lambda out, y: 0.0)


def test_loss_must_be_a_scalar():
    with pytest.raises(ValueError, match=r"loss_fn must return a scalar tensor .* got \(4, 1\)"):
        _fit(loss_fn=lambda out, y: (out - y) ** 2, batch_size=4)


def test_callbacks_must_be_a_sequence_of_callbacks():
    with pytest.raises(TypeError, match="callbacks must be a sequence"):
        _fit(callbacks=lambda ctx, rec: None)
    with pytest.raises(TypeError, match="a callback must be"):
        _fit(callbacks=[3])


def test_scheduler_of_the_wrong_kind():
    with pytest.raises(TypeError, match="scheduler must be an lr scheduler"):
        _fit(scheduler=0.5)
