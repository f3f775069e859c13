"""The side process of the rolling analysis (retention_lab/engines/side_process.py, issue 22): the
event study, the time-varying Cox model and the CLV effect computed in a forked process give
the numbers of the one-process run exactly, and whatever fails on the side is computed in the
parent instead."""
from __future__ import annotations

import os
import signal
import time
import warnings

import numpy as np
import pandas as pd
import pytest

import retention_lab as rl
from retention_lab.engines import side_process as sp

pytestmark = pytest.mark.skipif("fork" not in __import__("multiprocessing")
                                .get_all_start_methods(), reason="needs fork")


def _ok(x):
    return x * 2


def _boom():
    raise ValueError("broken on purpose")


def _warns():
    warnings.warn("from the side", UserWarning, stacklevel=2)
    return 7


def _echo():
    return ("got", sp.wait_for_parent())


def _unpicklable():
    return lambda: 1


def _die():
    os.kill(os.getpid(), signal.SIGKILL)


def test_results_errors_warnings_and_messages():
    tasks = [("ok", _ok, (21,), {}), ("boom", _boom, (), {}), ("warns", _warns, (), {}),
             ("echo", _echo, (), {}), ("lambda", _unpicklable, (), {})]
    with sp.SideProcess(tasks) as side:
        assert side.running
        side.send({"members": [1, 2]})
        assert side.result("ok") == 42
        assert side.result("boom") is None and "broken on purpose" in side.failed["boom"]
        with pytest.warns(UserWarning, match="from the side"):
            assert side.result("warns") == 7
        assert side.result("echo") == ("got", {"members": [1, 2]})
        assert side.result("lambda") is None and "not picklable" in side.failed["lambda"]
    assert set(side.cost_) == {"ok", "boom", "warns", "echo", "lambda"}
    assert side.peak_rss_gib_ > 0


def _sleep_then(x):
    time.sleep(0.5)
    return x


def _pid():
    return os.getpid()


def test_the_parent_claims_the_tasks_the_side_has_not_started():
    """While the side process runs its first task, the parent claims the last two: the side
    skips them (no result, no cost, no failure) and only the started task cannot be claimed."""
    tasks = [("first", _sleep_then, (1,), {}), ("second", _pid, (), {}),
             ("third", _ok, (5,), {})]
    with sp.SideProcess(tasks) as side:
        time.sleep(0.2)                       # the side process is inside "first"
        assert side.claim("third") and side.claim("second")
        assert not side.claim("first")
        assert side.result("first") == 1
        assert side.result("second") is None and side.result("third") is None
    assert set(side.cost_) == {"first"} and side.failed == {}


def test_a_task_the_side_has_started_stays_with_it():
    tasks = [("pid", _pid, (), {}), ("slow", _sleep_then, (3,), {})]
    with sp.SideProcess(tasks) as side:
        pid = side.result("pid")
        time.sleep(0.2)
        assert not side.claim("slow")          # already started on the side
        assert side.result("slow") == 3 and pid != os.getpid()
    assert not sp.SideProcess([("x", _ok, (1,), {})], run=False).claim("x")


def _big():
    return np.arange(4_000_000, dtype=float)   # 32 MB, far more than a pipe's buffer


def _big_echo():
    return float(sp.wait_for_parent().sum())


def test_large_messages_both_ways_at_once_do_not_deadlock():
    """The side process sends a 32 MB result while the parent sends it a 32 MB message and
    only then asks for results (with one blocking send each way this deadlocked on the 200k
    benchmark); guarded by an alarm."""
    msg = np.ones(4_000_000)
    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(TimeoutError("deadlock")))
    signal.alarm(120)
    try:
        with sp.SideProcess([("big", _big, (), {}), ("echo", _big_echo, (), {})]) as side:
            side.send(msg)
            assert side.result("echo") == 4_000_000.0
            assert side.result("big")[-1] == 3_999_999.0
    finally:
        signal.alarm(0)


def _sleep():
    time.sleep(60)


def test_a_side_process_silent_past_the_deadline_is_stopped():
    with sp.SideProcess([("slow", _sleep, (), {}), ("after", _ok, (1,), {})]) as side:
        t = time.monotonic()
        assert side.result("slow", deadline=t + 1.0) is None
        assert time.monotonic() - t < 10 and not side.running
        assert side.result("after") is None
    assert "did not answer in time" in side.failed["slow"]
    assert "did not answer in time" in side.failed["after"]


def test_a_stuck_side_stage_is_computed_in_the_parent(monkeypatch):
    """The side process hangs in the Cox stage (a stand-in for a lock held at the fork): after
    the grace period the parent stops it and computes every side stage itself, same numbers."""
    import retention_lab.impact.rolling.design as d
    a = _analyze(monkeypatch, "0")
    cox = d._tv_cox

    def stuck_on_the_side(*args):
        if sp._PARENT[0] is not None:   # only inside the side process
            time.sleep(600)
        return cox(*args)
    monkeypatch.setattr(d, "_tv_cox", stuck_on_the_side)
    monkeypatch.setattr(d, "SIDE_GRACE_S", 3.0)
    t = time.monotonic()
    b = _analyze(monkeypatch, "1")
    assert time.monotonic() - t < 120
    pd.testing.assert_frame_equal(a.effects, b.effects, check_exact=True)
    failed = b.settings["rolling"]["side_process"]["failed"]
    assert "did not answer in time" in failed["time-varying Cox"], failed


def test_a_killed_side_process_leaves_every_pending_result_to_the_parent():
    with sp.SideProcess([("die", _die, (), {}), ("later", _ok, (1,), {})]) as side:
        assert side.result("die") is None and side.result("later") is None
    assert "ended early" in side.failed["later"]


def test_not_running_returns_nothing(monkeypatch):
    monkeypatch.setenv(sp.ENV_VAR, "0")
    assert not sp.enabled(10 ** 7)
    monkeypatch.setenv(sp.ENV_VAR, "1")
    assert sp.enabled(10)
    monkeypatch.delenv(sp.ENV_VAR)
    assert not sp.enabled(sp.MIN_CUSTOMERS - 1)
    monkeypatch.setattr(sp.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert sp.enabled(sp.MIN_CUSTOMERS) == sp.memory_allows()
    # too little memory for two processes: stays in one
    monkeypatch.setattr(sp, "available_memory", lambda: 1024)
    assert not sp.memory_allows() and not sp.enabled(10 ** 7)
    side = sp.SideProcess([("ok", _ok, (1,), {})], run=False)
    assert not side.running and side.result("ok") is None


def _analyze(monkeypatch, flag):
    monkeypatch.setenv(sp.ENV_VAR, flag)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = rl.datasets.simulate_loyalty_experiment(n_customers=3000, design="rolling",
                                                       seed=20_000)
        return rl.impact.analyze(data, design="rolling")


def test_the_side_process_gives_the_one_process_numbers_exactly(monkeypatch):
    """Forced on (``RETENTION_LAB_SIDE_PROCESS=1``) against forced off, same data: every effect
    (the CLV row, computed in the side process after the parent sent the kept members; the
    time-varying Cox row), check, event-study estimate and sensitivity row identical."""
    a, b = _analyze(monkeypatch, "0"), _analyze(monkeypatch, "1")
    pd.testing.assert_frame_equal(a.effects, b.effects, check_exact=True)
    pd.testing.assert_frame_equal(a.checks, b.checks, check_exact=True)
    assert {"clv", "lapse hazard ratio"} <= set(a.effects["metric"])
    pd.testing.assert_frame_equal(a.sensitivity, b.sensitivity, check_exact=True)
    ea, eb = a.event_study, b.event_study
    pd.testing.assert_frame_equal(ea.estimates, eb.estimates, check_exact=True)
    assert ea.pretrend == eb.pretrend
    assert a.verdict == b.verdict
    assert "side_process" not in a.settings["rolling"]
    side = b.settings["rolling"]["side_process"]
    assert set(side["cost"]) == {"event study", "time-varying Cox", "CLV effect"}
    assert side["failed"] == {} and side["peak_rss_gib"] > 0


def test_a_failing_side_stage_is_computed_in_the_parent(monkeypatch):
    """The side process' CLV stage fails (its wait is broken): the parent computes the CLV
    effect itself, with the same number."""
    import retention_lab.impact.rolling.design as d
    a = _analyze(monkeypatch, "0")

    def broken(inp):
        raise RuntimeError("side stage broken")
    monkeypatch.setattr(d, "_clv_after_trials", broken)
    b = _analyze(monkeypatch, "1")
    pd.testing.assert_frame_equal(a.effects, b.effects, check_exact=True)
    assert "side stage broken" in b.settings["rolling"]["side_process"]["failed"]["CLV effect"]
