"""AlgoPerf's scoring, against a hand computation of its formula (scoring/performance_profile.py and
compute_speedups.py of mlcommons/algorithmic-efficiency) on made-up times."""

import math

import pytest

from sgdlab.compare.scoring import performance_profile, ratios, scores, speedups

INF = math.inf
# made-up steps to target: problems p1..p4 x optimizers x, y, z
TIMES = {"p1": {"x": 100, "y": 150, "z": 500},   # z: 5x the fastest, beyond r_max = 4
         "p2": {"x": 300, "y": 100, "z": 250},
         "p3": {"x": INF, "y": 400, "z": 400},   # x never reaches the target
         "p4": {"x": INF, "y": INF, "z": INF}}   # nobody does


def algoperf_by_hand(times, r_max=4.0, num_points=100):
    """The formula written out, loop by loop: 4x rule, ratio to the fastest, rho on np.linspace(1, 4, 100),
    trapezoid, normalised by r_max - 1."""
    problems = list(times)
    names = sorted({s for p in times.values() for s in p})
    best = {p: min(times[p].values()) for p in problems}
    ratio = {}
    for p in problems:
        for s in names:
            t = times[p][s]
            if t > r_max * best[p]:
                t = INF
            ratio[p, s] = t / best[p] if math.isfinite(t) and math.isfinite(best[p]) else INF
    taus = [1.0 + i * (r_max - 1.0) / (num_points - 1) for i in range(num_points)]
    out = {}
    for s in names:
        rho = [sum(ratio[p, s] <= tau for p in problems) / len(problems) for tau in taus]
        area = sum((rho[i] + rho[i + 1]) / 2 * (taus[i + 1] - taus[i]) for i in range(num_points - 1))
        out[s] = area / (r_max - 1.0)
    return out


def test_the_score_is_algoperfs_formula_computed_by_hand():
    got = performance_profile(TIMES).scores
    expected = algoperf_by_hand(TIMES)
    assert got.keys() == expected.keys()
    for s in expected:
        assert got[s] == pytest.approx(expected[s], abs=1e-12), s


def test_the_hand_computation_itself_on_one_problem():
    # y at ratio 2 on a 100-point grid: rho is 0 below tau = 2 (point 33 of 0..99) and 1 from it on, so the
    # trapezoid is 66 full intervals plus half of the one ending at tau = 2
    dx = 3 / 99
    assert algoperf_by_hand({"p": {"x": 10, "y": 20}})["y"] == pytest.approx((66 + 0.5) * dx / 3, abs=1e-12)


def test_a_time_beyond_four_times_the_fastest_counts_as_never():
    r = ratios(performance_profile(TIMES).times)
    assert r[0].tolist() == [1.0, 1.5, INF]           # p1: z took 5x
    assert r[1].tolist() == [3.0, 1.0, 2.5]
    assert r[2].tolist() == [INF, 1.0, 1.0]
    assert r[3].tolist() == [INF, INF, INF]


def test_a_problem_nobody_solves_still_counts_in_n():
    with_p4 = performance_profile(TIMES).scores
    without = performance_profile({p: t for p, t in TIMES.items() if p != "p4"}).scores
    for s in with_p4:
        assert with_p4[s] == pytest.approx(without[s] * 3 / 4, abs=1e-12)


def test_fastest_everywhere_scores_one_and_never_scores_zero():
    assert scores([[1.0, INF], [2.0, INF]]).tolist() == [1.0, 0.0]


def test_speedups_are_the_geometric_mean_with_never_as_the_budget_plus_one():
    times = [[100.0, 50.0], [INF, 400.0], [200.0, INF]]  # baseline (column 0), opt
    budgets = [1000.0, 1000.0, 999.0]
    # by hand: 100/50 = 2, 1001/400, 200/1000; their geometric mean
    expected = (2.0 * (1001 / 400) * (200 / 1000)) ** (1 / 3)
    got = speedups(times, budgets, baseline=0)
    assert got[0] == pytest.approx(1.0) and got[1] == pytest.approx(expected, rel=1e-12)


def test_bad_r_max_and_bad_times_are_refused():
    with pytest.raises(ValueError, match="r_max"):
        performance_profile(TIMES, r_max=1.0)
    with pytest.raises(ValueError, match=r"times\['p'\]\['x'\]"):
        performance_profile({"p": {"x": float("nan")}})
