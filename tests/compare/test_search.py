"""The search spaces of --tuning external: chosen by each hyper-parameter's name around its default,
sampled on a scrambled Halton sequence per study."""

import math

import numpy as np
import pytest
import torch

from sgdlab import optim
from sgdlab.compare.protocol import optimizer_defaults
from sgdlab.compare.search import search_space

ADAM = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0}


def _bounds(space):
    return {c.name: (c.low, c.high, c.complement) for c in space.coordinates}


def test_adams_space_by_hand():
    b = _bounds(search_space("adam", ADAM))
    assert b["lr"] == pytest.approx((1e-5, 1e-1, False))
    assert b["betas[0]"][:2] == pytest.approx((0.01, 1.0)) and b["betas[0]"][2]   # 1 - beta1 in [0.01, 1]
    assert b["betas[1]"][:2] == pytest.approx((1e-4, 1e-2))                        # beta2 in [0.99, 0.9999]
    assert b["eps"] == pytest.approx((1e-8, 1e-4, False))
    assert b["weight_decay"] == pytest.approx((1e-6, 1e-3, False))                 # default 0


def test_a_positive_weight_decay_is_searched_a_decade_either_side():
    assert _bounds(search_space("adamw", {**ADAM, "weight_decay": 1e-2}))["weight_decay"][:2] == pytest.approx((1e-3, 0.1))


def test_any_optimizer_declaring_these_names_is_searched_and_others_keep_their_default():
    # a made-up modern optimizer: its names decide, not its class
    space = search_space("new", {"lr": 0.02, "momentum": 0.95, "ns_steps": 5, "alpha": 5.0, "weight_decay": 0.1})
    assert space.searched == ("lr", "momentum", "weight_decay")
    for point in space.points(4, study=0):
        assert point["ns_steps"] == 5 and point["alpha"] == 5.0
        assert 2e-4 <= point["lr"] <= 2.0 and 0.5 <= point["momentum"] <= 0.995


def test_muons_adamw_rate_is_searched_as_a_learning_rate():
    # Muon's defaults under "paper": its AdamW groups (every vector, e.g. a 2-D test point) at 3e-4
    b = _bounds(search_space("muon", optimizer_defaults("muon", "paper")))
    assert b["lr"][:2] == pytest.approx((2e-4, 2.0)) and b["adamw_lr"][:2] == pytest.approx((3e-6, 3e-2))


@pytest.mark.parametrize("defaults, kept", [
    ({"lr": None, "betas": (0.9, 0.99)}, "lr"),               # Adafactor-like: no learning rate
    ({"lr": 0.1, "betas": (0.0, 0.9, 0.99)}, "betas"),         # AggMo's three betas
    ({"lr": 1e-3, "momentum": 0.0}, "momentum"),               # RMSprop without momentum stays without
])
def test_a_default_of_another_shape_is_kept(defaults, kept):
    space = search_space("x", defaults)
    assert kept not in space.searched
    assert all(p[kept] == defaults[kept] for p in space.points(3, 0))


def test_every_registered_optimizer_searches_at_least_its_learning_rate():
    for name in optim.available():
        space = search_space(name, optimizer_defaults(name, "paper"))
        assert "lr" in space.searched, name
        for point in space.points(2, 0):  # the optimizer accepts every point it is given
            optim.create(name, [torch.nn.Parameter(torch.zeros(2))], **point)


def test_a_study_is_reproducible_and_studies_differ():
    space = search_space("adam", ADAM)
    assert space.points(4, 0) == space.points(4, 0)
    assert space.points(4, 0) != space.points(4, 1)


def test_a_studys_first_trials_spread_over_the_learning_rates_range():
    # the first coordinate is the base-2 van der Corput sequence, scrambled: 2 points fall in opposite
    # halves of the 4 decades, 4 points in the 4 quarters (one decade each)
    for study in range(3):
        lrs = [p["lr"] for p in search_space("adam", ADAM).points(4, study)]
        position = [(math.log10(lr) + 5) / 4 for lr in lrs]  # in [0, 1) across [1e-5, 1e-1)
        assert sorted(int(2 * u) for u in position[:2]) == [0, 1]
        assert sorted(int(4 * u) for u in position) == [0, 1, 2, 3]


def test_the_three_studies_try_nine_different_learning_rates():
    lrs = {p["lr"] for s in range(3) for p in search_space("adam", ADAM).points(3, s)}
    assert len(lrs) == 9 and all(1e-5 <= lr <= 1e-1 for lr in lrs)


def test_without_anything_to_search_a_study_is_one_trial_at_the_defaults():
    space = search_space("x", {"centered": False})
    assert space.points(5, 2) == [{"centered": False}]


def test_values_keep_six_significant_digits():
    for p in search_space("adam", ADAM).points(4, 0):
        assert float(f"{p['lr']:.6g}") == p["lr"]
        assert np.all(np.array(p["betas"]) < 1)
