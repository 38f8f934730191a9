"""Grid search: exact enumeration of the conditional tree, the too-large error, partial coverage."""
from __future__ import annotations

import itertools
import re
import time
from collections import Counter

import pytest
from objectives import conditional_space, result

from forgeml.errors import ConfigError
from forgeml.search import make_searcher
from forgeml.search.grid import GridTooLargeError, grid_size
from forgeml.space import Categorical, Config, Float, SearchSpace


def _brute_force(space: SearchSpace, levels: int) -> set[str]:
    """Every grid point, by enumerating all parameters and keeping only active assignments."""
    names = list(space)
    grids = [space[n].grid(levels) for n in names]
    points = set()
    for combo in itertools.product(*grids):
        full = dict(zip(names, combo))
        active = {n: full[n] for n in names if space.is_active(n, full)}
        points.add(Config(active).to_json())
    return points


def _exhaust(searcher, space, seed=0, max_trials=None, warm_start=()):
    searcher.setup(space, seed=seed, max_trials=max_trials, warm_start=warm_start)
    out = []
    while (p := searcher.ask(len(out))) is not None:
        space.validate(p.config)
        out.append(p.config)
        searcher.tell(len(out) - 1, result(len(out) - 1, 1.0))
    return out


def test_grid_enumerates_exactly_the_active_combinations():
    space = conditional_space()
    expected = _brute_force(space, 3)
    # bowl 3*3 + smooth (3 lr * 3 depth * (plain + boosted * 3 boost)) + steps 3 n * 3 modes
    assert grid_size(space, 3) == len(expected) == 9 + 3 * 3 * 4 + 9
    got = _exhaust(make_searcher("grid"), space)
    assert len(got) == len(expected)  # no duplicates ...
    assert {c.to_json() for c in got} == expected  # ... and nothing missing or extra


def test_levels_are_configurable():
    space = conditional_space()
    assert grid_size(space, 2) == len(_brute_force(space, 2)) == 4 + 2 * 2 * 3 + 6
    values = {c["bowl.x"] for c in _exhaust(make_searcher("grid", levels=2), space) if c["family"] == "bowl"}
    assert values == {-5.0, 5.0}


def test_too_small_max_trials_is_a_clear_config_error():
    space = conditional_space()
    with pytest.raises(GridTooLargeError) as err:
        make_searcher("grid").setup(space, seed=0, max_trials=20)
    assert isinstance(err.value, ConfigError)
    msg = str(err.value)
    assert "54 points" in msg and "max_trials=20" in msg and "allow_partial=True" in msg
    make_searcher("grid").setup(space, seed=0, max_trials=54)  # exactly enough is fine


def test_partial_grid_covers_families_evenly_and_reports_coverage():
    space = conditional_space()
    s = make_searcher("grid", allow_partial=True)
    got = _exhaust(s, space, max_trials=15)
    assert len(got) == 15
    counts = Counter(c["family"] for c in got)
    assert sorted(counts.values()) == [5, 5, 5]
    cov = s.coverage()
    assert (cov.evaluated, cov.proposed, cov.total) == (15, 15, 54)
    assert cov.fraction == pytest.approx(15 / 54)
    assert "15 of 54" in str(cov)
    assert s.state()["grid_total"] == 54


def test_order_is_deterministic_per_seed():
    space = conditional_space()
    a = [c.id for c in _exhaust(make_searcher("grid"), space, seed=1)]
    b = [c.id for c in _exhaust(make_searcher("grid"), space, seed=1)]
    c = [c.id for c in _exhaust(make_searcher("grid"), space, seed=2)]
    assert a == b and a != c and sorted(a) == sorted(c)


def test_warm_start_points_on_the_grid_are_not_repeated():
    space = conditional_space()
    warm = [{"family": "bowl", "bowl.x": 0.0, "bowl.y": 0.0},  # on the grid (the middle level)
            {"family": "bowl", "bowl.x": 0.3, "bowl.y": 0.0}]  # off the grid
    got = _exhaust(make_searcher("grid"), space, warm_start=warm)
    assert len(got) == 54 + 1
    assert len({c.id for c in got}) == len(got)
    with pytest.raises(GridTooLargeError):  # 54 grid points + 1 off-grid warm start do not fit in 54
        make_searcher("grid").setup(space, max_trials=54, warm_start=warm)


def test_huge_grids_are_never_materialised():
    space = SearchSpace({"family": Categorical(("a", "b")),
                         **{f"x{i}": Float(0.0, 1.0) for i in range(12)}})
    assert grid_size(space, 10) == 2 * 10 ** 12
    t = time.perf_counter()
    s = make_searcher("grid", levels=10, allow_partial=True)
    got = _exhaust(s, space, max_trials=40)
    assert time.perf_counter() - t < 2.0
    assert len({c.id for c in got}) == 40
    assert Counter(c["family"] for c in got) == {"a": 20, "b": 20}
    assert s.coverage().total == 2 * 10 ** 12


def _run_with_budget(space, start: float, per_trial: float, n: int):
    """Ask and tell ``n`` trials while the budget hint falls by ``per_trial`` seconds a trial."""
    s = make_searcher("grid")
    s.setup(space, seed=0)
    notices = []
    for i in range(n):
        s.set_budget_hint(start - i * per_trial)
        p = s.ask(i)
        if p is None:
            break
        s.tell(i, result(i, 1.0))
        notices.append(s.notice())
    return s, notices


def test_a_time_budget_too_short_for_the_grid_is_reported_once_projected():
    space = conditional_space()  # 54 points
    s, notices = _run_with_budget(space, start=100.0, per_trial=10.0, n=6)
    assert notices[:2] == [None, None]  # too early to project
    note = notices[-1]
    assert note is not None and "cannot be exhausted" in note and "54 points" in note
    assert "time_budget" in note and "levels" in note
    # 10 s a point and 80 s left when it is projected after 3 results: about 3 + 8 of the 54 points
    reach = int(re.search(r"so about (\d+) \(", note).group(1))
    assert reach == 11 and s.coverage().total == 54


def test_a_budget_that_covers_the_grid_gives_no_notice():
    space = conditional_space()
    s, notices = _run_with_budget(space, start=1000.0, per_trial=1.0, n=60)
    assert s.coverage().evaluated == 54 and not any(notices)


def test_results_replayed_from_an_earlier_session_do_not_dilute_the_projection():
    space = conditional_space()
    s = make_searcher("grid")
    s.setup(space, seed=0)
    for i in range(10):  # an earlier session's results: they took none of this session's budget
        p = s.ask(i)
        s.replay(i, p, result(i, 1.0))
    notices = []
    for i in range(10, 14):
        s.set_budget_hint(100.0 - (i - 10) * 10.0)
        p = s.ask(i)
        s.tell(i, result(i, 1.0))
        notices.append(s.notice())
    assert notices[-1] is not None and "about 10.0 s each" in notices[-1]
