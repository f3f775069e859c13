"""The BTYD summary in one pass over the transactions, for integer customer ids.

Each transaction updates its customer's state in place: first and last purchase period, the
number of distinct purchase periods (a bitmap of (customer, period) cells, each counted when it
is first set), the total spend and the spend in the first period (reset when an earlier period
turns up). Nothing is sorted or hashed: one pass, a few memory accesses per transaction — several
times less work than DuckDB's per-customer window sort (``dense_rank()``, :mod:`.sql`), which
stays the path for Spark, for other ids and for explicit ``partitions``.

The kernel applies when customer ids are integers in a range not much wider than the number of
rows (:func:`plan`): the id minus the smallest id is the customer's slot. Three builds of it,
the first that loads counts (:data:`KERNEL_SOURCE` says which):

1. ``"c"``: the same loop in C (``summary_kernel.c``, :mod:`.native`), compiled by ``make
   setup`` (:func:`warm`) and loaded with ctypes in ~5 ms — numba's first load in a process
   costs ~0.6 s CPU, more than the counting of 10M rows;
2. ``"numba"``: :func:`_accumulate_py` compiled by numba (``cache=True``: once per machine — by
   :func:`warm`, or on the first use, which logs a one-line warning saying so);
3. ``"numpy"``: the same arithmetic as numpy scatter operations (``ufunc.at``) — slower, same
   numbers.

The C and numba builds give the same bits (the same additions in the same order). A process
loads the kernel on its first summary, in a background thread while DuckDB reads
(:func:`preload`).

Periods come from a table day → period built by :func:`retention_lab.periods.period_index`
over the data's day range, so every engine floors dates the same way.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..periods import NS_PER_DAY, period_index
from . import native

#: Largest (customer, period) bitmap the one-pass kernel allocates, in bytes; above it the SQL
#: path runs. 1M customers × 2 years of days: 96 MB; 10M customers: 960 MB.
MAX_BITMAP_BYTES = 1_200_000_000
#: Customer ids may span at most this many slots per row read (sparse ids use the SQL path).
MAX_SLOTS_PER_ROW = 4
#: ticks of each datetime unit in a day
TICKS_PER_DAY = {"ns": NS_PER_DAY, "us": NS_PER_DAY // 10 ** 3, "ms": NS_PER_DAY // 10 ** 6,
                 "s": NS_PER_DAY // 10 ** 9}


@dataclass
class Plan:
    """The kernel's layout: slots ``id - lo``, bit ``period - p0`` of a ``width``-bit row."""

    lo: int
    n_slots: int
    day0: int
    periods: np.ndarray  # period - p0 of day0, day0 + 1, ...
    p0: int
    width: int

    @property
    def bitmap_bytes(self) -> int:
        return self.n_slots * self.width // 8


def plan(min_id, max_id, first_day: int, last_day: int, n_rows: int, freq: str) -> Plan | None:
    """The layout for ids in ``[min_id, max_id]`` and days in ``[first_day, last_day]``, or
    ``None`` when the ids are too sparse or the bitmap too big for the one-pass kernel."""
    if min_id is None or max_id is None or n_rows <= 0 or last_day < first_day:
        return None
    lo, n_slots = int(min_id), int(max_id) - int(min_id) + 1
    if n_slots > MAX_SLOTS_PER_ROW * n_rows + 1_000:
        return None
    days = np.arange(int(first_day), int(last_day) + 1).astype("datetime64[D]")
    periods = period_index(days, freq)
    p0 = int(periods[0])
    width = (int(periods[-1]) - p0 + 64) // 64 * 64  # rows of whole 64-bit words
    layout = Plan(lo, n_slots, int(first_day), (periods - p0).astype(np.int32), p0, width)
    return layout if layout.bitmap_bytes <= MAX_BITMAP_BYTES else None


def _accumulate_py(ids, ts, amount, lo, unit_per_day, limit, day0, periods, width,
                   state, money, bits, slot_from, slot_to, shift):
    """Add the rows with ``ts < limit`` and a slot in ``[slot_from, slot_to)`` to ``state``
    (first, last, n_periods) and ``money`` (total, first period's spend); ``bits`` marks the
    (customer, period) cells seen. Disjoint slot ranges touch disjoint memory (bitmap rows are
    whole words), so threads can share the arrays.

    The rows are first moved into buckets of ``2**shift`` consecutive slots (a stable counting
    sort by ``slot >> shift``, which keeps each customer's rows in their order, so sums add up
    exactly as unbucketed), then counted bucket by bucket: a bucket's state fits the CPU cache,
    where a random walk over all customers' state misses it on nearly every row (measured:
    0.53 → 0.40 s CPU for 10M rows, 1M customers)."""
    n = ids.shape[0]
    n_buckets = ((slot_to - slot_from - 1) >> shift) + 1
    start = np.zeros(n_buckets + 1, np.int64)
    for i in range(n):
        k = ids[i] - lo
        if ts[i] < limit and slot_from <= k < slot_to:
            start[((k - slot_from) >> shift) + 1] += 1
    for b in range(n_buckets):
        start[b + 1] += start[b]
    m = start[n_buckets]
    pos = start[:n_buckets].copy()
    slots = np.empty(m, np.int64)
    period = np.empty(m, np.int32)
    spend = np.empty(m, np.float64)
    for i in range(n):
        t = ts[i]
        k = ids[i] - lo
        if t < limit and slot_from <= k < slot_to:
            b = (k - slot_from) >> shift
            j = pos[b]
            pos[b] = j + 1
            slots[j] = k
            period[j] = periods[t // unit_per_day - day0]
            spend[j] = amount[i]
    for j in range(m):
        k = slots[j]
        d = period[j]
        x = spend[j]
        money[k, 0] += x
        f = state[k, 0]
        if d < f:
            state[k, 0] = d
            money[k, 1] = x
        elif d == f:
            money[k, 1] += x
        if d > state[k, 1]:
            state[k, 1] = d
        bit = k * width + d
        w = bit >> 6
        mask = np.uint64(1) << np.uint64(bit & 63)
        if (bits[w] & mask) == 0:
            bits[w] |= mask
            state[k, 2] += 1


#: Bytes of per-customer state a bucket of the compiled kernel should fit in (L2 cache scale).
BUCKET_BYTES = 512 * 1024
#: Fewest rows the compiled kernel counts per call. DuckDB hands a Parquet table over in chunks
#: of one row group (122,880 rows): too few rows per bucket for the bucketed counting to pay, so
#: :meth:`Accumulator.submit` gathers smaller batches (one copy, in order) up to this size.
#: Measured on 10M rows, 1M customers, 2 workers (CPU, medians, loaded machine): per chunk
#: 0.83-1.0 s, gathered to ~2M rows 0.61 s + 0.04 s for the copies.
MIN_CALL_ROWS = 2_000_000


def bucket_shift(layout: "Plan") -> int:
    """log2 of the slots per bucket: ``BUCKET_BYTES`` of bitmap row + state per bucket."""
    per_slot = layout.width // 8 + 3 * 4 + 2 * 8
    return int(min(24, max(4, np.floor(np.log2(max(BUCKET_BYTES // per_slot, 1))))))


_accumulate = False  # not loaded yet (numba is imported on first use: it costs ~0.4 s)
#: Which kernel counts: ``"c"``, ``"numba"`` or ``"numpy"`` (``None`` until the first load);
#: :data:`NOTE` says why the C kernel is not the one.
KERNEL_SOURCE: str | None = None
NOTE: str | None = None
_kernel_lock = threading.Lock()
log = logging.getLogger(__name__)


def _warm_up(kernel) -> None:
    """Run ``kernel`` on one row with the argument types of both callers — read-only inputs
    (Arrow buffers of the Parquet path) and writable ones (a DataFrame's arrays) — so that
    both specialisations are loaded from numba's cache, or compiled into it."""
    layout = Plan(0, 1, 0, np.zeros(1, np.int32), 0, 64)
    for writable in (False, True):
        ids, ts, amount = np.zeros(1, np.int64), np.zeros(1, np.int64), np.ones(1)
        for arr in (ids, ts, amount):
            arr.flags.writeable = writable
        state = np.zeros((1, 3), np.int32)
        kernel(ids, ts, amount, 0, 1, 1, 0, layout.periods, layout.width, state,
               np.zeros((1, 2)), np.zeros(1, np.uint64), 0, 1, bucket_shift(layout))


def numba_kernel():
    """:func:`_accumulate_py` compiled by numba, loaded from its cache (compiled into it, with
    a one-line log, on the first use on a machine), or ``None`` without a working numba."""
    try:
        # a heavy optional dependency (~0.4 s to import): imported only when the C kernel is
        # not there, on first use, or by preload() in a background thread
        import numba
    except Exception:  # noqa: BLE001 - any failure to import means: no compiler
        return None
    kernel = numba.njit(cache=True, nogil=True)(_accumulate_py)
    t0 = time.perf_counter()
    _warm_up(kernel)
    misses = sum(kernel.stats.cache_misses.values())
    if misses:
        log.warning("retention_lab.engines: compiled the one-pass summary kernel with numba "
                    "in %.1f s (once per machine; cached in %s)", time.perf_counter() - t0,
                    kernel.stats.cache_path)
    return kernel


def _load_kernel():
    """``(kernel, source, note)``: the C kernel, else numba's, else ``None`` (numpy)."""
    kernel = native.load()
    if kernel is not None:
        return kernel, "c", None
    note = native.NOTE
    kernel = numba_kernel()
    return kernel, ("numba" if kernel is not None else "numpy"), note


def compiled_kernel():
    """The compiled kernel — C (:mod:`.native`), else numba's — or ``None`` (the numpy
    fallback then runs); :data:`KERNEL_SOURCE` says which, :data:`NOTE` why not C."""
    global _accumulate, KERNEL_SOURCE, NOTE
    with _kernel_lock:
        if _accumulate is False:
            _accumulate, KERNEL_SOURCE, NOTE = _load_kernel()
    return _accumulate


def preload() -> None:
    """Load the compiled kernel in a background thread (C: ~5 ms; numba's import and cache:
    ~0.5 s on a first call in a process), so that it overlaps the caller's reading of the
    data, which releases the GIL (DuckDB, Arrow); :func:`compiled_kernel` then waits for it."""
    if _accumulate is False:
        threading.Thread(target=compiled_kernel, name="retention_lab-kernel-load",
                         daemon=True).start()


def warm() -> dict:
    """Build the C kernel (:func:`.native.build`: once per source version) and compile the numba
    kernel into numba's cache (its fallback) — what ``make setup`` runs once per install.
    Never raises. Returns what happened: ``kernel`` (which one counts now), ``c`` (the build:
    ``built``, ``library``, ``note``), ``compiled`` (a new numba cache entry was written),
    ``seconds`` and numba's ``cache`` directory."""
    global _accumulate
    t0 = time.perf_counter()
    c = native.build()
    nb = numba_kernel()
    with _kernel_lock:
        _accumulate = False  # reload: the library may be new
    compiled_kernel()
    out = {"kernel": KERNEL_SOURCE, "c": c, "compiled": False,
           "seconds": time.perf_counter() - t0, "cache": None}
    if nb is None:
        out["note"] = "numba is not available: the numpy fallback runs without the C kernel"
    else:
        out.update(compiled=bool(sum(nb.stats.cache_misses.values())),
                   cache=nb.stats.cache_path)
    return out


def _accumulate_np(ids, ts, amount, lo, unit_per_day, limit, day0, periods, width,
                   state, money, bits, slot_from=0, slot_to=None, shift=None):
    keep = ts < limit
    if not keep.all():
        ids, ts, amount = ids[keep], ts[keep], amount[keep]
    k = ids - lo
    d = periods[np.floor_divide(ts, unit_per_day) - day0].astype(np.int64)
    np.add.at(money[:, 0], k, amount)
    old = state[:, 0].copy()
    np.minimum.at(state[:, 0], k, d)
    money[state[:, 0] < old, 1] = 0.0
    on_first = d == state[k, 0]
    np.add.at(money[:, 1], k[on_first], amount[on_first])
    np.maximum.at(state[:, 1], k, d)
    b = k * width + d
    np.bitwise_or.at(bits.view(np.uint8), b >> 3, np.left_shift(np.uint8(1), (b & 7).astype(np.uint8)))


class Accumulator:
    """Per-customer state of the one-pass summary: :meth:`add` batches, then :meth:`result`.

    With a compiled kernel (C or numba: both release the GIL) the counting runs in worker
    threads and :meth:`submit` returns at once, so DuckDB reads the next batch while this one
    is counted. ``threads`` workers each count one range of customers; every worker scans
    every row, so more would cost more than they save. Default: 1 for the C kernel (10M rows,
    1M customers, 122,880-row chunks, 2 shared cores at load 4-5: 1 worker 0.27-0.43 s CPU /
    0.29-0.70 s wall, 2 workers 0.41-0.48 s / 0.81-1.06 s), 2 for numba's (whole summary:
    1 worker 0.51 s CPU / 3.2 s wall, 2 workers 0.58 s / 2.9 s); never more than the cores."""

    def __init__(self, layout: Plan, unit_per_day: int, limit: int, compiled: bool | None = None,
                 threads: int | None = None):
        self.plan, self.unit_per_day, self.limit = layout, int(unit_per_day), int(limit)
        n = layout.n_slots
        self.state = np.zeros((n, 3), np.int32)
        self.state[:, 0] = np.iinfo(np.int32).max
        self.state[:, 1] = -1
        self.money = np.zeros((n, 2))
        self.bits = np.zeros(layout.bitmap_bytes // 8, np.uint64)
        self.kernel = compiled_kernel() if compiled in (None, True) else None
        self.compiled = self.kernel is not None
        #: which kernel counts this summary: "c", "numba" or "numpy"
        self.source = (getattr(self.kernel, "source", "numba") if self.compiled else "numpy")
        default = 1 if self.source == "c" else 2
        k = max(1, min(int(threads or default), os.cpu_count() or 1)) if self.compiled else 1
        edges = np.linspace(0, n, k + 1).astype(np.int64)
        self.ranges = list(zip(edges[:-1].tolist(), edges[1:].tolist()))
        self.pool = ThreadPoolExecutor(k) if self.compiled else None
        self.pending = []
        self.buffer, self.buffered = [], 0
        self.scratch = [{} for _ in self.ranges]

    def submit(self, ids: np.ndarray, ts: np.ndarray, amount: np.ndarray) -> None:
        """Count a batch — ``ids`` integers, ``ts`` integer timestamps (``unit_per_day`` per
        day), ``amount`` — after the previous one (workers may still be busy on return).
        Batches under :data:`MIN_CALL_ROWS` rows are held and counted together, in order
        (the same sums, added in the same order), once that many rows are in or at
        :meth:`wait`."""
        if self.compiled and len(ids) < MIN_CALL_ROWS:
            self.buffer.append((ids, ts, amount))
            self.buffered += len(ids)
            if self.buffered >= MIN_CALL_ROWS:
                self._flush()
            return
        self._flush()
        self._count(ids, ts, amount)

    def _flush(self) -> None:
        if not self.buffer:
            return
        parts, self.buffer, self.buffered = self.buffer, [], 0
        if self.source == "c":  # the C kernel reads the chunks in order: no concatenation
            self._count(*(list(col) for col in zip(*parts)))
            return
        self._count(*(np.concatenate([np.asarray(b[j], dtype=dt) for b in parts])
                      for j, dt in enumerate((np.int64, np.int64, np.float64))))

    def _count(self, ids, ts, amount) -> None:
        """Count one call's rows: arrays, or lists of chunks for the C kernel."""
        self._wait_pending()
        p = self.plan
        if self.source != "c":
            ids, ts = np.asarray(ids, dtype=np.int64), np.asarray(ts, dtype=np.int64)
            amount = np.asarray(amount, dtype=np.float64)
        args = (ids, ts, amount, p.lo, self.unit_per_day, self.limit,
                p.day0, p.periods, p.width, self.state, self.money, self.bits)
        fn = self.kernel if self.compiled else _accumulate_np
        shift = bucket_shift(p)
        # the C kernel keeps each worker's scratch buffer from one call to the next
        extra = ([{"scratch": s} for s in self.scratch] if self.source == "c"
                 else [{}] * len(self.ranges))
        if self.pool is None:
            fn(*args, 0, p.n_slots, shift, **extra[0])
        else:
            self.pending = [self.pool.submit(fn, *args, a, b, shift, **kw)
                            for (a, b), kw in zip(self.ranges, extra)]

    def wait(self) -> None:
        """Count what is held and wait until every batch is counted."""
        self._flush()
        self._wait_pending()

    def _wait_pending(self) -> None:
        for f in self.pending:
            f.result()
        self.pending = []

    def add(self, ids: np.ndarray, ts: np.ndarray, amount: np.ndarray) -> None:
        """Count a batch and wait until it is counted."""
        self.submit(ids, ts, amount)
        self.wait()

    def result(self):
        """``(ids, first, last, n_periods, total, first_spend)`` of the customers seen, by id;
        periods are :func:`~retention_lab.periods.period_index` numbers."""
        self.wait()
        if self.pool is not None:
            self.pool.shutdown()
        p = self.plan
        if self.compiled:
            n = self.state[:, 2]
        else:  # a customer's distinct periods: the set bits of their row
            n = np.bitwise_count(self.bits.reshape(p.n_slots, p.width // 64)).sum(
                axis=1, dtype=np.int64)
        self.bits = self.scratch = None  # the largest arrays (10M customers: ~1 GB) go first
        seen = np.flatnonzero(n > 0)
        st, mo = self.state[seen].astype(np.int64), self.money[seen]
        return (seen + p.lo, st[:, 0] + p.p0, st[:, 1] + p.p0, n[seen].astype(np.int64),
                mo[:, 0], mo[:, 1])
