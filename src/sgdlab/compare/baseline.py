"""The baseline of every comparison: AlgoPerf's NAdamW with linear warm-up and cosine decay.

AlgoPerf (Dahl et al. 2023) scores submissions against a NAdamW baseline; ``sgdlab compare`` runs the
same recipe in every comparison, as one more competitor named ``"baseline"``, and reports each
optimizer's speed-up over it. It is built from torch, outside the library under test:

* ``torch.optim.NAdam(params, lr, betas, eps, weight_decay, decoupled_weight_decay=True,
  momentum_decay=inf)``: Dozat's NAdam with AdamW's decoupled weight decay (each step first shrinks
  theta by ``lr * weight_decay``). ``momentum_decay=inf`` takes torch's momentum schedule
  ``mu_t = beta1 (1 - 0.5 * 0.96^(t * momentum_decay))`` to its limit ``mu_t = beta1``: AlgoPerf's
  NAdamW has no schedule on beta1 (with torch's default 0.004, mu_t would stay near beta1 / 2 for
  the first few thousand steps, which is all a quick trial has). What remains different from
  AlgoPerf's own NAdamW is the bias correction of the momentum term (1 - beta1^(t+1) against
  1 - beta1^t), which fades within a few dozen steps;
* the learning rate: ``torch.optim.lr_scheduler.LinearLR`` from 1e-10 x lr to lr over the first
  ``warmup_factor`` of the trial's steps, then ``CosineAnnealingLR`` down to 0 at its last step, joined
  by ``SequentialLR`` and stepped after every optimizer step: AlgoPerf's ``pytorch_cosine_warmup``,
  with the trial's step budget as its ``step_hint``.

Its hyper-parameters default to AlgoPerf's self-tuning baseline (``HPARAMS`` of
``prize_qualification_baselines/self_tuning/pytorch_nadamw_full_budget.py``, dropout aside, which is
the model's): lr 0.00175, beta1 1 - 0.0673, beta2 0.9955, weight decay 0.0812, warm-up 2%. Under
``--tuning external`` the name rules of :mod:`sgdlab.compare.search` search lr, betas, eps and weight
decay around these, as for any optimizer; the warm-up has no rule and stays at 2%.

>>> import torch
>>> params = [torch.nn.Parameter(torch.ones(2))]
>>> opt, sched = make(params, total_steps=100, **DEFAULTS)
>>> type(opt).__name__, opt.defaults["decoupled_weight_decay"], type(sched).__name__
('NAdam', True, 'SequentialLR')
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ..train.callbacks import Callback

#: The baseline's name in the store and the report.
BASELINE = "baseline"
#: AlgoPerf's self-tuning NAdamW baseline (its HPARAMS, without the model's dropout).
DEFAULTS: dict[str, Any] = {
    "lr": 0.0017486387539278373,
    "betas": (1.0 - 0.06733926164, 0.9955159689799007),
    "eps": 1e-8,
    "weight_decay": 0.08121616522670176,
    "warmup_factor": 0.02,
}
TITLE = "baseline (AlgoPerf's NAdamW: torch.optim.NAdam, decoupled weight decay, warm-up + cosine)"


def make(params: Any, total_steps: int, *, lr: float, betas: tuple[float, float], eps: float,
         weight_decay: float, warmup_factor: float) -> tuple[torch.optim.Optimizer, Any]:
    """The baseline's optimizer over ``params`` and its learning-rate schedule for a run of
    ``total_steps`` optimizer steps (step the schedule after each one: :class:`StepEveryBatch`)."""
    opt = torch.optim.NAdam(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                            decoupled_weight_decay=True, momentum_decay=math.inf)
    warmup = max(1, int(warmup_factor * total_steps))
    ramp = torch.optim.lr_scheduler.LinearLR(opt, start_factor=1e-10, end_factor=1.0, total_iters=warmup)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(total_steps - warmup, 1))
    return opt, torch.optim.lr_scheduler.SequentialLR(opt, schedulers=[ramp, cosine], milestones=[warmup])


class StepEveryBatch(Callback):
    """A callback of ``sgdlab.train.fit`` that steps a learning-rate schedule after every optimizer
    step (fit's own ``scheduler`` steps once per epoch)."""

    def __init__(self, scheduler: Any) -> None:
        self.scheduler = scheduler

    def on_batch_end(self, ctx: Any, loss: float) -> None:
        self.scheduler.step()
