"""Every public function and class of sgdlab, walked with a table of bad values (issue 12, item 2).

Each row calls one public callable with every other argument valid and one argument bad, and
expects the one grammar of ``sgdlab._validation``: a ``TypeError`` when the value is of a type the
argument does not take, a ``ValueError`` when it is of the right type but a wrong value, the message
naming the argument and the value. ``test_every_public_callable_is_walked`` keeps the table complete:
a public callable that takes arguments is in it, or in ``NOT_WALKED`` with the reason. The command
line's usage errors are walked in tests/test_cli_errors.py, tests/parallel/test_hogwild_command.py and
tests/distributed/test_command.py.
"""

from __future__ import annotations

import importlib
import inspect
import math
import re

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F

import sgdlab
from sgdlab import compare, data, distributed, lab, models, optim, parallel, problems, train
from sgdlab._validation import ArgumentError

T, V = TypeError, ValueError
INF, NAN = math.inf, math.nan


def _params():
    return [torch.nn.Parameter(torch.zeros(3))]


def _xy(n=16, d=3):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, d, generator=g), torch.randn(n, 1, generator=g)


def _sparse_xy():
    X = sp.random(40, 10, density=0.3, format="csr", random_state=0)
    y = np.where(np.arange(40) % 2 == 0, 1.0, -1.0)
    return X, y


def _fit(**kw):
    args = {"optimizer": "sgd", "epochs": 1, "progress": False, **kw}
    return train.fit(torch.nn.Linear(3, 1), F.mse_loss, _xy(), **args)


def _linear():
    return torch.nn.Linear(3, 1)


def _row(target, arg, bad, error, call):
    return pytest.param(target, arg, bad, error, call,
                        id=f"{getattr(target, '__qualname__', target)}-{arg}-{bad!r}"[:90])


ROWS = []


def rows(target, arg, call, *cases):
    """Add a row per (bad value, error) for ``arg`` of ``target``; ``call(bad)`` calls it."""
    for bad, error in cases:
        ROWS.append(_row(target, arg, bad, error, call))


# ---- sgdlab.optim --------------------------------------------------------------------------------

for cls in (optim.get(name) for name in optim.available()):
    rows(cls, "lr", lambda v, cls=cls: cls(_params(), lr=v), (-1.0, V), (INF, V), (NAN, V), ("0.1", T),
         (True, T), (torch.tensor([0.1, 0.2]), T))
    rows(cls, "convention", lambda v, cls=cls: cls(_params(), convention=v), ("jax", V), (1, T))
    rows(cls, "nonfinite", lambda v, cls=cls: cls(_params(), nonfinite=v), ("ignore", V), (None, T))
    rows(cls, "fused", lambda v, cls=cls: cls(_params(), fused=v), ("yes", T), (1, T))
    if "weight_decay" in inspect.signature(cls).parameters:
        rows(cls, "weight_decay", lambda v, cls=cls: cls(_params(), weight_decay=v), (-1e-4, V), (INF, V),
             ("0", T))
for cls in (optim.Adam, optim.AdaMax, optim.Nadam, optim.AMSGrad, optim.AdamW, optim.QHAdam, optim.RAdam,
            optim.NAdamW, optim.AdEMAMix, optim.ScheduleFreeAdamW):
    rows(cls, "betas", lambda v, cls=cls: cls(_params(), betas=v), (0.9, T), ((0.9,), V), ((0.9, 0.999, 0.5), V))
    rows(cls, "betas[1]", lambda v, cls=cls: cls(_params(), betas=(0.9, v)), (1.0, V), (NAN, V), ("0.9", T))
    rows(cls, "eps", lambda v, cls=cls: cls(_params(), eps=v), (-1e-8, V), (INF, V))
for cls in (optim.Momentum, optim.NAG, optim.QHM):
    rows(cls, "momentum", lambda v, cls=cls: cls(_params(), momentum=v), (1.0, V), (-0.1, V), ("0.9", T))
rows(optim.QHM, "nu", lambda v: optim.QHM(_params(), nu=v), (1.5, V), (None, None))
rows(optim.QHAdam, "nus[0]", lambda v: optim.QHAdam(_params(), nus=(v, 1.0)), (1.5, V))
rows(optim.Adagrad, "lr_decay", lambda v: optim.Adagrad(_params(), lr_decay=v), (-1.0, V), ("0", T))
rows(optim.Adadelta, "rho", lambda v: optim.Adadelta(_params(), rho=v), (1.0, V), (INF, V))
rows(optim.RMSprop, "alpha", lambda v: optim.RMSprop(_params(), alpha=v), (1.0, V), ("0.9", T))
rows(optim.AggMo, "betas", lambda v: optim.AggMo(_params(), betas=v), (0.9, T), ((), V))
rows(optim.RAdam, "decoupled_weight_decay", lambda v: optim.RAdam(_params(), decoupled_weight_decay=v), ("yes", T),
     (1, T))
rows(optim.NAdamW, "momentum_decay", lambda v: optim.NAdamW(_params(), momentum_decay=v), (0.004, V))
rows(optim.Lion, "betas", lambda v: optim.Lion(_params(), betas=v), (0.9, T), ((0.9,), V))
rows(optim.Lion, "betas[0]", lambda v: optim.Lion(_params(), betas=(v, 0.99)), (1.0, V), (NAN, V))
rows(optim.AdEMAMix, "beta3", lambda v: optim.AdEMAMix(_params(), beta3=v), (1.0, V), ("0.9999", T))
rows(optim.AdEMAMix, "alpha", lambda v: optim.AdEMAMix(_params(), alpha=v), (-1.0, V), (INF, V))
rows(optim.AdEMAMix, "alpha_warmup", lambda v: optim.AdEMAMix(_params(), alpha_warmup=v), (-1, V), (10.0, T))
rows(optim.AdEMAMix, "beta3_warmup", lambda v: optim.AdEMAMix(_params(), beta3_warmup=v), (-1, V), ("100", T))
rows(optim.ScheduleFreeSGD, "momentum", lambda v: optim.ScheduleFreeSGD(_params(), momentum=v), (0.0, V), (1.0, V),
     ("0.9", T))
for cls in (optim.ScheduleFreeSGD, optim.ScheduleFreeAdamW):
    rows(cls, "warmup_steps", lambda v, cls=cls: cls(_params(), warmup_steps=v), (-1, V), (1.5, T))
rows(optim.ScheduleFreeAdamW, "betas[0]", lambda v: optim.ScheduleFreeAdamW(_params(), betas=(v, 0.999)), (0.0, V))
rows(optim.Lookahead, "optimizer", lambda v: optim.Lookahead(v), ("adam", T), (optim.ScheduleFreeSGD(_params()), V))
rows(optim.Lookahead, "k", lambda v: optim.Lookahead(optim.SGD(_params()), k=v), (0, V), (2.5, T))
rows(optim.Lookahead, "alpha", lambda v: optim.Lookahead(optim.SGD(_params()), alpha=v), (1.5, V), (NAN, V), ("1", T))
rows(optim.recompute_bn, "model", lambda v: optim.recompute_bn(v, torch.zeros(2, 3)), ("net", T))
rows(optim.recompute_bn, "data", lambda v: optim.recompute_bn(torch.nn.BatchNorm1d(3), v), (3, T), ([], V), (["x"], V))
rows(optim.recompute_bn, "max_batches", lambda v: optim.recompute_bn(torch.nn.BatchNorm1d(3), torch.zeros(2, 3),
                                                                      max_batches=v), (0, V), (1.5, T))
rows(optim.available, "group", optim.available, ("recent", V), (1, T))
rows(optim.GradientNoise, "eta", lambda v: optim.GradientNoise(optim.SGD(_params()), eta=v), (-1.0, V), (NAN, V),
     ("1", T))
rows(optim.GradientNoise, "gamma", lambda v: optim.GradientNoise(optim.SGD(_params()), gamma=v), (INF, V))
rows(optim.GradientNoise, "optimizer", lambda v: optim.GradientNoise(v), ("sgd", T))
rows(optim.Muon, "momentum", lambda v: optim.Muon(_params(), momentum=v), (1.0, V), ("0.9", T))
rows(optim.Muon, "ns_steps", lambda v: optim.Muon(_params(), ns_steps=v), (0, V), (100, V), (5.0, T))
rows(optim.Muon, "ns_coefficients", lambda v: optim.Muon(_params(), ns_coefficients=v), ((3.4, -4.7), V), (3.4, T))
rows(optim.Muon, "adjust_lr_fn", lambda v: optim.Muon(_params(), adjust_lr_fn=v), ("rms", V), (1, T))
rows(optim.Muon, "nesterov", lambda v: optim.Muon(_params(), nesterov=v), ("yes", T))
rows(optim.Muon, "adamw_betas[1]", lambda v: optim.Muon(_params(), adamw_betas=(0.9, v)), (1.0, V))
rows(optim.Muon, "use_muon", lambda v: optim.Muon([{"params": _params(), "use_muon": v}]), (True, V), ("no", T))
rows(optim.Adafactor, "beta2_decay", lambda v: optim.Adafactor(_params(), beta2_decay=v), (0.5, V), ("-0.8", T))
rows(optim.Adafactor, "eps", lambda v: optim.Adafactor(_params(), eps=v), ((-1.0, 1e-3), V), ((None, NAN), V),
     (1e-3, T))
rows(optim.Adafactor, "d", lambda v: optim.Adafactor(_params(), d=v), (0.5, V), (INF, V))
rows(optim.SOAP, "precondition_frequency", lambda v: optim.SOAP(_params(), precondition_frequency=v), (0, V),
     (2.5, T))
rows(optim.SOAP, "max_precond_dim", lambda v: optim.SOAP(_params(), max_precond_dim=v), (0, V), ("10", T))
rows(optim.SOAP, "shampoo_beta", lambda v: optim.SOAP(_params(), shampoo_beta=v), (1.0, V), (NAN, V), (None, None))
rows(optim.SOAP, "betas[0]", lambda v: optim.SOAP(_params(), betas=(v, 0.95)), (-0.1, V))
rows(optim.get, "name", optim.get, ("adamx", V), (3, T))
rows(optim.create, "name", lambda v: optim.create(v, _params()), ("adamx", V), (None, T))
rows(optim.describe, "cls", optim.describe, ("adam", T), (torch.optim.SGD, T))

# ---- sgdlab.train --------------------------------------------------------------------------------

rows(train.fit, "model", lambda v: train.fit(v, F.mse_loss, _xy(), optimizer="sgd", epochs=1), ("linear", T))
rows(train.fit, "loss_fn", lambda v: train.fit(_linear(), v, _xy(), optimizer="sgd", epochs=1), ("mse", T))
rows(train.fit, "train", lambda v: train.fit(_linear(), F.mse_loss, v, optimizer="sgd", epochs=1),
     (torch.zeros(4, 3), T), ((torch.zeros(4, 3), torch.zeros(5, 1)), V), ((torch.zeros(0, 3), torch.zeros(0, 1)), V))
rows(train.fit, "epochs", lambda v: _fit(epochs=v), (0, V), (1.0, T), (None, T), (True, T))
rows(train.fit, "batch_size", lambda v: _fit(batch_size=v), (0, V), ("4", T))
rows(train.fit, "seed", lambda v: _fit(seed=v), ("1", T), (1.5, T))
rows(train.fit, "shuffle", lambda v: _fit(shuffle=v), ("no", T))
rows(train.fit, "grad_clip", lambda v: _fit(grad_clip=v), (0.0, V), (INF, V), ("1", T))
rows(train.fit, "optimizer", lambda v: _fit(optimizer=v), ("adamx", V), (optim.SGD, T))
rows(train.fit, "metric", lambda v: _fit(metric=v), (3, T))
rows(train.fit, "callbacks", lambda v: _fit(callbacks=v), (lambda ctx, rec: None, T))
rows(train.fit, "callbacks[0]", lambda v: _fit(callbacks=[v]), (3, T))
rows(train.fit, "early_stopping", lambda v: _fit(early_stopping=v), (5, T))
rows(train.fit, "curriculum", lambda v: _fit(curriculum=v), ("easy first", T))
rows(train.fit, "scheduler", lambda v: _fit(scheduler=v), (0.5, T))
rows(train.fit, "progress", lambda v: _fit(progress=v), (1, T))
rows(train.evaluate, "model", lambda v: train.evaluate(v, F.mse_loss, _xy()), ("linear", T))
rows(train.evaluate, "data", lambda v: train.evaluate(_linear(), F.mse_loss, v), (torch.zeros(3), T))
rows(train.EarlyStopping, "monitor", lambda v: train.EarlyStopping(monitor=v), ("loss", V), (None, T))
rows(train.EarlyStopping, "patience", lambda v: train.EarlyStopping(patience=v), (0, V), (2.5, T))
rows(train.EarlyStopping, "min_delta", lambda v: train.EarlyStopping(min_delta=v), (-1.0, V), (NAN, V))
rows(train.EarlyStopping, "mode", lambda v: train.EarlyStopping(mode=v), ("up", V))
rows(train.EarlyStopping, "restore_best", lambda v: train.EarlyStopping(restore_best=v), ("yes", T))
rows(train.Curriculum, "strategy", lambda v: train.Curriculum(np.arange(4.0), strategy=v), ("hard", V))
rows(train.Curriculum, "stages", lambda v: train.Curriculum(np.arange(4.0), stages=v), (0, V), (2.5, T))
rows(train.Curriculum, "difficulty", train.Curriculum, (np.zeros((2, 2)), V), ([1.0, NAN], V), (["a"], T))
rows(train.InverseTimeDecay, "k", lambda v: train.InverseTimeDecay(optim.SGD(_params()), k=v), (-1, V), (NAN, V),
     ("1", T))
rows(train.SearchThenConverge, "tau", lambda v: train.SearchThenConverge(optim.SGD(_params()), tau=v), (0, V),
     ("5", T))
rows(train.History.from_csv, "text", train.History.from_csv, ("epoch,train_loss\n1,2\n", V),
     ("epoch,train_loss,val_loss,val_metric,lr,time,updates\n1,x,,,0.1,1,1\n", V), (3, T))
rows(train.History.from_json, "text", train.History.from_json, ("{", V), (3, T))

# ---- sgdlab.models -------------------------------------------------------------------------------

rows(models.LogisticRegression, "n_features", models.LogisticRegression, (0, V), (2.5, T), (True, T))
rows(models.LogisticRegression, "n_classes", lambda v: models.LogisticRegression(3, n_classes=v), (1, V), ("2", T))
rows(models.LogisticRegression, "sparse", lambda v: models.LogisticRegression(3, sparse=v), ("yes", T))
rows(models.MLP, "in_features", lambda v: models.MLP(v, out_features=2), (0, V), ("3", T))
rows(models.MLP, "hidden", lambda v: models.MLP(3, hidden=v, out_features=2), ("64", T))
rows(models.MLP, "hidden[1]", lambda v: models.MLP(3, hidden=(4, v), out_features=2), (0, V), (4.5, T))
rows(models.MLP, "out_features", lambda v: models.MLP(3, out_features=v), (None, V), (-1, V))
rows(models.MLP, "activation", lambda v: models.MLP(3, out_features=2, activation=v), ("swish", V))
rows(models.MLP, "dropout", lambda v: models.MLP(3, out_features=2, dropout=v), (1.0, V), (NAN, V))
rows(models.MLP, "batch_norm", lambda v: models.MLP(3, out_features=2, batch_norm=v), (1, T))
rows(models.SmallCNN, "channels", lambda v: models.SmallCNN(channels=v), ((), V), ("16", T))
rows(models.SmallCNN, "image_size", lambda v: models.SmallCNN(image_size=v), (3, V), (8.0, T))
rows(models.SmallCNN, "in_channels", lambda v: models.SmallCNN(in_channels=v), (0, V))
rows(models.SmallCNN, "n_classes", lambda v: models.SmallCNN(n_classes=v), (0, V))
rows(models.SmallCNN, "batch_norm", lambda v: models.SmallCNN(batch_norm=v), ("no", T))
rows(models.CharLM, "vocab_size", models.CharLM, (0, V), (5.0, T))
rows(models.CharLM, "hidden", lambda v: models.CharLM(5, hidden=v), (0, V), (1.5, T))
rows(models.CharLM, "cell", lambda v: models.CharLM(5, cell=v), ("rnn", V), (1, T))
rows(models.CharLM, "dropout", lambda v: models.CharLM(5, dropout=v), (1.5, V))
rows(models.CharLM, "embed_dim", lambda v: models.CharLM(5, embed_dim=v), (0, V))
rows(models.CharLM, "layers", lambda v: models.CharLM(5, layers=v), (0, V))
rows(models.CharLM.generate, "n", lambda v: models.CharLM(5, hidden=4).generate([0], v), (-1, V), (2.0, T))
rows(models.CharLM.generate, "temperature", lambda v: models.CharLM(5, hidden=4).generate([0], 2, temperature=v),
     (-0.5, V), (INF, V))
rows(models.CharVocab, "chars", models.CharVocab, ("", V), ("aba", V), (3, T))
rows(models.CharVocab.from_text, "text", models.CharVocab.from_text, ("", V), (None, T))

# ---- sgdlab.lab and gradcheck --------------------------------------------------------------------

rows(lab.minimize, "fun", lab.minimize, ("nope", V), (3, T))
rows(lab.minimize, "x0", lambda v: lab.minimize("beale", v, steps=1), ((9.0, 9.0), V), ((1.0,), V), ("a", T),
     ((NAN, 1.0), V))
rows(lab.minimize, "steps", lambda v: lab.minimize("beale", steps=v), (-1, V), (1.5, T), (np.float64(3), T))
rows(lab.minimize, "tol", lambda v: lab.minimize("beale", steps=1, tol=v), (-0.5, V), (NAN, V), ("0", T))
rows(lab.minimize, "seed", lambda v: lab.minimize("beale", steps=1, seed=v), ("0", T))
rows(lab.minimize, "optimizer", lambda v: lab.minimize("beale", steps=1, optimizer=v), ("nope", V), (3, T),
     (torch.nn.Linear, T))
rows(lab.minimize, "lr", lambda v: lab.minimize("beale", steps=1, lr=v), (-1.0, V))
rows(lab.get, "name", lab.get, ("nope", V), (None, T))
for fn in (lab.race, lab.plot, lab.animate):
    rows(fn, "function", lambda v, fn=fn: fn(v, steps=2), ("bealee", V), (1, T))
    rows(fn, "optimizers[1]", lambda v, fn=fn: fn("beale", ["sgd", v], steps=2), ("nope", V), (1, T))
    rows(fn, "steps", lambda v, fn=fn: fn("beale", ["sgd"], steps=v), (0, V), (2.5, T))
    rows(fn, "lr", lambda v, fn=fn: fn("beale", ["sgd"], steps=2, lr=v), ({"adam": 0.1}, V))
rows(lab.plot, "out", lambda v: lab.plot("beale", ["sgd"], steps=2, out=v), ("x.gif", V))
rows(lab.animate, "out", lambda v: lab.animate("beale", ["sgd"], steps=2, out=v), ("x.png", V))
rows(lab.animate, "max_frames", lambda v: lab.animate("beale", ["sgd"], steps=2, max_frames=v), (1, V), ("9", T))
rows(lab.animate, "fps", lambda v: lab.animate("beale", ["sgd"], steps=2, fps=v), (0, V))
rows(sgdlab.gradcheck, "fn", lambda v: sgdlab.gradcheck(v, torch.ones(2)), ("f", T))
rows(sgdlab.gradcheck, "x", lambda v: sgdlab.gradcheck(torch.sum, v), ([1.0, 2.0], T),
     (torch.ones(2, dtype=torch.complex128), V))
rows(sgdlab.gradcheck, "eps", lambda v: sgdlab.gradcheck(torch.sum, torch.ones(2), eps=v), (0, V), (INF, V))
rows(sgdlab.gradcheck, "rtol", lambda v: sgdlab.gradcheck(torch.sum, torch.ones(2), rtol=v), (-1, V), ("1", T))
rows(sgdlab.gradcheck, "floor", lambda v: sgdlab.gradcheck(torch.sum, torch.ones(2), floor=v), (NAN, V))
rows(sgdlab.gradcheck, "grad", lambda v: sgdlab.gradcheck(torch.sum, torch.ones(2), v), ("2x", T),
     (torch.ones(3), V))

# ---- sgdlab.data ---------------------------------------------------------------------------------

rows(data.load_libsvm, "path", data.load_libsvm, (3, T))
rows(data.load_libsvm, "n_features", lambda v: data.load_libsvm(__file__, n_features=v), (0, V), ("3", T))
rows(data.load_libsvm, "zero_based", lambda v: data.load_libsvm(__file__, zero_based=v), ("maybe", V), (1, T))
rows(data.sparse_classification, "n_samples", lambda v: data.sparse_classification(v, 10, 2), (0, V), (10.0, T))
rows(data.sparse_classification, "nnz_per_row", lambda v: data.sparse_classification(10, 10, v), (0, V))
rows(data.sparse_classification, "power", lambda v: data.sparse_classification(10, 10, 2, power=v), (NAN, V))
rows(data.low_rank_ratings, "rank", lambda v: data.low_rank_ratings(10, 10, v), (0, V), ("2", T))
rows(data.low_rank_ratings, "density", lambda v: data.low_rank_ratings(10, 10, 2, density=v), (0.0, V), (2.0, V))
rows(data.load_text, "name", data.load_text, ("bible", V), (3, T))
rows(data.text_notice, "name", data.text_notice, ("bible", V))

# ---- sgdlab.parallel -----------------------------------------------------------------------------

rows(parallel.hogwild, "X", lambda v: parallel.hogwild(v, np.ones(4)), ("X", T), (sp.csr_matrix((0, 3)), V))
rows(parallel.hogwild, "y", lambda v: parallel.hogwild(_sparse_xy()[0], v), (np.arange(40.0), V),
     (np.ones(3), V))
for arg, cases in {"loss": (("l1", V), (1, T)), "workers": ((0, V), ("2", T)), "epochs": ((0, V), (1.5, T)),
                   "lr": ((0.0, V), (INF, V), ("0.1", T)), "alpha": ((-1.0, V), (NAN, V)),
                   "decay": ((0.0, V), (1.5, V)), "lock": (("no", T),), "hot": ((-1, V),),
                   "fold_every": ((0, V),), "fit_intercept": ((1, T),), "l2": (("l1", V),),
                   "objective": (("each", V),)}.items():
    rows(parallel.hogwild, arg, lambda v, arg=arg: parallel.hogwild(*_sparse_xy(), **{arg: v}), *cases)
rows(parallel.hogwild_mf, "rank", lambda v: parallel.hogwild_mf(data.low_rank_ratings(20, 20, 2)[0], v), (0, V),
     (2.0, T))
rows(parallel.hogwild_mf, "workers", lambda v: parallel.hogwild_mf(data.low_rank_ratings(20, 20, 2)[0], 2, workers=v),
     (0, V))
rows(parallel.hogwild_mf, "ratings", lambda v: parallel.hogwild_mf(v, 2), ("ratings", T))
rows(data.parse_size, "size", data.parse_size, ("huge", V), (3, T))

# ---- sgdlab.distributed --------------------------------------------------------------------------

for fn in (distributed.downpour, distributed.delay_tolerant_adagrad, distributed.easgd, distributed.eamsgd,
           distributed.diloco, distributed.sync_sgd):
    call = lambda fn=fn, **kw: fn(_linear(), F.mse_loss, _xy(), **kw)  # noqa: E731
    rows(fn, "workers", lambda v, call=call: call(workers=v), (0, V), ("2", T), (17, V))
    rows(fn, "shards", lambda v, call=call: call(shards=v), (0, V))
    rows(fn, "epochs", lambda v, call=call: call(epochs=v), (0, V), (1.5, T))
    rows(fn, "batch_size", lambda v, call=call: call(batch_size=v), (0, V))
    rows(fn, "lr", lambda v, call=call: call(lr=v), (0.0, V), (NAN, V))
    rows(fn, "on_worker_failure", lambda v, call=call: call(on_worker_failure=v), ("ignore", V))
    rows(fn, "shard_timeout", lambda v, call=call: call(shard_timeout=v), (0.0, V), (INF, V))
    rows(fn, "model", lambda v, fn=fn: fn(v, F.mse_loss, _xy()), ("linear", T))
rows(distributed.downpour, "n_push", lambda v: distributed.downpour(_linear(), F.mse_loss, _xy(), n_push=v), (0, V))
rows(distributed.downpour, "optimizer", lambda v: distributed.downpour(_linear(), F.mse_loss, _xy(), optimizer=v),
     ("adamx", V))
rows(distributed.easgd, "tau", lambda v: distributed.easgd(_linear(), F.mse_loss, _xy(), tau=v), (0, V))
rows(distributed.easgd, "alpha", lambda v: distributed.easgd(_linear(), F.mse_loss, _xy(), alpha=v), (1.0, V))
rows(distributed.easgd, "synchronous", lambda v: distributed.easgd(_linear(), F.mse_loss, _xy(), synchronous=v),
     ("yes", T))
rows(distributed.eamsgd, "momentum", lambda v: distributed.eamsgd(_linear(), F.mse_loss, _xy(), momentum=v),
     (1.0, V))
rows(distributed.diloco, "inner_steps", lambda v: distributed.diloco(_linear(), F.mse_loss, _xy(), inner_steps=v),
     (0, V), (2.0, T))
rows(distributed.diloco, "outer_optimizer",
     lambda v: distributed.diloco(_linear(), F.mse_loss, _xy(), outer_optimizer=v), ("nesterov", V), (1, T))
rows(distributed.diloco, "outer_momentum",
     lambda v: distributed.diloco(_linear(), F.mse_loss, _xy(), outer_momentum=v), (1.0, V), (NAN, V))
rows(distributed.diloco, "outer_lr", lambda v: distributed.diloco(_linear(), F.mse_loss, _xy(), outer_lr=v), (0.0, V))
rows(distributed.simulate_workers, "algorithm", lambda v: distributed.simulate_workers(v, "digits_logreg"),
     ("sync", V), (1, T))
rows(distributed.simulate_workers, "workers", lambda v: distributed.simulate_workers("downpour", "digits_logreg",
                                                                                    workers=v), (0, V), (2.0, T))
rows(distributed.simulate_workers, "rounds", lambda v: distributed.simulate_workers("diloco", "digits_logreg",
                                                                                   rounds=v), (0, V))
rows(distributed.simulate_workers, "tau", lambda v: distributed.simulate_workers("downpour", "digits_logreg", tau=v),
     (4, V))
rows(distributed.simulate_workers, "problem", lambda v: distributed.simulate_workers("easgd", v), ("mnist", V))
rows(distributed.RayNodes, "nodes", lambda v: distributed.RayNodes(v), (0, V), ("2", T))
rows(distributed.RayNodes, "object_store_mb", lambda v: distributed.RayNodes(object_store_mb=v), (10, V))
rows(distributed.RayNodes, "timeout", lambda v: distributed.RayNodes(timeout=v), (0.0, V), (INF, V))
rows(distributed.serial_sgd, "epochs", lambda v: distributed.serial_sgd(_linear(), F.mse_loss, _xy(), epochs=v),
     (0, V))
rows(distributed.serial_sgd, "lr", lambda v: distributed.serial_sgd(_linear(), F.mse_loss, _xy(), lr=v), (-1.0, V))
rows(distributed.run, "algorithm", lambda v: distributed.run(v, "digits_logreg"), ("hogwild", V), (1, T))
rows(distributed.run, "problem", lambda v: distributed.run("serial", v), ("mnist", V), (3, T))
rows(distributed.run, "tau", lambda v: distributed.run("downpour", "digits_logreg", tau=v), (4, V))
rows(distributed.simulate_delays, "delay", lambda v: distributed.simulate_delays(_linear(), F.mse_loss, _xy(),
                                                                                delay=v), (-1, V), (1.5, T))
rows(distributed.simulate_delays, "server", lambda v: distributed.simulate_delays(_linear(), F.mse_loss, _xy(),
                                                                                 server=v), ("adam", V))
rows(distributed.Cluster, "connect_timeout", lambda v: distributed.Cluster(connect_timeout=v), (0.0, V), ("1", T))
rows(distributed.Cluster, "num_cpus", lambda v: distributed.Cluster(num_cpus=v), (0, V))
rows(distributed.probe, "timeout", lambda v: distributed.probe("127.0.0.1:1", v), (0.0, V), (NAN, V))
rows(distributed.shard_bounds, "shards", lambda v: distributed.shard_bounds(10, v), (0, V), (11, V), (2.0, T))
rows(distributed.shard_bounds, "size", lambda v: distributed.shard_bounds(v, 1), (0, V))
rows(distributed.OptimizerServer, "optimizer", lambda v: distributed.OptimizerServer(torch.zeros(3), v), ("x", V))
rows(distributed.OptimizerServer, "lr", lambda v: distributed.OptimizerServer(torch.zeros(3), "sgd", lr=v), (-1.0, V))
rows(distributed.AdaRevisionServer, "initial_accumulator",
     lambda v: distributed.AdaRevisionServer(torch.zeros(3), initial_accumulator=v), (0.0, V))
rows(distributed.ElasticServer, "alpha", lambda v: distributed.ElasticServer(torch.zeros(3), alpha=v), (1.0, V),
     (0.0, V))

# ---- sgdlab.problems and sgdlab.compare ----------------------------------------------------------

rows(problems.get, "problem", problems.get, ("mnist", V), ("libsvm:", V), (3, T))
rows(problems.libsvm_problem, "path", problems.libsvm_problem, (3, T))
rows(compare.compare, "mode", lambda v: compare.compare(mode=v), ("fast", V))
rows(compare.compare, "optimizers[0]", lambda v: compare.compare(optimizers=[v]), ("adamx", V))
rows(compare.compare, "problems[0]", lambda v: compare.compare(problems=[v]), (3, T))
rows(compare.compare, "seeds", lambda v: compare.compare(seeds=v), (0, V), (2.0, T))
rows(compare.compare, "jobs", lambda v: compare.compare(jobs=v), (0, V))
rows(compare.compare, "grid[0]", lambda v: compare.compare(grid=[v]), (-1.0, V), (INF, V))
rows(compare.compare, "convention", lambda v: compare.compare(convention=v), ("jax", V))
rows(compare.compare, "animations", lambda v: compare.compare(animations=v), ("no", T))
rows(compare.compare, "progress", lambda v: compare.compare(progress=v), (1, T))
rows(compare.compare, "store", lambda v: compare.compare(store=v), (3, T))
rows(compare.compare, "out", lambda v: compare.compare(out=v), (None, T))
rows(compare.settings, "problems", lambda v: compare.settings(v, ["sgd"]), ([], V), ("digits_mlp", T))
rows(compare.settings, "optimizers", lambda v: compare.settings(["digits_mlp"], v), ([], V))
rows(compare.run_compare, "seeds", lambda v: compare.run_compare(compare.Store("s.sqlite"), ["digits_mlp"], ["sgd"],
                                                                   seeds=v), (0, V))
rows(compare.run_compare, "store", lambda v: compare.run_compare(v, ["digits_mlp"], ["sgd"]), ("results", T))
rows(compare.Store, "path", compare.Store, (3, T), ("/etc/passwd", V))
rows(compare.performance_profile, "r_max", lambda v: compare.performance_profile({"p": {"a": 1.0}}, v), (1.0, V),
     (INF, V))
rows(compare.performance_profile, "times", compare.performance_profile, ([1.0], T))
rows(compare.performance_profile, "times['p']['a']", compare.performance_profile, ({"p": {"a": -1.0}}, V))
rows(compare.analyze, "rel_tol", lambda v: compare.analyze([], [], rel_tol=v), (-0.1, V), (NAN, V))
rows(compare.analyze, "problems[0]", lambda v: compare.analyze([], v), ([3], T))
rows(compare.write_report, "out_dir", lambda v: compare.write_report([], [], v, animations=False), (__file__, V))
rows(compare.write_report, "config", lambda v: compare.write_report([], [], "/tmp/x", config=v, animations=False),
     ([1], T))
rows(compare.write_report, "animations", lambda v: compare.write_report([], [], "/tmp/x", animations=v), ("no", T))
rows(compare.recommend, "analysis", compare.recommend, ({}, T))
rows(compare.run_trial, "trial", compare.run_trial, ("spec", T))
rows(compare.protocol.grid, "mode", compare.protocol.grid, ("fast", V), (1, T))
rows(problems.resolve, "problem", problems.resolve, ("mnist", V), (3, T), ("no_such_file.py", V))
rows(problems.is_builtin, "problem", problems.is_builtin, ("digits_mlp", T))
rows(compare.compare, "tuning", lambda v: compare.compare(tuning=v), ("random", V))
rows(compare.compare, "trials", lambda v: compare.compare(trials=v), (0, V))
rows(compare.compare, "score_by", lambda v: compare.compare(score_by=v), ("epochs", V))
rows(compare.analyze, "score_by", lambda v: compare.analyze([], [], score_by=v), ("epochs", V))
rows(compare.search_space, "optimizer", lambda v: compare.search_space(v, {"lr": 0.1}), (3, T))
rows(compare.search_space, "defaults", lambda v: compare.search_space("sgd", v), ([0.1], T))
rows(compare.Problem, "epochs", lambda v: compare.Problem.from_model(_linear, F.mse_loss, _xy(), _xy(), epochs=v),
     (0, V), ("3", T))
rows(compare.Problem, "model_fn", lambda v: compare.Problem.from_model(v, F.mse_loss, _xy(), _xy()), (3, T))
rows(compare.Problem, "target", lambda v: compare.Problem.from_model(_linear, F.mse_loss, _xy(), _xy(), target=v),
     (INF, V))
rows(compare.Problem, "train", lambda v: compare.Problem.from_model(_linear, F.mse_loss, v, _xy()), ([1, 2, 3], T))

#: Public callables that take arguments but are not walked, and why.
NOT_WALKED = {
    "sgdlab.optim.FlatOptimizer": "the base class: walked through each of the optimizers",
    "sgdlab.lab.names": "takes no argument",
    "sgdlab.data.available_texts": "takes no argument",
    "sgdlab.problems.available": "takes no argument",
    "sgdlab.parallel.release_threads": "takes no argument",
    "sgdlab.distributed.Server": "the base of the three servers walked",
    "sgdlab.train.Callback": "a base class with hooks that do nothing",
    **{f"{m}.{name}": "a record of results or settings, built by sgdlab (a dataclass without checks)"
       for m, names in {"sgdlab": ["GradCheckResult"], "sgdlab.lab": ["OptimizeResult", "TestFunction"],
                        "sgdlab.parallel": ["HogwildResult", "MFResult"],
                        "sgdlab.distributed": ["Curve", "DistributedResult"],
                        "sgdlab.problems": ["Budget", "Problem", "Task"],
                        "sgdlab.train": ["TrainContext", "History"],
                        "sgdlab.compare": ["Analysis", "CompareOutput", "CompareResult", "Planned", "Settings",
                                           "TrialSpec"]
                        }.items() for name in names},
}


@pytest.mark.parametrize("target, arg, bad, error, call", ROWS)
def test_a_bad_argument_is_refused_naming_the_argument_and_the_value(target, arg, bad, error, call, tmp_path,
                                                                       monkeypatch):
    monkeypatch.chdir(tmp_path)  # a call that got past its checks must not write where the tests run
    if error is None:
        call(bad)  # None means "the convention's default": accepted
        return
    with pytest.raises(error) as info:
        call(bad)
    assert isinstance(info.value, ArgumentError), f"{type(info.value).__mro__} is not an ArgumentError"
    message = str(info.value)
    assert message.startswith(f"Invalid {arg}: "), message
    assert GRAMMAR.match(message), message
    if isinstance(bad, (int, float, str)) and not isinstance(bad, bool) and len(repr(bad)) < 40:
        # the value, or for the text of a file the line that is wrong
        assert repr(bad) in message or re.search(r"line \d+", message), message


#: ``Invalid NAME: VALUE (expected WHAT)``, or ``Invalid NAME: VALUE of type T (expected WHAT)``
GRAMMAR = re.compile(r"Invalid [\w\[\]'.\"]+: .+\(expected .+\)", re.S)


def _public_callables():
    for module in ("sgdlab", "sgdlab.optim", "sgdlab.train", "sgdlab.models", "sgdlab.lab", "sgdlab.data",
                   "sgdlab.parallel", "sgdlab.distributed", "sgdlab.problems", "sgdlab.compare"):
        m = importlib.import_module(module)
        for name in m.__all__:
            obj = getattr(m, name)
            if inspect.ismodule(obj) or not callable(obj):
                continue
            yield f"{module}.{name}", obj


def test_every_public_callable_is_walked():
    walked = {row.values[0] for row in ROWS}
    missing = [name for name, obj in _public_callables()
               if obj not in walked and name not in NOT_WALKED
               and not (inspect.isclass(obj) and not inspect.signature(obj).parameters)]
    assert not missing, f"public callables with no row of bad values: {missing}"


def test_numpy_integers_and_floats_are_accepted_where_python_ones_are():
    h = _fit(epochs=np.int64(2), batch_size=np.int32(8), seed=np.int64(3), grad_clip=np.float32(1.0))
    assert len(h) == 2
    res = lab.minimize("beale", steps=np.int64(3), tol=np.float64(0.0), optimizer="adam", lr=np.float32(0.01))
    assert res.nit == 3
    opt = optim.Adam(_params(), lr=np.float64(1e-3), betas=(np.float32(0.9), 0.999))
    assert opt.param_groups[0]["lr"] == 1e-3 and type(opt.param_groups[0]["betas"][0]) is float
    assert models.MLP(np.int64(3), hidden=(np.int64(4),), out_features=np.int32(2)).out_features == 2
    assert compare.settings(["digits_mlp"], ["sgd"], seeds=np.int64(2), jobs=np.int64(1)).seeds == 2
    assert distributed.shard_bounds(np.int64(10), np.int64(2)) == [0, 5, 10]
