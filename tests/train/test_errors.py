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
    with pytest.raises(ValueError, match=r"Invalid train: X has 10 rows and y 9 \(expected one label per row\)"):
        _fit((torch.randn(10, 2), torch.randn(9, 1)))
    with pytest.raises(ValueError, match=r"Invalid val: X has 4 rows and y 5"):
        _fit(val=(np.zeros((4, 2)), np.zeros((5, 1))))


def test_empty_data():
    with pytest.raises(ValueError, match=r"Invalid train: 0 examples \(expected at least one\)"):
        _fit((torch.zeros(0, 2), torch.zeros(0, 1)))
    with pytest.raises(ValueError, match="Invalid val: 0 examples"):
        _fit(val=torch.utils.data.TensorDataset(torch.zeros(0, 2), torch.zeros(0, 1)))


def test_data_of_the_wrong_kind():
    with pytest.raises(TypeError, match=r"Invalid train: a Tensor \(expected a pair \(X, y\)"):
        _fit(torch.randn(8, 2))
    with pytest.raises(TypeError, match="Invalid train: X of type list .expected a torch.Tensor, a NumPy "
                                        "array or a scipy.sparse matrix"):
        _fit(([[1.0, 2.0]], [1.0]))
    with pytest.raises(TypeError, match="IterableDataset"):
        _fit(torch.utils.data.IterableDataset())


@pytest.mark.parametrize("batch_size", [0, -3])
def test_batch_size_below_one_is_refused(batch_size):
    with pytest.raises(ValueError, match=rf"Invalid batch_size: {batch_size} \(expected an int >= 1 or None\)"):
        _fit(batch_size=batch_size)


@pytest.mark.parametrize("batch_size", [2.5, "4", True])
def test_batch_size_that_is_not_an_int_is_a_type_error(batch_size):
    with pytest.raises(TypeError, match=f"Invalid batch_size: {batch_size!r} of type"):
        _fit(batch_size=batch_size)


@pytest.mark.parametrize("epochs", [0, -1])
def test_epochs_below_one_are_refused(epochs):
    with pytest.raises(ValueError, match=rf"Invalid epochs: {epochs} \(expected an int >= 1\)"):
        _fit(epochs=epochs)


@pytest.mark.parametrize("epochs", [1.0, None])
def test_epochs_that_are_not_an_int_are_a_type_error(epochs):
    with pytest.raises(TypeError, match=f"Invalid epochs: {epochs!r} of type"):
        _fit(epochs=epochs)


def test_numpy_integers_are_accepted_for_epochs_batch_size_and_seed():
    h = _fit(epochs=np.int64(2), batch_size=np.int32(4), seed=np.int64(1))
    assert len(h) == 2 and h.updates[0] == 2


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
    with pytest.raises(ValueError, match="Invalid optimizer: 'adamm' .expected a torch.optim.Optimizer or one of 'sgd'"):
        _fit(optimizer="adamm")


def test_an_optimizer_class_instead_of_an_instance_is_a_type_error():
    with pytest.raises(TypeError, match="Invalid optimizer: .* of type type .expected a torch.optim.Optimizer"):
        _fit(optimizer=sgdlab.optim.SGD)


def test_unknown_curriculum_strategy():
    with pytest.raises(ValueError, match="Invalid strategy: 'hard'"):
        Curriculum(np.arange(8.0), strategy="hard")


def test_difficulty_of_the_wrong_length():
    with pytest.raises(ValueError, match=r"Invalid difficulty: 5 scores \(expected one per training example: 8\)"):
        _fit(curriculum=Curriculum(np.arange(5.0)))
    with pytest.raises(ValueError, match=r"Invalid difficulty: 3 scores \(expected one per training example: 8\)"):
        _fit(curriculum=Curriculum(lambda X, y: np.arange(3.0)))


def test_metric_needs_val():
    with pytest.raises(ValueError, match="Invalid metric: .* the metric is evaluated on the validation data"):
        _fit(metric=lambda out, y: 0.0)


def test_loss_must_be_a_scalar():
    with pytest.raises(ValueError, match=r"Invalid loss_fn: it returned a tensor of shape \(4, 1\) \(expected a "
                                         "scalar tensor"):
        _fit(loss_fn=lambda out, y: (out - y) ** 2, batch_size=4)


def test_a_single_callback_must_be_wrapped_in_a_sequence():
    with pytest.raises(TypeError, match="Invalid callbacks: .* wrap a single one in a list"):
        _fit(callbacks=lambda ctx, rec: None)


def test_each_callback_must_be_a_callback_or_a_function():
    with pytest.raises(TypeError, match=r"Invalid callbacks\[0\]: 3 of type int \(expected a sgdlab.train.Callback"):
        _fit(callbacks=[3])


def test_scheduler_of_the_wrong_kind():
    with pytest.raises(TypeError, match=r"Invalid scheduler: 0.5 of type float \(expected a callable\)"):
        _fit(scheduler=0.5)
