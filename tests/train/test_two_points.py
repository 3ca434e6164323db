"""fit and optimizers with a training and an evaluation point (Schedule-Free, Lookahead): train()
before each epoch's training, eval() before each evaluation, eval mode at the end, batch norm's
statistics recomputed at the evaluation point; evaluate() switches nothing."""

import numpy as np
import torch
import torch.nn.functional as F

import sgdlab
from sgdlab.train import evaluate, fit


class Recording(torch.optim.SGD):
    """torch's SGD with a train/eval switch that records the calls, and the mode of each step."""

    def __init__(self, params, log):
        super().__init__(params, lr=0.05)
        self.log, self.mode = log, "train"

    def train(self):
        self.mode = "train"
        self.log.append("train")

    def eval(self):
        self.mode = "eval"
        self.log.append("eval")

    def step(self, closure=None):
        self.log.append(f"step in {self.mode}")
        return super().step(closure)


def test_fit_switches_to_train_before_each_epochs_steps_and_to_eval_before_each_evaluation(regression):
    X, y = regression
    log = []
    model = torch.nn.Linear(3, 1)

    def metric(out, target):
        log.append("metric")
        return float(F.mse_loss(out, target))

    fit(model, F.mse_loss, (X, y), val=(X[:8], y[:8]), metric=metric, optimizer=Recording(model.parameters(), log),
        epochs=2, batch_size=32, progress=False)
    epoch = ["train", "step in train", "step in train", "eval", "metric"]
    assert log == epoch + epoch  # and fit returns in eval mode


def test_evaluate_leaves_the_optimizer_as_it_is(regression):
    X, y = regression
    log = []
    model = torch.nn.Linear(3, 1)
    Recording(model.parameters(), log)
    evaluate(model, F.mse_loss, (X, y))
    assert log == []


def test_validation_loss_is_measured_at_schedule_free_x(regression):
    X, y = regression
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    opt = sgdlab.optim.ScheduleFreeSGD(model.parameters(), lr=0.05)
    h = fit(model, F.mse_loss, (X, y), val=(X, y), optimizer=opt, epochs=3, batch_size=16, progress=False)
    assert not opt.training
    at_x = evaluate(model, F.mse_loss, (X, y))[0]
    opt.train()
    at_y = evaluate(model, F.mse_loss, (X, y))[0]
    assert h.val_loss[-1] == at_x != at_y


def test_lookahead_is_validated_at_its_slow_weights(regression):
    X, y = regression
    model = torch.nn.Linear(3, 1)
    opt = sgdlab.optim.Lookahead(sgdlab.optim.Momentum(model.parameters(), lr=0.02), k=3)
    h = fit(model, F.mse_loss, (X, y), val=(X, y), optimizer=opt, epochs=2, batch_size=8, progress=False)
    slow = [opt.slow[p] for p in model.parameters()]
    assert all(torch.equal(p, s) for p, s in zip(model.parameters(), slow))
    assert h.val_loss[-1] == evaluate(model, F.mse_loss, (X, y))[0]


def test_batch_norm_statistics_are_recomputed_at_x_over_the_training_data():
    g = torch.Generator().manual_seed(3)
    X, y = torch.randn(200, 3, generator=g), torch.randn(200, 1, generator=g)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 1))
    opt = sgdlab.optim.ScheduleFreeAdamW(model.parameters(), lr=0.05)
    fit(model, F.mse_loss, (X, y), optimizer=opt, epochs=2, batch_size=20, progress=False)
    w, b = (t.detach().double().numpy() for t in (model[0].weight, model[0].bias))
    h = X.double().numpy() @ w.T + b  # what batch norm sees at x: one chunk of all 200 examples
    bn = model[1]
    np.testing.assert_allclose(bn.running_mean.numpy(), h.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.running_var.numpy(), h.var(0, ddof=1), rtol=1e-5, atol=1e-6)
    assert bn.momentum == 0.1 and model.training


def test_fit_by_name_builds_schedule_free_and_leaves_it_at_x(regression):
    X, y = regression
    model = torch.nn.Linear(3, 1)
    captured = []
    fit(model, F.mse_loss, (X, y), optimizer="schedulefree_adamw", epochs=1, batch_size=16, progress=False,
        callbacks=[lambda ctx, record: captured.append(ctx.optimizer)])
    assert isinstance(captured[0], sgdlab.optim.ScheduleFreeAdamW) and not captured[0].training
