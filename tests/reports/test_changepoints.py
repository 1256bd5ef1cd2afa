"""The step detector of the history page (reports/changepoints.py): steps found at their run,
nothing found in noise, on seeded synthetic series (the figures docs/history.md quotes)."""

from __future__ import annotations

import numpy as np
import pytest

from reports import changepoints
from reports.changepoints import detect


def noisy(n: int, sigma: float, seed: int, levels: dict[int, float] | None = None) -> np.ndarray:
    """``n`` log-normal figures around 1.0; from index i on, times ``levels[i]`` (cumulative)."""
    rng = np.random.default_rng(seed)
    y = np.exp(rng.normal(0.0, sigma, n))
    for index, factor in (levels or {}).items():
        y[index:] *= factor
    return y


def test_the_issue_series_has_its_step_at_run_12_and_nothing_else() -> None:
    """20 runs, +15% from run 12 on (index 11), 2% noise per run: every seed."""
    for seed in range(200):
        fit = detect(noisy(20, 0.02, seed, {11: 1.15}))
        assert [step.index for step in fit.steps] == [11], seed
        assert fit.steps[0].change == pytest.approx(0.15, abs=0.04), seed  # 4 standard errors


@pytest.mark.parametrize(
    ("n", "levels"),
    [
        (20, {2: 1.25}),  # as early as a level of two runs allows
        (20, {18: 0.8}),  # as late: the last two runs
        (40, {10: 1.2, 25: 0.7}),  # up, then down below the start
        (60, {15: 1.3, 30: 1 / 1.3, 45: 1.1}),  # back to the start, then up again
        (500, {250: 1.08}),  # a small step in a long line
    ],
)
def test_known_steps_are_found_at_their_index(n: int, levels: dict[int, float]) -> None:
    for seed in range(20):
        fit = detect(noisy(n, 0.01, seed, levels))
        assert [step.index for step in fit.steps] == list(levels), seed
        for step, factor in zip(fit.steps, levels.values(), strict=True):
            assert step.after / step.before == pytest.approx(factor, rel=0.02), seed


def test_a_step_of_five_sigmas_is_found_within_a_run() -> None:
    """+5% in 1% noise: always found, sometimes one run late or early (a noisy neighbour)."""
    for seed in range(20):
        fit = detect(noisy(500, 0.01, seed, {250: 1.05}))
        assert len(fit.steps) == 1 and abs(fit.steps[0].index - 250) <= 1, seed


@pytest.mark.parametrize(("n", "seeds"), [(20, 1000), (50, 400), (200, 40), (500, 20)])
def test_pure_noise_has_no_step(n: int, seeds: int) -> None:
    found = [seed for seed in range(seeds) if detect(noisy(n, 0.03, seed)).steps]
    assert found == []


def test_false_alarms_on_ten_runs_stay_rare() -> None:
    """The shortest lines are where noise looks most like a step: docs/history.md quotes the rate."""
    found = sum(bool(detect(noisy(10, 0.03, seed)).steps) for seed in range(2000))
    assert found <= 10  # 0.5%; 7 in 10,000 seeds when measured


def test_heavy_tailed_noise_and_single_outliers_are_not_steps() -> None:
    rng = np.random.default_rng(7)
    for seed in range(200):
        y = noisy(20, 0.02, seed)
        y[seed % 20] *= 1.25  # one run 25% slow, as the build VM has with nothing else running
        assert detect(y).steps == (), seed
    for _ in range(200):
        t3 = np.exp(0.02 * rng.standard_t(3, 30))  # Student-t, 3 degrees of freedom
        assert detect(t3).steps == ()


def test_too_few_runs_mark_no_step_however_large() -> None:
    y = [1.0] * (changepoints.MIN_POINTS // 2) + [3.0] * (changepoints.MIN_POINTS // 2 - 1)
    assert detect(y).steps == ()
    assert detect([*y, 3.0]).steps != ()  # one more run and the step is there


def test_figures_that_repeat_exactly_step_only_beyond_the_floor() -> None:
    assert detect([500.0] * 20).steps == ()
    assert [s.index for s in detect([500.0] * 10 + [510.0] * 10).steps] == [10]  # +2%
    assert detect([500.0] * 10 + [505.0] * 10).steps == ()  # +1%: under the 0.5% noise floor's reach


def test_the_levels_and_noise_describe_the_fit() -> None:
    fit = detect(noisy(30, 0.02, 1, {15: 2.0}))
    assert [(start, end) for start, end, _ in fit.levels] == [(0, 15), (15, 30)]
    assert fit.levels[1][2] / fit.levels[0][2] == pytest.approx(2.0, rel=0.03)
    assert 0.01 < fit.sigma < 0.03  # the noise left by the fit, not inflated by the step


@pytest.mark.parametrize("bad", [[1.0, 0.0], [1.0, -2.0], [1.0, float("nan")], [1.0, float("inf")]])
def test_values_that_have_no_log_are_refused(bad: list[float]) -> None:
    with pytest.raises(ValueError, match="finite, positive"):
        detect(bad * 5)


def test_an_empty_series_has_no_levels() -> None:
    fit = detect([])
    assert fit.steps == () and fit.levels == ()
