"""The statistics of sgdlab compare, each against a hand computation on a small made-up record set."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sgdlab.compare.analysis import (analyze, lr_cell_widths, lr_sensitivity, performance_profile, rank,
                                   recommend, summarize_pair, tuneability)
from sgdlab.problems.base import Budget, Problem


def problem(name="p", metric="accuracy", target=0.8, tags=()):
    return Problem(name, name.title(), f"Problem {name}.", metric, metric == "accuracy", target,
                   Budget(4, 8), Budget(4, 8), builder=lambda seed: None, tags=tuple(tags))


def rec(opt, lr, seed, curve, *, prob="p", status="ok", test=None, per_epoch=10):
    """A trial record whose validation metric follows ``curve`` (one value per finished epoch)."""
    history = [{"epoch": e, "updates": per_epoch * e, "train_loss": 1.0, "val_loss": 1.0,
                "val_metric": v, "time": 0.1 * e} for e, v in enumerate(curve, start=1)]
    done = status == "ok"
    return {"key": f"{prob}/{opt}/{lr}/{seed}", "problem": prob, "optimizer": opt, "lr": lr,
            "seed": seed, "epochs": 4, "batch_size": 8, "convention": "paper",
            "phase": "tune" if seed == 0 else "rerun", "status": status,
            "error": "boom" if status == "error" else None, "history": history,
            "final_val_metric": curve[-1] if done else None,
            "final_test_metric": (curve[-1] if test is None else test) if done else None,
            "final_test_loss": 0.1 if done else None, "wall_time": 1.0, "sgdlab_version": "0",
            "torch_version": "0", "created": "2026-11-30T00:00:00"}


# --- one pair --------------------------------------------------------------------------------------

def test_selected_lr_is_the_best_tuning_trial_and_finals_are_all_seeds_at_it():
    records = [rec("adam", 0.01, 0, [0.5, 0.8]), rec("adam", 0.1, 0, [0.6, 0.9]),
               rec("adam", 1.0, 0, [0.3], status="diverged"),
               rec("adam", 0.1, 1, [0.7, 0.85]), rec("adam", 0.1, 2, [0.6, 0.88])]
    s = summarize_pair(records, problem())
    assert s.lr == 0.1
    assert [r["seed"] for r in s.final_records] == [0, 1, 2]
    assert s.seeds == 3 and s.tuning_trials == 3 and s.tuning_diverged == 1


def test_test_metric_mean_and_sample_std_over_the_final_seeds():
    tests = [0.90, 0.92, 0.97]
    records = [rec("sgd", 0.1, seed, [0.9], test=t) for seed, t in enumerate(tests)]
    s = summarize_pair(records, problem())
    # by hand: mean 0.93; deviations -0.03, -0.01, 0.04; sum of squares 0.0026 over n - 1 = 2
    assert s.test_mean == pytest.approx(0.93, abs=1e-12)
    assert s.test_std == pytest.approx(math.sqrt(0.0026 / 2), abs=1e-12)


def test_std_is_none_with_one_finished_seed_and_diverged_seeds_are_counted_apart():
    records = [rec("sgd", 0.1, 0, [0.9], test=0.91), rec("sgd", 0.1, 1, [0.4], status="diverged"),
               rec("sgd", 0.1, 2, [0.4], status="error")]
    s = summarize_pair(records, problem())
    assert (s.test_mean, s.test_std) == (0.91, None)
    assert (s.seeds, s.finished, s.diverged, s.failed, s.status) == (3, 1, 1, 1, "partial")


def test_speed_is_the_first_epoch_reaching_the_target_and_its_median_over_seeds():
    # target 0.8 (accuracy, >=): seed 0 reaches it at epoch 2, seed 1 at 4, seed 2 never
    records = [rec("nag", 0.1, 0, [0.5, 0.8, 0.9, 0.9]), rec("nag", 0.1, 1, [0.5, 0.6, 0.7, 0.81]),
               rec("nag", 0.1, 2, [0.5, 0.6, 0.7, 0.79])]
    s = summarize_pair(records, problem())
    assert s.speed_epochs == (2, 4, None) and s.steps == (20, 40, None)
    assert s.speed_epoch == 4 and s.median_steps == 40  # median of 2, 4 and infinity


def test_speed_is_never_when_half_the_seeds_miss_the_target():
    records = [rec("nag", 0.1, 0, [0.9]), rec("nag", 0.1, 1, [0.7])]
    s = summarize_pair(records, problem())
    assert s.speed_epochs == (1, None)
    assert s.speed_epoch is None and s.median_steps is None and s.time_to_target == math.inf


def test_speed_on_a_loss_problem_counts_values_at_or_below_the_target():
    quad = problem("q", metric="loss", target=0.5)
    s = summarize_pair([rec("sgd", 0.1, 0, [0.9, 0.5, 0.4], prob="q", per_epoch=7)], quad)
    assert s.speed_epochs == (2,) and s.steps == (14,)


def test_a_diverged_seed_that_reached_the_target_before_diverging_counts():
    s = summarize_pair([rec("sgd", 0.1, 0, [0.85, 0.9], status="diverged")], problem())
    assert s.speed_epochs == (1,) and s.test_mean is None and s.status == "failed"


def test_records_mixing_budgets_are_refused():
    a, b = rec("sgd", 0.1, 0, [0.9]), rec("sgd", 0.1, 1, [0.9])
    b["epochs"] = 10
    with pytest.raises(ValueError, match="epochs, batch_size"):
        summarize_pair([a, b], problem())


# --- ranking ---------------------------------------------------------------------------------------

def _pair(opt, tests, statuses=None, prob="p"):
    statuses = statuses or ["ok"] * len(tests)
    return [rec(opt, 0.1, seed, [0.9], test=t, status=st, prob=prob)
            for seed, (t, st) in enumerate(zip(tests, statuses))]


def test_ranking_by_mean_test_metric_with_diverged_pairs_last():
    p = problem()
    summaries = [summarize_pair(_pair("a", [0.90, 0.90]), p),
                 summarize_pair(_pair("b", [0.99, 0.90], ["ok", "diverged"]), p),  # flattering mean
                 summarize_pair(_pair("c", [0.5, 0.5], ["diverged", "diverged"]), p),
                 summarize_pair(_pair("d", [0.85, 0.87]), p),
                 summarize_pair(_pair("e", [0.95, 0.93]), p)]
    assert [s.optimizer for s in rank(summaries, higher_is_better=True)] == ["e", "a", "d", "b", "c"]


def test_ranking_of_a_loss_puts_the_lowest_first():
    q = problem("q", metric="loss", target=0.5)
    summaries = [summarize_pair(_pair("a", [0.3, 0.5], prob="q"), q),
                 summarize_pair(_pair("b", [0.2, 0.2], prob="q"), q)]
    assert [s.optimizer for s in rank(summaries, higher_is_better=False)] == ["b", "a"]


# --- performance profile ---------------------------------------------------------------------------

TIMES = {"p1": {"x": 100, "y": 150}, "p2": {"x": 300, "y": 100}, "p3": {"x": math.inf, "y": 400}}


def test_performance_profile_ratios_by_hand():
    prof = performance_profile(TIMES)
    assert prof.ratios.tolist() == [[1.0, 1.5], [3.0, 1.0], [math.inf, 1.0]]


def test_performance_profile_rho_by_hand():
    prof = performance_profile(TIMES)
    rho = prof.rho([1.0, 1.49, 1.5, 2.9, 3.0, 4.0])
    assert rho[0].tolist() == pytest.approx([1 / 3, 1 / 3, 1 / 3, 1 / 3, 2 / 3, 2 / 3])
    assert rho[1].tolist() == pytest.approx([2 / 3, 2 / 3, 1, 1, 1, 1])


def test_performance_profile_score_by_hand_and_by_algoperfs_trapezoid():
    scores = performance_profile(TIMES).scores
    # x: (4 - 1)/3 on p1, (4 - 3)/3 on p2, 0 on p3; y: (4 - 1.5)/3, 1, 1; averaged over 3 problems
    assert scores["x"] == pytest.approx((1 + 1 / 3) / 3)
    assert scores["y"] == pytest.approx((2.5 / 3 + 2) / 3)
    # AlgoPerf's scoring code: rho on evenly spaced tau in [1, 4], trapezoid, divided by 4 - 1
    taus = np.linspace(1, 4, 300_001)
    for name, ratios in (("x", [1.0, 3.0, math.inf]), ("y", [1.5, 1.0, 1.0])):
        rho = np.mean([np.asarray(ratios)[:, None] <= taus[None, :]], axis=1)[0]
        assert scores[name] == pytest.approx(np.trapezoid(rho, taus) / 3, abs=1e-4)


def test_an_optimizer_more_than_r_max_times_slower_gets_no_credit():
    prof = performance_profile({"p": {"x": 100, "y": 500}})
    assert prof.scores == {"x": 1.0, "y": 0.0}


def test_a_problem_nobody_solves_gives_nobody_credit():
    prof = performance_profile({"p": {"x": math.inf, "y": math.inf}, "q": {"x": 10, "y": 20}})
    assert prof.scores["x"] == pytest.approx(0.5) and prof.scores["y"] == pytest.approx((4 - 2) / 3 / 2)


def test_performance_profile_refuses_a_bad_r_max_and_bad_times():
    with pytest.raises(ValueError, match="r_max"):
        performance_profile(TIMES, r_max=1.0)
    with pytest.raises(ValueError, match=r"times\['p'\]\['x'\]"):
        performance_profile({"p": {"x": float("nan")}})


# --- learning-rate sensitivity ---------------------------------------------------------------------

def test_lr_cell_widths_on_an_uneven_grid_by_hand():
    # log10: -3, -2, 0; gaps 1 and 2; ends take their one gap
    assert lr_cell_widths([1e-3, 1e-2, 1.0]).tolist() == pytest.approx([1.0, 1.5, 2.0])
    assert lr_cell_widths(np.logspace(-5, 2, 36)).tolist() == pytest.approx([0.2] * 36)


def _sensitivity_records():
    q = "q"
    a = [rec("a", lr, 0, [v], prob=q) for lr, v in ((1e-3, 0.5), (1e-2, 0.2), (1e-1, 0.205))]
    a.append(rec("a", 1.0, 0, [0.9], prob=q, status="diverged"))
    b = [rec("b", lr, 0, [v], prob=q) for lr, v in ((1e-3, 0.3), (1e-2, 0.25), (1e-1, 0.209), (1.0, 0.22))]
    return a + b + [rec("b", 1e-1, 1, [0.1], prob=q)]  # a rerun: not a tuning trial


def test_lr_sensitivity_counts_the_decades_within_tolerance_of_the_problems_best():
    curves = lr_sensitivity(_sensitivity_records(), [problem("q", metric="loss", target=0.3)],
                            rel_tol=0.05)
    # best over both optimizers: 0.2; within 5%: <= 0.21
    assert curves[("q", "a")].good == (False, True, True, False)
    assert curves[("q", "a")].values == (0.5, 0.2, 0.205, None)
    assert curves[("q", "b")].good == (False, False, True, False)
    assert curves[("q", "a")].decades == pytest.approx(2.0)
    assert curves[("q", "b")].decades == pytest.approx(1.0)


def test_tuneability_is_the_mean_over_problems_best_first():
    r = [rec(o, lr, 0, [v], prob="r") for o, lr, v in
         (("a", 0.01, 0.9), ("a", 0.1, 0.5), ("b", 0.01, 0.88), ("b", 0.1, 0.85))]
    curves = lr_sensitivity(_sensitivity_records() + r,
                            [problem("q", metric="loss", target=0.3), problem("r", target=0.8)])
    # on r (accuracy) the best is 0.9; within 5%: >= 0.855, so a at 0.01 and b at 0.01: 1 decade each
    # (the 2-point grid 0.01, 0.1: each point stands for 1 decade); on q: a 2, b 1 (above)
    result = tuneability(curves)
    assert list(result) == ["a", "b"]
    assert result["a"] == pytest.approx((2 + 1) / 2) and result["b"] == pytest.approx((1 + 1) / 2)


def test_lr_sensitivity_refuses_a_negative_tolerance():
    with pytest.raises(ValueError, match="rel_tol"):
        lr_sensitivity([], [problem()], rel_tol=-0.1)


# --- everything together ---------------------------------------------------------------------------

def _study():
    """Two problems (one sparse), three optimizers; on "s" adagrad wins, on "d" adam; sgd diverges
    at its largest learning rate everywhere and once at its selected one."""
    recs = []
    for prob in ("d", "s"):
        fast = "adam" if prob == "d" else "adagrad"
        for opt in ("adam", "adagrad", "sgd"):
            good = [0.6, 0.85, 0.9, 0.95] if opt == fast else [0.5, 0.7, 0.82, 0.85]
            recs.append(rec(opt, 0.01, 0, good, prob=prob))
            recs.append(rec(opt, 0.001, 0, [0.3, 0.4, 0.5, 0.6], prob=prob))
            recs.append(rec(opt, 1.0, 0, [0.2], prob=prob, status="diverged" if opt == "sgd" else "ok"))
            recs.append(rec(opt, 0.01, 1, good, prob=prob,
                            status="diverged" if (opt, prob) == ("sgd", "d") else "ok"))
    return recs, [problem("d", target=0.8), problem("s", target=0.8, tags=("sparse",))]


def test_analyze_ranks_each_problem_and_builds_the_profile_from_median_steps():
    records, problems = _study()
    a = analyze(records, problems)
    assert [s.optimizer for s in a.rankings["d"]] == ["adam", "adagrad", "sgd"]
    assert [s.optimizer for s in a.rankings["s"]] == ["adagrad", "adam", "sgd"]
    # steps to target: the fast one reaches 0.8 at epoch 2 (20 steps), the others at epoch 3 (30)
    assert a.profile.times.tolist() == [[30.0, 20.0, 30.0], [20.0, 30.0, 30.0]]
    assert a.profile.optimizers == ("adagrad", "adam", "sgd")
    assert a.profile.scores["adam"] == pytest.approx((1 + (4 - 1.5) / 3) / 2)


def test_analyze_counts_divergence_per_optimizer():
    records, problems = _study()
    d = analyze(records, problems).divergence["sgd"]
    assert (d.trials, d.diverged, d.tuning_trials, d.tuning_diverged) == (8, 3, 6, 2)
    assert (d.final_trials, d.final_diverged) == (4, 1)


def test_analyze_refuses_records_of_an_unknown_problem():
    records, problems = _study()
    with pytest.raises(ValueError, match="'s'"):
        analyze(records, problems[:1])


def test_analyze_refuses_an_unknown_status():
    records, problems = _study()
    records[0]["status"] = "weird"
    with pytest.raises(ValueError, match="weird"):
        analyze(records, problems)


def test_recommendation_names_the_winners_found_in_the_data():
    records, problems = _study()
    text = dict(recommend(analyze(records, problems), {"mode": "quick"}))
    assert list(text) == ["Overall", "Per problem", "Sparse problems", "Learning rate", "Divergence",
                          "Caveat"]
    assert text["Overall"].startswith("adagrad and adam tie")
    assert "d: adam" in text["Per problem"] and "s: adagrad" in text["Per problem"]
    assert "(s), adagrad has the best mean rank" in text["Sparse problems"]
    assert "sgd diverged in 1 of 4 runs" in text["Divergence"]
    assert "Mode quick" in text["Caveat"] and "--full" in text["Caveat"]


def test_recommendation_follows_the_data_when_the_winner_changes():
    records, problems = _study()
    for r in records:  # adam becomes slow and poor on "s"
        if r["problem"] == "s" and r["optimizer"] == "adam" and r["status"] == "ok":
            r["history"] = [dict(h, val_metric=0.5) for h in r["history"]]
            r["final_val_metric"] = r["final_test_metric"] = 0.5
    text = dict(recommend(analyze(records, problems)))
    assert text["Overall"].startswith("adagrad is the fastest")
    assert "Mode" not in text["Caveat"]


def test_recommendation_without_sparse_problems_says_so():
    records, problems = _study()
    problems[1] = problem("s", target=0.8)
    text = dict(recommend(analyze(records, problems)))
    assert text["Sparse problems"] == "No problem of this comparison is tagged sparse."


def test_recommendation_when_no_target_is_reached():
    records = [rec("adam", 0.1, 0, [0.1, 0.2]), rec("sgd", 0.1, 0, [0.1, 0.3])]
    text = dict(recommend(analyze(records, [problem()])))
    assert text["Overall"].startswith("No optimizer reached the validation target")
    assert "sgd has the best mean rank" in text["Overall"]


def test_recommendation_when_every_run_failed():
    records = [rec(o, lr, 0, [0.5], status="error", prob="s") for o in ("adam", "sgd") for lr in (0.01, 0.1)]
    text = dict(recommend(analyze(records, [problem("s", tags=("sparse",))])))
    assert text["Overall"].startswith("No optimizer reached") and "mean rank" not in text["Overall"]
    assert text["Per problem"].endswith("s: no optimizer finished.")
    assert text["Sparse problems"].endswith("no optimizer finished.")
    assert text["Learning rate"].startswith("No tuning trial finished")
    assert "adam failed in 1 of 1 runs; sgd failed in 1 of 1 runs" in text["Divergence"]
