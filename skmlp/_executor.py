"""Where the chunks run: threads, the ordered reduction, the adaptive schedule.

The interface every executor implements (the thread executor here; the Dask
executor of :mod:`skmlp._dask.executor`, with the chunks on the workers,
implements the same)::

    executor.reduce(task, *args) -> (total, vector)
        Run the chunk set's `task` (``"evaluate"``, ``"loss"``, ``"hessp"``,
        ``"gauss_newton"``, ``"validation"``, see :mod:`skmlp._chunks`) on
        every chunk (or piece of one) and add the items' scalars and vectors
        in float64, strictly in item order
        (:class:`~skmlp._chunks.OrderedSum`), so the result depends on the
        chunks but never on where or by how many workers they were
        evaluated. Returns the float and a new float64 vector.
    executor.close()      release threads (or actors) and the BLAS limit
    with executor: ...    the same, as a context manager

The chunk set owns all the math; the executor knows none of it.

Threads. With ``n_threads > 1`` the calling thread and ``n_threads - 1``
workers pull chunks in order from a shared counter and run their BLAS calls
single-threaded (numpy releases the GIL); a ring of ``2 n_threads`` result
slots holds finished chunks until they are added in order. By default the
executor uses the threads only while that is faster than the calling thread
alone (:class:`AdaptiveSchedule`): on a loaded machine a descheduled worker
can make a threaded evaluation wait a whole scheduler tick.

BLAS. During a reduce, and while the executor is used as a context manager,
BLAS is limited to one thread by :data:`blas_limiter`, the one process-wide
limiter: it counts its users under a lock, so fits running in several threads
at once limit BLAS once and restore the original limits when the last ends.
"""

import contextlib
import itertools
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from ._blas import BlasHold, blas_limiter, effective_n_threads
from ._chunks import OrderedSum

# Automatic chunks (batch_size=None): as few as the memory bound allows, so
# that the per-chunk Python overhead (some 35 numpy calls, each handing the
# GIL between threads) stays small: a thread's buffers take at most
# AUTO_WORKSPACE_BYTES and AUTO_MAX_ROWS rows (X itself is never copied);
# the number of chunks is rounded up to a multiple of AUTO_CHUNK_MULTIPLE so
# that two threads get equal shares; but no chunk gets less than
# AUTO_MIN_CHUNK_WORK multiply-adds, below which a second thread gains less
# than it costs (the measurements: docs/user_guide/performance.rst).
AUTO_WORKSPACE_BYTES = 16 << 20
AUTO_MAX_ROWS = 4096
AUTO_CHUNK_MULTIPLE = 2
AUTO_MIN_CHUNK_WORK = 4_000_000

# The adaptive schedule (:class:`AdaptiveSchedule`): the threads first, then
# checks, the first after 2 ADAPT_RECENT evaluations (the threads' first
# evaluations after the second core idled are slow), then at intervals that
# double each time a check confirms the choice (from 2 ADAPT_EVERY up to
# ADAPT_MAX_EVERY) and are ADAPT_EVERY after one changes it. A check
# needs no probe when one of the last ADAPT_RECENT threaded evaluations
# gained ADAPT_SURE_GAIN: its threads' CPU time (about what the calling
# thread alone would take, less on a loaded machine) over its wall time.
# Otherwise it probes the other way for ADAPT_RECENT evaluations and takes
# the threads unless the best time of the calling thread alone among its
# last ADAPT_RECENT was under ADAPT_MARGIN times the threads' best (the
# best, not the median: noise only adds time; the margin is what the
# schedule may give away against the better way). Probes cost:
# the threads are slow for their first evaluations after the second core
# idled, so probing the calling thread alone every 16th evaluation cost
# 4-22% of a 100-evaluation loop where the threads were faster
# (docs/user_guide/performance.rst).
ADAPT_RECENT = 3
ADAPT_SURE_GAIN = 1.3
ADAPT_MARGIN = 0.97
ADAPT_EVERY = 16
ADAPT_MAX_EVERY = 256
# n_threads=None uses at most this many threads: each holds a workspace, and
# the chunks' numpy calls between BLAS products serialize on the GIL.
AUTO_MAX_THREADS = 8

# Prediction (:func:`map_chunks`): chunks as in a fit (balanced, at most
# AUTO_MAX_ROWS rows, none under AUTO_MIN_CHUNK_WORK), but a thread's buffers
# within PREDICT_WORKSPACE_BYTES and a multiple of PREDICT_ROW_MULTIPLE rows:
# OpenBLAS's gemm rounds a row by its place in the blocks it cuts the product
# into, and chunks of whole 64-row blocks keep the bits of one product over
# all rows, single-threaded, wherever this was checked (other chunkings move
# the logits by a few ulps, as do 2 BLAS threads instead of 1).
# Every chunk runs with BLAS on one thread. Threads from
# PREDICT_THREAD_MIN_WORK multiply-adds on (two chunks' worth); below, the
# calling thread alone.
PREDICT_WORKSPACE_BYTES = 4 << 20
PREDICT_ROW_MULTIPLE = 64
PREDICT_THREAD_MIN_WORK = 2 * AUTO_MIN_CHUNK_WORK


def balanced_batch_size(n_samples, row_bytes, row_work):
    """Rows per chunk when `batch_size` is None.

    `row_bytes` are a thread's buffer bytes per row, `row_work` the
    multiply-adds per row. Depends on the data's shape only, never on the
    number of threads or CPUs, so a fit gives the same result on any machine.
    Chunks are balanced: ``n`` rows in ``k`` chunks get ``ceil(n / k)`` rows
    each.
    """
    max_rows = max(1, min(AUTO_MAX_ROWS, AUTO_WORKSPACE_BYTES // row_bytes))
    min_rows = min(max_rows, -(-AUTO_MIN_CHUNK_WORK // row_work))
    fewest = -(-n_samples // max_rows)
    n_chunks = max(1, -(-fewest // AUTO_CHUNK_MULTIPLE) * AUTO_CHUNK_MULTIPLE)
    if n_samples < n_chunks * min_rows:
        n_chunks = max(fewest, n_samples // min_rows, 1)
    return max(1, -(-n_samples // n_chunks))


def chunk_bounds(n_samples, batch_size):
    """Row ranges ``[(start, stop), ...]`` of `batch_size` rows covering the data."""
    batch_size = max(1, int(batch_size))
    return [(a, min(a + batch_size, n_samples)) for a in range(0, n_samples, batch_size)]


def prediction_batch_size(n_samples, row_bytes, row_work):
    """Rows per prediction chunk (see the module's constants).

    `row_bytes` are a thread's buffer bytes per row, `row_work` the
    multiply-adds per row; depends on the shapes only.
    """
    multiple = PREDICT_ROW_MULTIPLE
    max_rows = min(AUTO_MAX_ROWS, PREDICT_WORKSPACE_BYTES // max(1, row_bytes))
    max_rows = max(multiple, max_rows // multiple * multiple)
    min_rows = min(max_rows, -(-AUTO_MIN_CHUNK_WORK // max(1, row_work)))
    fewest = -(-n_samples // max_rows)
    n_chunks = max(1, -(-fewest // AUTO_CHUNK_MULTIPLE) * AUTO_CHUNK_MULTIPLE)
    if n_samples < n_chunks * min_rows:
        n_chunks = max(fewest, n_samples // min_rows, 1)
    rows = -(-n_samples // n_chunks)
    return max(1, min(n_samples, -(-rows // multiple) * multiple))


def prediction_threads(n_jobs, work, n_chunks):
    """Threads for a prediction of `work` multiply-adds in `n_chunks` chunks.

    One below :data:`PREDICT_THREAD_MIN_WORK` (read at each call); otherwise
    :func:`effective_n_threads` of `n_jobs` (None: at most
    :data:`AUTO_MAX_THREADS`), never more than chunks. A function of the
    shapes and the thread settings, never of a timing.
    """
    if work < PREDICT_THREAD_MIN_WORK:
        return 1
    n_threads = effective_n_threads(n_jobs)
    if n_jobs is None:
        n_threads = min(n_threads, AUTO_MAX_THREADS)
    return max(1, min(n_threads, n_chunks))


def map_chunks(fn, n_chunks, make_workspace, n_threads=1):
    """``fn(c, workspace)`` for every chunk c, with BLAS on one thread.

    For chunks that write disjoint parts of one output (prediction): there is
    nothing to add up, so the threads take chunks from a shared counter in
    any order and the result is the same for any `n_threads` (each chunk is
    computed alike wherever it runs). With ``n_threads == 1`` the calling
    thread runs every chunk, in order, with one workspace; otherwise it and
    ``n_threads - 1`` workers each hold one. The first exception raised in a
    chunk stops the others and is raised once every thread has stopped.
    """
    n_threads = max(1, min(int(n_threads), n_chunks))
    with blas_limiter.limited():
        if n_threads == 1:
            workspace = make_workspace()
            for c in range(n_chunks):
                fn(c, workspace)
            return
        counter = itertools.count()  # next() on it is atomic under the GIL
        failed = threading.Event()

        def work(workspace):
            try:
                for c in counter:
                    if c >= n_chunks or failed.is_set():
                        return
                    fn(c, workspace)
            except BaseException:
                failed.set()
                raise

        with ThreadPoolExecutor(n_threads - 1, "skmlp-predict") as pool:
            futures = [pool.submit(work, make_workspace()) for _ in range(n_threads - 1)]
            try:
                work(make_workspace())
            finally:
                for f in futures:
                    f.exception()  # every worker has stopped before anything is raised
            for f in futures:
                f.result()


class Clock:
    """The schedule's clocks: wall time, and the CPU time of the thread that asks.

    Tests inject a fake with the same two methods.
    """

    @staticmethod
    def wall():
        return time.perf_counter()

    @staticmethod
    def cpu():
        return time.thread_time()


class AdaptiveSchedule:
    """Whether the next evaluation uses the threads, from the times of the last ones.

    A function of the recorded times only (see the module's constants): the
    threads, and now and then a check, by their gain or a probe the other
    way, at intervals that double while the checks confirm the choice.

    Parameters
    ----------
    clock : Clock, optional
        Where the executor reads the times (tests pass a fake).
    """

    def __init__(self, clock=None):
        self.clock = Clock() if clock is None else clock
        self._times = {True: deque(maxlen=ADAPT_RECENT), False: deque(maxlen=ADAPT_RECENT)}
        self._gains = deque(maxlen=ADAPT_RECENT)  # of the last threaded evaluations
        self._threads = True  # the way chosen
        self._probe_left = 0  # evaluations of the running probe still to go
        self._check_at = 2 * ADAPT_RECENT
        self._every = ADAPT_EVERY
        self.n_evaluations = 0

    def threaded(self):
        """Whether the next evaluation should use the threads."""
        return self._threads != (self._probe_left > 0)

    def record(self, threaded, seconds, cpu_seconds):
        """An evaluation's wall time and its threads' CPU time, the way it went."""
        self.n_evaluations += 1
        self._times[threaded].append(seconds)
        if threaded:
            self._gains.append(cpu_seconds / seconds if seconds > 0 else float("inf"))
        if self._probe_left:
            self._probe_left -= 1
            if not self._probe_left:
                self._choose()
        elif self.n_evaluations >= self._check_at:
            if self._threads and self._sure():
                self._choose()
            else:
                self._probe_left = ADAPT_RECENT

    def _sure(self):
        """Whether the last threaded evaluations show the threads clearly paying."""
        return max(self._gains, default=0.0) >= ADAPT_SURE_GAIN

    def _choose(self):
        """Choose the way from the times, and when to check it next."""
        times = self._times
        threads = self._sure() or not min(times[False]) < ADAPT_MARGIN * min(times[True])
        if threads == self._threads:
            self._every = min(2 * self._every, ADAPT_MAX_EVERY)
        else:
            self._threads, self._every = threads, ADAPT_EVERY
        self._check_at = self.n_evaluations + self._every


class ThreadExecutor:
    """Run a chunk set's tasks over threads; add the results in chunk order.

    Parameters
    ----------
    chunk_set : ChunkSet
        The chunks and their tasks (:mod:`skmlp._chunks`).
    n_threads : int or None, default=None
        Threads evaluating chunks, the caller's included (never more than
        chunks, until a task of more items, e.g. the Gauss-Newton pieces,
        asks for more). None: :func:`~skmlp._blas.effective_n_threads` (at
        most 8), and each timed task runs either on all of them or on the
        calling thread alone, as :class:`AdaptiveSchedule` decides from its
        times. The result does not depend on it.
    schedule : AdaptiveSchedule, optional
        The schedule of the timed tasks; default: a new one if `n_threads`
        is None. Unused on one thread.
    """

    def __init__(self, chunk_set, n_threads=None, schedule=None):
        self.chunk_set = chunk_set
        if n_threads is None:
            n_threads = min(effective_n_threads(), AUTO_MAX_THREADS)
            schedule = AdaptiveSchedule() if schedule is None else schedule
        self.max_threads = max(1, int(n_threads))
        self.n_threads = 0
        self.workspaces, self._slots, self._pool = [], [], None
        self._grow(chunk_set.n_chunks)
        self.schedule = schedule if self.n_threads > 1 else None
        self.clock = Clock() if self.schedule is None else self.schedule.clock
        self.n_threaded = 0
        self._turn = threading.Condition()
        self._blas = BlasHold()

    def _grow(self, n_items):
        """Threads (and their buffers) for tasks of `n_items` items, at most `max_threads`."""
        n_threads = max(1, min(self.max_threads, n_items))
        if n_threads <= self.n_threads:
            return
        chunk_set = self.chunk_set
        self.workspaces += [chunk_set.make_workspace() for _ in range(n_threads - self.n_threads)]
        n_slots = 1 if n_threads == 1 else 2 * n_threads
        self._slots += [chunk_set.make_slot() for _ in range(n_slots - len(self._slots))]
        if self._pool is not None:
            self._pool.shutdown()
        self._pool = None
        if n_threads > 1:
            self._pool = ThreadPoolExecutor(n_threads - 1, "skmlp-executor")
        self.n_threads = n_threads

    @property
    def sum_weights(self):
        """``S``, the chunks' weight sum (until :meth:`close`)."""
        return self.chunk_set.sum_weights

    def __enter__(self):
        # BLAS single-threaded from here to close(), between evaluations
        # too: limiting it around each evaluation alone lets every evaluation
        # wake OpenBLAS's workers when it ends, and they then spin on the
        # CPUs the next evaluation's chunk threads need.
        self._blas.hold()
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        """Stop the worker threads, drop the chunks and buffers, release the BLAS limit."""
        self._blas.release()
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        self.chunk_set, self.workspaces, self._slots = None, [], []

    def reduce(self, task, *args):
        """``(sum of the chunks' scalars, sum of their vectors)`` of a task, in chunk order.

        Parameters
        ----------
        task : str
            A task of the chunk set (``"evaluate"``, ``"loss"``, ``"hessp"``,
            ``"gauss_newton"``, ``"validation"``), with its arguments.

        Returns
        -------
        total : float
        vector : ndarray
            float64, new.
        """
        task = self.chunk_set.task(task, *args)
        self._grow(len(task.indices))
        timed = task.timed and self.schedule is not None
        threaded = self._pool is not None and len(task.indices) > 1
        if timed:
            threaded = self.schedule.threaded()
        total = OrderedSum()
        start = self.clock.wall()
        with contextlib.nullcontext() if self._blas.held else blas_limiter.limited():
            cpu_seconds = self._run(task.run, len(task.indices), total, threaded)
        if timed:
            self.schedule.record(threaded, self.clock.wall() - start, cpu_seconds)
        self.n_threaded += task.timed and threaded
        return total.result()

    def _run(self, run, n_chunks, total, threaded):
        """Every chunk through `run`, the results added to `total` in chunk order.

        Chunks go to the threads from one counter; slot ``c % R`` of the ring
        of ``R = 2 n_threads`` holds chunk c's result until it is added to the
        totals, which happens strictly in chunk order (whichever thread
        completes the next chunk in order adds every completed one after it),
        so a thread waits only when the ring is full. Unthreaded, the calling
        thread evaluates every chunk, in the same order, with the same result.
        Returns the CPU seconds the threads spent.
        """
        if not threaded:
            start = self.clock.cpu()
            ws, slot = self.workspaces[0], self._slots[0]
            for c in range(n_chunks):
                total.add(*run(c, ws, slot))
            return self.clock.cpu() - start
        ring = _Ring(run, n_chunks, total, self._slots, self._turn, self.clock)
        helpers = self.workspaces[1:n_chunks]  # no thread without an item to take
        futures = [self._pool.submit(ring.work, ws) for ws in helpers]
        try:
            ring.work(self.workspaces[0])
        finally:
            for f in futures:
                f.exception()  # every worker has stopped before anything is raised
        for f in futures:
            f.result()
        return ring.cpu_seconds


class _Ring:
    """A threaded run's shared state: the chunk counter and the ring of results.

    Slot ``c % R`` holds chunk c's result until it is added, strictly in
    chunk order, by whichever thread completes the next chunk in order.
    ``cpu_seconds`` adds up the threads' CPU times.
    """

    def __init__(self, run, n_chunks, total, slots, turn, clock):
        self.run, self.n_chunks, self.total = run, n_chunks, total
        self.slots, self.turn, self.clock = slots, turn, clock
        self.cpu_seconds = 0.0
        self.counter = itertools.count()  # next() on it is atomic under the GIL
        self.next = 0  # the next chunk to add
        self.failed = False
        self.results = [None] * len(slots)

    def work(self, ws):
        """Take chunks until none are left (or a thread failed)."""
        n_slots = len(self.slots)
        start = self.clock.cpu()
        try:
            for c in self.counter:
                if c >= self.n_chunks or not self._room_for(c):
                    return
                result = self.run(c, ws, self.slots[c % n_slots])
                self._add_in_order(c, result)
        except BaseException:
            with self.turn:
                self.failed = True
                self.turn.notify_all()
            raise
        finally:
            seconds = self.clock.cpu() - start
            with self.turn:
                self.cpu_seconds += seconds

    def _room_for(self, c):
        """Wait until chunk c's slot is free; False if a thread failed."""
        n_slots = len(self.slots)
        if c - self.next >= n_slots:
            with self.turn:
                while c - self.next >= n_slots and not self.failed:
                    self.turn.wait()
        return not self.failed

    def _add_in_order(self, c, result):
        n_slots = len(self.slots)
        with self.turn:
            self.results[c % n_slots] = result
            while self.next < self.n_chunks and self.results[self.next % n_slots]:
                s = self.next % n_slots
                self.total.add(*self.results[s])
                self.results[s] = None
                self.next += 1
            self.turn.notify_all()
