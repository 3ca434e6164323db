"""The tuning protocol: the grids, the trial identity, the learning-rate selection, the reruns."""

import math

import numpy as np
import pytest

from sgdlab.compare import protocol
from sgdlab.compare.protocol import TrialSpec


def test_full_grid_is_deepobs_36_log_spaced_values_from_1e_minus5_to_1e2():
    np.testing.assert_allclose(protocol.grid("full"), np.logspace(-5, 2, 36), rtol=1e-5)


def test_quick_grid_is_one_value_per_decade():
    np.testing.assert_allclose(np.diff(np.log10(protocol.grid("quick"))), 1.0)


def test_unknown_mode_is_named():
    with pytest.raises(ValueError, match="'slow'"):
        protocol.grid("slow")


def test_trial_key_is_stable_and_ignores_float_noise_in_lr():
    a = TrialSpec("p", "adam", 0.1, 0, 5, 32)
    assert a.key == TrialSpec("p", "adam", 0.1 + 1e-17, 0, 5, 32).key
    assert a.key == TrialSpec("p", "adam", 0.1, 0, 5, 32, "paper").key


@pytest.mark.parametrize("field,value", [("problem", "q"), ("optimizer", "sgd"), ("lr", 0.2), ("seed", 1),
                                         ("epochs", 6), ("batch_size", None), ("convention", "torch")])
def test_trial_key_changes_with_every_field(field, value):
    base = TrialSpec("p", "adam", 0.1, 0, 5, 32)
    other = TrialSpec(**{**base.as_dict(), field: value})
    assert other.key != base.key


def _rec(lr, value, status="ok", seed=0):
    return {"lr": lr, "seed": seed, "status": status, "final_val_metric": value}


def test_select_best_takes_the_highest_accuracy():
    records = [_rec(1e-3, 0.80), _rec(1e-2, 0.95), _rec(1e-1, 0.90)]
    assert protocol.select_best(records, higher_is_better=True)["lr"] == 1e-2


def test_select_best_takes_the_lowest_loss():
    records = [_rec(1e-3, 0.80), _rec(1e-2, 0.95), _rec(1e-1, 0.90)]
    assert protocol.select_best(records, higher_is_better=False)["lr"] == 1e-3


def test_select_best_ranks_diverged_and_failed_below_any_finished_trial():
    records = [_rec(1e-1, None, "diverged"), _rec(1.0, None, "error"), _rec(1e-4, 1e9)]
    assert protocol.select_best(records, higher_is_better=False)["lr"] == 1e-4


def test_select_best_breaks_ties_towards_the_smaller_lr():
    records = [_rec(1e-1, 0.9), _rec(1e-3, 0.9), _rec(1e-2, 0.9)]
    assert protocol.select_best(records, higher_is_better=True)["lr"] == 1e-3


def test_select_best_when_all_diverged_returns_the_smallest_lr():
    records = [_rec(1.0, None, "diverged"), _rec(1e-2, math.nan, "ok"), _rec(1e-1, None, "diverged")]
    assert protocol.select_best(records, higher_is_better=True)["lr"] == 1e-2


def test_select_best_judges_only_the_seed_0_tuning_trials():
    records = [_rec(1e-3, 0.5), _rec(1e-2, 0.6), _rec(1e-3, 0.99, seed=1)]
    assert protocol.select_best(records, higher_is_better=True)["lr"] == 1e-2
    assert protocol.select_best([], higher_is_better=True) is None


def test_reruns_use_seeds_1_to_n_minus_1_at_the_selected_trial():
    best = TrialSpec("p", "adam", 0.01, 0, 5, 32, "torch")
    reruns = protocol.rerun_specs(best, 4)
    assert [s.seed for s in reruns] == [1, 2, 3]
    assert {(s.lr, s.epochs, s.batch_size, s.convention) for s in reruns} == {(0.01, 5, 32, "torch")}
    assert protocol.rerun_specs(best, 1) == []
