"""The rulesets: the trial identity, the plans of external, defaults and lr-grid, the selection, the
optimizer groups."""

import math

import numpy as np
import pytest

from sgdlab.compare import protocol
from sgdlab.compare.protocol import TrialSpec
from sgdlab.problems.base import Budget

B = Budget(5, 32)


def spec(**kw):
    args = {"problem": "p", "problem_key": "k1", "optimizer": "adam", "hparams": {"lr": 0.1, "betas": (0.9, 0.999)},
            "seed": 0, "budget": B, "convention": "paper"}
    args.update(kw)
    return TrialSpec.make(**args)


def test_full_grid_is_deepobs_36_log_spaced_values_from_1e_minus5_to_1e2():
    np.testing.assert_allclose(protocol.grid("full"), np.logspace(-5, 2, 36), rtol=1e-5)


def test_quick_grid_is_one_value_per_decade():
    np.testing.assert_allclose(np.diff(np.log10(protocol.grid("quick"))), 1.0)


def test_unknown_mode_and_ruleset_are_named():
    with pytest.raises(ValueError, match="'slow'"):
        protocol.grid("slow")
    with pytest.raises(ValueError, match="'random'"):
        protocol.default_seeds("quick", "random")


def test_trial_key_is_stable_and_ignores_float_noise_and_the_problems_name():
    a = spec()
    assert a.key == spec(hparams={"lr": 0.1 + 1e-17, "betas": (0.9, 0.999)}).key
    assert a.key == spec(problem="renamed").key  # the fingerprint identifies the problem


@pytest.mark.parametrize("field, value", [("problem_key", "k2"), ("optimizer", "sgd"),
                                          ("hparams", {"lr": 0.2, "betas": (0.9, 0.999)}),
                                          ("hparams", {"lr": 0.1, "betas": (0.8, 0.999)}), ("seed", 1),
                                          ("budget", Budget(6, 32)), ("budget", Budget(5, None)),
                                          ("convention", "torch")])
def test_trial_key_changes_with_every_field_of_its_identity(field, value):
    assert spec(**{field: value}).key != spec().key


def test_external_plans_studies_of_quasirandom_trials_each_from_its_studys_seed():
    plan = protocol.external_plan("p", "k", "adam", "paper", B, studies=3, trials=4)
    assert [(t.study, t.trial, t.spec.seed) for t in plan] == [(s, k, s) for s in range(3) for k in range(4)]
    assert len({t.spec.key for t in plan}) == 12 and {t.tuning for t in plan} == {"external"}
    assert all(t.spec.epochs == 5 and t.spec.batch_size == 32 for t in plan)


def test_defaults_plans_one_run_per_seed_at_the_defaults_with_one_and_a_half_the_budget():
    plan = protocol.defaults_plan("p", "k", "adam", "paper", Budget(5, 32), runs=3)
    assert [t.spec.seed for t in plan] == [0, 1, 2]
    assert {t.spec.epochs for t in plan} == {8}  # ceil(1.5 * 5)
    assert plan[0].spec.params == {"lr": 0.001, "betas": (0.9, 0.999), "eps": 1e-08, "weight_decay": 0.0}


def test_lr_grid_plans_the_grid_at_seed_0_then_reruns_the_selected_trial():
    plan = protocol.lr_grid_plan("p", "k", "sgd", "paper", B, [1e-3, 1e-1])
    assert [(t.spec.lr, t.spec.seed, t.phase) for t in plan] == [(1e-3, 0, "tune"), (1e-1, 0, "tune")]
    reruns = protocol.rerun_plan(plan[1], 4)
    assert [(t.spec.lr, t.spec.seed, t.phase) for t in reruns] == [(0.1, 1, "rerun"), (0.1, 2, "rerun"),
                                                                    (0.1, 3, "rerun")]


def test_an_optimizer_without_the_convention_runs_under_its_papers():
    assert protocol.effective_convention("qhm", "torch") == "paper"
    assert protocol.effective_convention("adam", "torch") == "torch"
    assert protocol.external_plan("p", "k", "qhm", "torch", B, 1, 1)[0].spec.convention == "paper"


def test_the_baselines_defaults_are_its_own():
    from sgdlab.compare import baseline

    assert protocol.optimizer_defaults("baseline", "paper") == baseline.DEFAULTS


def _rec(lr, value, status="ok", trial=0):
    return {"hparams": {"lr": lr}, "status": status, "final_val_metric": value, "trial": trial}


def test_select_best_takes_the_highest_accuracy_and_the_lowest_loss():
    records = [_rec(1e-3, 0.80), _rec(1e-2, 0.95), _rec(1e-1, 0.90)]
    assert protocol.select_best(records, higher_is_better=True)["hparams"]["lr"] == 1e-2
    assert protocol.select_best(records, higher_is_better=False)["hparams"]["lr"] == 1e-3


def test_select_best_ranks_diverged_and_failed_below_any_finished_trial():
    records = [_rec(1e-1, None, "diverged"), _rec(1.0, None, "error"), _rec(1e-4, 1e9)]
    assert protocol.select_best(records, higher_is_better=False)["hparams"]["lr"] == 1e-4


def test_select_best_breaks_ties_towards_the_smaller_lr():
    records = [_rec(1e-1, 0.9), _rec(1e-3, 0.9), _rec(1e-2, 0.9)]
    assert protocol.select_best(records, higher_is_better=True)["hparams"]["lr"] == 1e-3


def test_select_best_when_all_diverged_returns_the_smallest_lr():
    records = [_rec(1.0, None, "diverged"), _rec(1e-2, math.nan, "ok"), _rec(1e-1, None, "diverged")]
    assert protocol.select_best(records, higher_is_better=True)["hparams"]["lr"] == 1e-2
    assert protocol.select_best([], higher_is_better=True) is None


def test_optimizer_groups_and_names_expand_in_order_each_once():
    from sgdlab import optim

    assert protocol.select_optimizers("all") == tuple(optim.available())
    assert protocol.select_optimizers(["adam", "sgd", "adam"]) == ("adam", "sgd")
    assert set(protocol.select_optimizers("quick")) <= set(optim.available())
    assert "adamw" in protocol.select_optimizers("modern")
    with pytest.raises(ValueError, match="Invalid optimizers\\[1\\]: 'adamm'"):
        protocol.select_optimizers(["sgd", "adamm"])
