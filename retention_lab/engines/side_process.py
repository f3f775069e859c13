"""One forked process that runs independent stages of an analysis beside the main one.

Why: the flagship analysis (:func:`retention_lab.impact.analyze`, rolling design) has stages
that do not depend on each other — the rolling trials in one line, the event study, the
time-varying Cox model and the membership CLV effect in another — and the machines it runs on
have at least two cores, while each stage is single-threaded numpy. Threads do not help
(measured in issue 22: the GIL and process-wide warning filters); a forked process does, and it
sees the parent's data without copying it (copy-on-write pages).

The side process is forked with the data already in memory, runs the functions it was given in
order and sends back each result (pickled) with the warnings it raised; a function may ask the
parent for a small message first (:meth:`SideProcess.send`, e.g. the members the main line kept)
through :func:`wait_for_parent`. A task the side process has not started yet can be claimed by
the parent instead (:meth:`SideProcess.claim`: a parent that has finished its own work runs
the side's last tasks itself rather than wait for them). The parent re-issues the warnings, in order, when it collects
a result (:meth:`SideProcess.result`), so a notebook shows what the serial run shows. Anything
that goes wrong on the side (no ``fork`` on this platform, an exception, a result that cannot be
pickled, the process killed) makes :meth:`SideProcess.result` return ``None`` with
``failed`` naming why, and the caller computes that stage itself: the numbers never depend on
whether the side process ran.

Whether it runs: ``RETENTION_LAB_SIDE_PROCESS`` = ``"0"`` never, ``"1"`` always (where ``fork``
exists), unset: when the machine has two cores or more, the study has at least
:data:`MIN_CUSTOMERS` customers (below that the fork costs more than it saves, and notebook
and test runs stay in one process) and the memory available is at least
:data:`MEMORY_FACTOR` times the process' resident set (:func:`memory_allows`).
"""
from __future__ import annotations

import gc
import multiprocessing as mp
import os
import pickle
import resource
import threading
import time
import traceback
import warnings

from .sources import available_memory

ENV_VAR = "RETENTION_LAB_SIDE_PROCESS"
#: smallest study (customers) for which the side process is used by default
MIN_CUSTOMERS = 50_000

_DONE = "__done: peak RSS in KiB__"   # the side process' last message
_PARENT: list = [None]   # in the side process: the connection to the parent


def enabled(n_customers: int) -> bool:
    """Whether to run side stages in a forked process for a study of ``n_customers``."""
    flag = os.environ.get(ENV_VAR, "").strip()
    if flag == "0" or "fork" not in mp.get_all_start_methods():
        return False
    if flag == "1":
        return True
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:   # not Linux: the machine's count
        cores = os.cpu_count() or 1
    return cores >= 2 and n_customers >= MIN_CUSTOMERS and memory_allows()


#: the side process is started only if the memory available is at least this many times the
#: parent's resident set at the fork (measured at 1M customers on 2026-12-06: parent 5.5 GiB
#: peak, side 4.5 GiB, both together 7.5-7.8 GiB of proportional set size, against 5.4 GiB in
#: one process): running out of memory would cost the whole analysis, not just the overlap
MEMORY_FACTOR = 2.0


def memory_allows() -> bool:
    """Whether the machine has room for the side process: ``MemAvailable`` at least
    :data:`MEMORY_FACTOR` × this process' resident set (True where /proc cannot tell)."""
    available = available_memory()
    try:
        with open("/proc/self/statm") as fh:
            rss = int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        rss = None
    if available is None or rss is None:
        return True
    return available >= MEMORY_FACTOR * rss


def wait_for_parent():
    """In a side task: the next message the parent sent (:meth:`SideProcess.send`)."""
    if _PARENT[0] is None:
        raise RuntimeError("wait_for_parent() outside a side process")
    return _PARENT[0].recv()


#: who runs a task (the shared array of :class:`SideProcess`): not started yet, the side
#: process, the parent
FREE, SIDE, PARENT = 0, 1, 2


def _serve(conn, tasks, claims) -> None:
    _PARENT[0] = conn
    for i, (name, fn, args, kwargs) in enumerate(tasks):
        with claims.get_lock():
            if claims[i] != FREE:   # the parent runs it
                continue
            claims[i] = SIDE
        c0, t0 = time.process_time(), time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                value, error = fn(*args, **kwargs), None
            except BaseException as exc:   # sent to the parent, which computes the stage itself
                value, error = None, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
        found = [(str(w.message), w.category, w.filename, w.lineno) for w in caught]
        cost = dict(cpu=time.process_time() - c0, wall=time.perf_counter() - t0)
        try:
            payload = pickle.dumps((name, value, error, found, cost), pickle.HIGHEST_PROTOCOL)
        except Exception as exc:   # an unpicklable result: the parent computes it
            payload = pickle.dumps((name, None, f"result not picklable: {exc}", found, cost))
        conn.send_bytes(payload)
    conn.send_bytes(pickle.dumps((_DONE, resource.getrusage(
        resource.RUSAGE_SELF).ru_maxrss, None, [], {})))


class SideProcess:
    """Run ``tasks`` — ``(name, function, args, kwargs)`` — in order in one forked process.

    Use as a context manager (the process is stopped on exit whatever happened)::

        with SideProcess([("cox", fit_cox, (data,), {})]) as side:
            main = long_stage(data)
            cox = side.result("cox")            # None: compute it here (side.failed says why)
            if cox is None:
                cox = fit_cox(data)

    Both directions of the pipe are served by threads of the parent (a reader that stores each
    result as it arrives, a sender per message), so neither process ever waits for the other
    to read: a large message each way at once would otherwise fill both pipe buffers and
    deadlock. ``cost_`` (after the results are collected): each task's CPU and wall seconds in
    the side process; ``peak_rss_gib_``: the side process' peak resident set (its pages shared
    with the parent included, so parent + side overstates the machine's peak)."""

    def __init__(self, tasks: list, run: bool = True):
        self.failed: dict = {}
        self.cost_: dict = {}
        self.peak_rss_gib_ = 0.0
        self._names = [t[0] for t in tasks]
        self._claimed: set = set()
        self._results: dict = {}
        self._done = threading.Condition()
        self._finished = False
        self._senders: list = []
        self._proc = None
        self._conn = None
        if run:
            ctx = mp.get_context("fork")
            parent, child = ctx.Pipe()
            self._claims = ctx.Array("b", len(tasks))   # FREE each; shared memory, one lock
            self._proc = ctx.Process(target=_serve, args=(child, tasks, self._claims),
                                     daemon=True)
            # the objects alive at the fork move to the collector's permanent generation until
            # the side process ends: a collection in either process would otherwise write to
            # every page holding one and copy the page (the gc module's advice for fork). The
            # garbage is collected first, so that nothing dead is kept that long.
            gc.collect()
            gc.freeze()
            try:
                self._proc.start()
            except BaseException:
                gc.unfreeze()
                raise
            child.close()
            self._conn = parent
            self._reader = threading.Thread(target=self._read, daemon=True)
            self._reader.start()

    @property
    def running(self) -> bool:
        return self._proc is not None

    def claim(self, name: str) -> bool:
        """Whether the parent now runs task ``name`` itself: True when the side process has not
        started it (the side process then skips it), False when it has (or is not running)."""
        if self._proc is None:
            return False
        i = self._names.index(name)
        with self._claims.get_lock():
            if self._claims[i] != FREE:
                return False
            self._claims[i] = PARENT
        self._claimed.add(name)
        return True

    def send(self, message) -> None:
        """Hand a small message to the side task waiting in :func:`wait_for_parent` (sent by a
        thread: this call does not wait for the side process to read it)."""
        if self._conn is None:
            return

        def deliver(conn=self._conn):
            try:
                conn.send(message)
            except (OSError, ValueError):   # the side process is gone: its results say so
                pass
        t = threading.Thread(target=deliver, daemon=True)
        t.start()
        self._senders.append(t)

    def _read(self) -> None:
        """The reader thread: store every message of the side process until its last."""
        why = None
        while True:
            try:
                task, value, error, found, cost = pickle.loads(self._conn.recv_bytes())
            except (EOFError, OSError) as exc:
                why = f"the side process ended early ({type(exc).__name__})"
                break
            with self._done:
                if task == _DONE:
                    self.peak_rss_gib_ = value / 2 ** 20
                    break
                self.cost_[task] = cost
                self._results[task] = (value, error, found)
                self._done.notify_all()
        with self._done:
            for n in self._names:
                if why and n not in self._results and n not in self.cost_ \
                        and n not in self._claimed:
                    self.failed.setdefault(n, why)
            self._finished = True
            self._done.notify_all()

    def result(self, name: str, deadline: float | None = None):
        """The result of task ``name`` (its warnings re-issued here), or None when the side
        process did not run it (``failed[name]`` says why). ``deadline`` (a
        ``time.monotonic()`` value): if the side process has not answered by then it is
        stopped and every pending task counts as failed — a side process stuck (e.g. on a lock
        a library held in another thread at the fork) must cost time, not the analysis."""
        if name in self._claimed:   # the parent runs it
            return None
        if self._proc is None and name not in self._results:
            self.failed.setdefault(name, "the side process did not run")
            return None
        late = False
        with self._done:
            while name not in self._results and not self._finished:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    late = True
                    break
                self._done.wait(left)
            got = self._results.pop(name, None)
        if late:
            for n in self._names:
                if n not in self._results and n not in self._claimed:
                    self.failed.setdefault(n, "the side process did not answer in time: stopped")
            self._close(stop=True)
        if got is None:
            self.failed.setdefault(name, "the side process did not run it")
            return None
        value, error, found = got
        for message, category, filename, lineno in found:
            warnings.warn_explicit(message, category, filename, lineno)
        if error is not None:
            self.failed[name] = error
            return None
        return value

    def _close(self, stop: bool) -> None:
        if self._proc is None:
            return
        if stop:
            self._proc.terminate()
        else:
            with self._done:   # every result collected: wait for the side process' last word
                while not self._finished:
                    self._done.wait()
        self._proc.join(timeout=5)
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join()
        self._conn.close()   # ends the reader (EOF) and any sender still blocked
        self._reader.join()
        for t in self._senders:
            t.join(timeout=1)
        self._proc = None
        gc.unfreeze()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *_):
        self._close(stop=exc_type is not None)   # the parent failed: stop the side at once
        return False
