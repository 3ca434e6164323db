"""The statistics of sgdlab compare, each against a hand computation on small made-up records: the
seeds of each ruleset, AlgoPerf's time to target, medians and means, the bootstrap intervals, the
speed-ups over the baseline, and the verdict, which names a winner only where its interval clears
the runner-up's."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sgdlab.compare import uncertainty
from sgdlab.compare.analysis import analyze, lr_cell_widths, lr_sensitivity, rank, summarize_pair, tuneability
from sgdlab.compare.verdict import recommend
from sgdlab.problems.base import Budget, Problem

INF = math.inf


def problem(name="p", metric="accuracy", target=0.8, tags=()):
    return Problem(name, name.title(), f"Problem {name}.", metric, metric == "accuracy", target,
                   Budget(4, 8), Budget(4, 8), builder=lambda seed: None, tags=tuple(tags))


def rec(opt, curve, *, study=0, trial=0, prob="p", tuning="external", status="ok", lr=0.1, test=None,
        per_epoch=10, seconds=0.1, seed=None, phase="tune", budget=40):
    """A trial whose validation metric follows ``curve`` (one value per finished epoch)."""
    history = [{"epoch": e, "updates": per_epoch * e, "train_loss": 1.0, "val_loss": 1.0, "val_metric": v,
                "time": seconds * e} for e, v in enumerate(curve, start=1)]
    done = status == "ok"
    seed = study if seed is None else seed
    return {"key": f"{prob}/{opt}/{study}/{trial}/{lr}/{seed}", "problem": prob, "optimizer": opt,
            "hparams": {"lr": lr}, "lr": lr, "seed": seed, "epochs": 4, "batch_size": 8, "convention": "paper",
            "tuning": tuning, "phase": phase, "study": study if tuning != "lr-grid" else None,
            "trial": trial if tuning == "external" else None, "status": status,
            "error": "Traceback ...\nRuntimeError: boom" if status == "error" else None, "history": history,
            "final_val_metric": curve[-1] if done and curve else None,
            "final_test_metric": (curve[-1] if test is None else test) if done else None,
            "final_test_loss": 0.1 if done else None, "budget_steps": budget, "wall_time": 1.0,
            "sgdlab_version": "0", "torch_version": "0", "created": "2026-12-02T00:00:00"}


# --- the seeds of a pair ---------------------------------------------------------------------------

def test_a_studys_time_is_its_trial_reaching_the_target_at_the_earliest_evaluation():
    # target 0.8: trial 0 reaches it at epoch 3, trial 1 at epoch 2 (but ends worse), trial 2 never
    records = [rec("adam", [0.5, 0.7, 0.85, 0.9], trial=0, test=0.91, lr=0.01),
               rec("adam", [0.6, 0.81, 0.82, 0.83], trial=1, lr=0.1, seconds=0.3),
               rec("adam", [0.5, 0.6, 0.7, 0.7], trial=2, lr=1.0)]
    (seed,) = summarize_pair(records, problem()).seeds
    assert seed.fastest["trial"] == 1 and (seed.epoch, seed.steps, seed.seconds) == (2, 20.0, pytest.approx(0.6))
    assert seed.selected["trial"] == 0 and seed.test == 0.91  # the final metric: the best by validation


def test_the_pairs_time_is_the_median_over_studies_with_never_as_the_slowest():
    def study(s, curve):
        return rec("sgd", curve, study=s)

    p = problem()
    three = [study(0, [0.9]), study(1, [0.7, 0.9]), study(2, [0.5, 0.6, 0.7, 0.7])]  # 10, 20, never
    assert summarize_pair(three, p).steps == 20.0
    two = [study(0, [0.9]), study(1, [0.7, 0.7])]                                    # 10, never
    assert summarize_pair(two, p).steps == INF and summarize_pair(two, p).median_steps is None


def test_the_final_metric_is_the_mean_and_sample_std_over_the_seeds():
    tests = [0.90, 0.92, 0.97]
    s = summarize_pair([rec("sgd", [0.9], study=i, test=t) for i, t in enumerate(tests)], problem())
    # by hand: mean 0.93; deviations -0.03, -0.01, 0.04; sum of squares 0.0026 over n - 1 = 2
    assert s.test_mean == pytest.approx(0.93, abs=1e-12)
    assert s.test_std == pytest.approx(math.sqrt(0.0026 / 2), abs=1e-12)


def test_a_loss_problem_counts_values_at_or_below_the_target():
    s = summarize_pair([rec("sgd", [0.9, 0.5, 0.4], prob="q", per_epoch=7)], problem("q", "loss", 0.5))
    assert s.seeds[0].steps == 14.0


def test_lr_grids_seeds_are_the_reruns_at_the_learning_rate_selected_at_seed_0():
    records = [rec("adam", [0.5, 0.8], tuning="lr-grid", lr=0.01, seed=0),
               rec("adam", [0.6, 0.9], tuning="lr-grid", lr=0.1, seed=0),
               rec("adam", [0.3], tuning="lr-grid", lr=1.0, seed=0, status="diverged"),
               rec("adam", [0.7, 0.85], tuning="lr-grid", lr=0.1, seed=1, phase="rerun"),
               rec("adam", [0.6, 0.88], tuning="lr-grid", lr=0.1, seed=2, phase="rerun")]
    s = summarize_pair(records, problem())
    assert s.lr == 0.1 and [seed.index for seed in s.seeds] == [0, 1, 2]
    assert [seed.steps for seed in s.seeds] == [20.0, 20.0, 20.0]


def test_defaults_seeds_are_its_runs():
    s = summarize_pair([rec("sgd", [0.5, 0.9], tuning="defaults", study=i) for i in range(3)], problem())
    assert len(s.seeds) == 3 and s.steps == 20.0


def test_the_best_trial_is_the_fastest_to_the_target_over_all_seeds():
    records = [rec("adam", [0.5, 0.9], study=0, trial=0, lr=0.01), rec("adam", [0.9], study=1, trial=0, lr=0.3),
               rec("adam", [0.5, 0.6], study=1, trial=1, lr=0.002)]
    assert summarize_pair(records, problem()).hparams == {"lr": 0.3}


def test_records_mixing_budgets_or_rulesets_are_refused():
    a, b = rec("sgd", [0.9]), rec("sgd", [0.9], study=1)
    b["epochs"] = 10
    with pytest.raises(ValueError, match="epochs, batch_size"):
        summarize_pair([a, b], problem())
    with pytest.raises(ValueError, match="rulesets"):
        analyze([rec("sgd", [0.9]), rec("adam", [0.9], tuning="defaults")], [problem()])


# --- ranking ---------------------------------------------------------------------------------------

def _pair(opt, tests, statuses=None, prob="p"):
    statuses = statuses or ["ok"] * len(tests)
    return [rec(opt, [0.9], study=s, test=t, status=st, prob=prob) for s, (t, st) in enumerate(zip(tests, statuses))]


def test_ranking_by_mean_final_metric_with_diverged_pairs_last():
    p = problem()
    summaries = [summarize_pair(_pair("a", [0.90, 0.90]), p),
                 summarize_pair(_pair("b", [0.99, 0.90], ["ok", "diverged"]), p),  # a flattering mean
                 summarize_pair(_pair("c", [0.5, 0.5], ["diverged", "diverged"]), p),
                 summarize_pair(_pair("d", [0.85, 0.87]), p),
                 summarize_pair(_pair("e", [0.95, 0.93]), p)]
    assert [s.optimizer for s in rank(summaries, higher_is_better=True)] == ["e", "a", "d", "b", "c"]


# --- intervals ---------------------------------------------------------------------------------------

def test_the_seed_bootstrap_draws_the_same_seeds_for_every_optimizer():
    steps = np.array([[10.0, 20.0, 30.0], [11.0, 21.0, 31.0]])  # b is a + 1 in every seed
    medians, _ = uncertainty.pair_draws(steps, np.full_like(steps, np.nan), draws=300, seed=1)
    np.testing.assert_array_equal(medians[1], medians[0] + 1)


def test_an_interval_is_the_5th_to_95th_percentile_of_the_draws_as_values_of_them():
    draws = np.arange(1, 101, dtype=float)
    assert uncertainty.interval(draws) == (5.0, 95.0)
    assert uncertainty.interval([1.0, INF, INF, INF]) == (1.0, INF)


def test_seeds_that_agree_give_a_point_interval_and_seeds_that_disagree_a_wide_one():
    agree = summarize_pair([rec("a", [0.9], study=s, test=0.9) for s in range(3)], problem())
    a = analyze(agree.records + tuple(rec("b", [0.9], study=s, test=0.5 + 0.2 * s) for s in range(3)), [problem()],
                draws=400)
    by = {s.optimizer: s for s in a.rankings["p"]}
    assert by["a"].test_interval == (0.9, 0.9)
    lo, hi = by["b"].test_interval
    assert lo < 0.7 < hi and lo >= 0.5 and hi <= 0.9


def test_the_same_records_give_the_same_intervals():
    records, problems = _study()
    one, two = analyze(records, problems), analyze(records, problems)
    assert one.scores == two.scores and one.speedup == two.speedup
    assert [s.test_interval for s in one.rankings["d"]] == [s.test_interval for s in two.rankings["d"]]


# --- everything together ---------------------------------------------------------------------------

def _study():
    """Two problems (one sparse), adam, adagrad, sgd and the baseline, 3 studies of 2 trials; on "s" adagrad
    wins, on "d" adam; sgd diverges at its large learning rate."""
    recs = []
    for prob in ("d", "s"):
        fast = "adam" if prob == "d" else "adagrad"
        for opt in ("adam", "adagrad", "sgd", "baseline"):
            for study in range(3):
                good = [0.6, 0.85, 0.9, 0.95] if opt == fast else [0.5, 0.7, 0.82, 0.85]
                recs.append(rec(opt, good, prob=prob, study=study, trial=0, lr=0.01, test=good[-1] + 0.001 * study))
                recs.append(rec(opt, [0.2], prob=prob, study=study, trial=1, lr=1.0,
                                status="diverged" if opt == "sgd" else "ok"))
    return recs, [problem("d", target=0.8), problem("s", target=0.8, tags=("sparse",))]


def test_analyze_builds_the_profile_from_the_median_steps():
    records, problems = _study()
    a = analyze(records, problems)
    assert [s.optimizer for s in a.rankings["d"]][0] == "adam" and [s.optimizer for s in a.rankings["s"]][0] == "adagrad"
    assert a.profile.optimizers == ("adagrad", "adam", "sgd", "baseline")
    # steps to target: the fast one reaches 0.8 at epoch 2 (20 steps), the others at epoch 3 (30)
    assert a.profile.times.tolist() == [[30.0, 20.0, 30.0, 30.0], [20.0, 30.0, 30.0, 30.0]]


def test_analyze_computes_the_speed_up_over_the_baseline_by_hand():
    records, problems = _study()
    a = analyze(records, problems)
    assert a.speedup["adam"].value == pytest.approx(math.sqrt(30 / 20 * 30 / 30))
    assert a.speedup["baseline"].value == pytest.approx(1.0) and a.speedup["baseline"].interval == (1.0, 1.0)


def test_analyze_counts_divergence_per_optimizer():
    records, problems = _study()
    d = analyze(records, problems).divergence["sgd"]
    assert (d.trials, d.diverged, d.final_trials, d.final_diverged) == (12, 6, 6, 0)


def test_analyze_refuses_records_of_an_unknown_problem_and_an_unknown_status():
    records, problems = _study()
    with pytest.raises(ValueError, match="'s'"):
        analyze(records, problems[:1])
    records[0]["status"] = "weird"
    with pytest.raises(ValueError, match="weird"):
        analyze(records, problems)


def test_the_verdict_names_a_winner_where_its_interval_clears_the_runner_ups():
    # adam is fastest on both problems in every study: its score's interval is a point above the others'
    recs = []
    for prob in ("d", "s"):
        for opt, curve in (("adam", [0.9]), ("sgd", [0.5, 0.5, 0.9]), ("baseline", [0.5, 0.5, 0.5, 0.9])):
            recs += [rec(opt, curve, prob=prob, study=s) for s in range(3)]
    text = dict(recommend(analyze(recs, [problem("d"), problem("s")]), {"mode": "quick"}))
    assert "adam has the best AlgoPerf score (steps to target) (1.000 [1.000, 1.000]), clear of the next, sgd" \
        in text["Overall"]
    assert "Faster than the baseline beyond doubt (90% interval above 1): adam and sgd" in text["Speed-up over the baseline"]


def test_the_verdict_calls_overlapping_leaders_indistinguishable():
    # two problems; a wins one, b the other, and their seeds disagree: no winner
    recs = []
    for prob, (fa, fb) in (("d", ([0.9], [0.5, 0.9])), ("s", ([0.5, 0.9], [0.9]))):
        recs += [rec("a", fa if s else [0.5, 0.5, 0.9], prob=prob, study=s) for s in range(3)]
        recs += [rec("b", fb, prob=prob, study=s) for s in range(3)]
    text = dict(recommend(analyze(recs, [problem("d"), problem("s")]), {"mode": "quick"}))
    assert "a and b are indistinguishable by AlgoPerf score (steps to target)" in text["Overall"]


def test_the_verdict_leads_with_your_problems_and_says_a_calibrated_target_is():
    import dataclasses

    mine = dataclasses.replace(problem("mine", "loss", 0.3), target_calibrated=True)
    recs = [rec(o, c, prob="mine", study=s) for o, c in (("adam", [0.5, 0.2]), ("sgd", [0.6, 0.4, 0.35, 0.31]))
            for s in range(3)]
    topics = recommend(analyze(recs, [mine]), None)
    assert topics[0][0] == "Your problems"
    assert topics[0][1].startswith("mine (loss, target 0.3 (calibrated))")
    assert "adam is the fastest to the target (median steps) (20 [20, 20]), the only one with a result" in topics[0][1]


def test_a_comparison_without_trials_says_so():
    assert recommend(analyze([], [problem()])) == [("Overall", "There are no trial results to compare yet.")]


# --- learning-rate sensitivity ---------------------------------------------------------------------

def test_lr_cell_widths_on_an_uneven_grid_by_hand():
    # log10: -3, -2, 0; gaps 1 and 2; ends take their one gap
    assert lr_cell_widths([1e-3, 1e-2, 1.0]).tolist() == pytest.approx([1.0, 1.5, 2.0])
    assert lr_cell_widths(np.logspace(-5, 2, 36)).tolist() == pytest.approx([0.2] * 36)


def _grid(opt, pairs, prob="q"):
    return [rec(opt, [v], prob=prob, tuning="lr-grid", lr=lr, seed=0,
                status="diverged" if v is None else "ok") if v is not None else
            rec(opt, [0.9], prob=prob, tuning="lr-grid", lr=lr, seed=0, status="diverged") for lr, v in pairs]


def test_lr_sensitivity_counts_the_decades_within_tolerance_of_the_problems_best():
    records = (_grid("a", [(1e-3, 0.5), (1e-2, 0.2), (1e-1, 0.205), (1.0, None)])
               + _grid("b", [(1e-3, 0.3), (1e-2, 0.25), (1e-1, 0.209), (1.0, 0.22)]))
    curves = lr_sensitivity(records, [problem("q", metric="loss", target=0.3)], rel_tol=0.05)
    # best over both optimizers: 0.2; within 5%: <= 0.21
    assert curves[("q", "a")].good == (False, True, True, False)
    assert curves[("q", "a")].decades == pytest.approx(2.0)
    assert curves[("q", "b")].decades == pytest.approx(1.0)
    assert tuneability(curves) == {"a": 2.0, "b": 1.0}


def test_external_trials_are_plotted_against_their_learning_rate_without_decades():
    curves = lr_sensitivity([rec("a", [0.9], lr=0.01, trial=0), rec("a", [0.7], lr=0.3, trial=1)], [problem()])
    assert curves[("p", "a")].lrs == (0.01, 0.3) and curves[("p", "a")].decades is None


def test_lr_sensitivity_refuses_a_negative_tolerance():
    with pytest.raises(ValueError, match="rel_tol"):
        lr_sensitivity([], [problem()], rel_tol=-0.1)
