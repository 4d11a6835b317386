r"""The engine: forward pass, loss and backprop gradient in one pass.

For a network with parameter vector :math:`\theta` (weights :math:`W_l`,
intercepts :math:`b_l`), sample weights :math:`s_i` and
:math:`S = \sum_i s_i`, the objective is the course's cost J generalized::

    J(theta) = 1/S * sum_i s_i * loss(a_i, y_i) + alpha / (2 S) * sum_l ||W_l||^2

with ``a_i`` the output logits and ``loss`` either the summed binary
cross-entropy of one sigmoid per output ("logistic", the course's cost) or
the multinomial cross-entropy ("softmax"). Both are computed from the logits,
so no ``log(0)`` and no overflow for finite inputs. Their gradient with
respect to the logits is ``p - y`` in both cases, which backpropagation
carries down the layers::

    delta_L = s / S * (p - y)
    dJ/dW_l = Z_{l-1}^T delta_l + alpha / S * W_l,    dJ/db_l = sum_i delta_l
    delta_{l-1} = (delta_l W_l^T) * f'(Z_{l-1})

The binary cross-entropy of a logit ``a`` with target ``y`` in {0, 1} is
``softplus(u)`` with ``u = (1 - 2 y) a``, and ``p - y = (1 - 2 y) expit(u)``:
written so, neither the loss nor the delta loses digits to cancellation (the
point of it in float32).

Execution. The rows are split into chunks of `batch_size` rows. A chunk is
evaluated with one thread's workspace (activations, deltas, scratch, all
preallocated for the largest chunk) into a result slot (its loss and
gradient), so an evaluation allocates nothing that grows with ``n_samples``
and the extra memory is ``O(batch_size x widest layer)`` per thread; dense X
is only read, never copied. With ``n_threads > 1`` the calling thread and
``n_threads - 1`` workers pull chunks in order from a shared counter and run
their BLAS calls single-threaded (numpy releases the GIL); each chunk's loss
and gradient are added to the float64 totals strictly in chunk order, so the
result depends on `batch_size` but never on the number of threads. During
an evaluation BLAS is limited to one thread (and while the objective is
used as a context manager, from entering it to closing it): the chunks are
the parallelism, and spinning BLAS workers would compete with them. By
default an evaluation uses the threads only while that is faster than the
calling thread alone (see `Objective`'s `n_threads`).
"""

import contextlib
import functools
import itertools
import os
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp
from scipy.special import log_expit, log_softmax
from threadpoolctl import ThreadpoolController

from ._activations import ACTIVATIONS, DERIVATIVES

# Automatic chunks (batch_size=None): as few as the memory bound allows, so
# that the per-chunk Python overhead (some 35 numpy calls, each handing the
# GIL between threads) stays small: a thread's buffers take at most
# AUTO_WORKSPACE_BYTES and AUTO_MAX_ROWS rows (X itself is never copied);
# the number of chunks is rounded up to a multiple of AUTO_CHUNK_MULTIPLE so
# that two threads get equal shares; but no chunk gets less than
# AUTO_MIN_CHUNK_WORK multiply-adds (about 0.3 ms), below which a second
# thread gains less than it costs. (Measured on 2 vCPUs, 5000 x 400 rows,
# 400-25-10: two chunks of 2500 rows beat four of 1250 by 10% in float64 and
# float32; splitting the cache-sized chunks of the draft gained nothing.)
AUTO_WORKSPACE_BYTES = 16 << 20
AUTO_MAX_ROWS = 4096
AUTO_CHUNK_MULTIPLE = 2
AUTO_MIN_CHUNK_WORK = 4_000_000

# n_threads=None: the first ADAPT_PROBES evaluations run on the threads, the
# next ADAPT_PROBES on the calling thread alone; afterwards each evaluation
# takes the way whose best time among its last ADAPT_RECENT was shorter, and
# now and then one tries the other way to follow changing load: at evaluation
# ADAPT_EVERY, then after twice as many evaluations each time such a probe
# confirms the choice, after ADAPT_EVERY again when it changes it. (A probe
# the wrong way costs a whole evaluation's worth; probing every 16th cost 5%
# of a 100-iteration fit on 2 CPUs.)
ADAPT_PROBES = 2
ADAPT_RECENT = 4
ADAPT_EVERY = 16
# ... and uses at most this many threads: each holds a workspace, and the
# chunks' numpy calls between BLAS products serialize on the GIL.
AUTO_MAX_THREADS = 8


def available_cpus():
    """Number of CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def workspace_row_bytes(layer_sizes, itemsize=8):
    """Bytes of one thread's buffers per row of a chunk (see `_Workspace`)."""
    units = layer_sizes[1:]
    return itemsize * (2 * sum(units) + max(units) + units[0] + 3)


def auto_batch_size(n_samples, layer_sizes, itemsize=8):
    """Rows per chunk when `batch_size` is None.

    Depends on the data's shape only, never on the number of threads or
    CPUs, so a fit gives the same result on any machine. Chunks are balanced:
    ``n`` rows in ``k`` chunks get ``ceil(n / k)`` rows each.
    """
    row_bytes = workspace_row_bytes(layer_sizes, itemsize)
    max_rows = max(1, min(AUTO_MAX_ROWS, AUTO_WORKSPACE_BYTES // row_bytes))
    row_work = sum(a * b for a, b in itertools.pairwise(layer_sizes))
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


@functools.cache
def _blas_controller():
    # Built once: inspecting the loaded libraries is slow, limiting is not.
    return ThreadpoolController()


def forward_logits(layout, theta, X, activation):
    """Output logits for `X`, shape ``(n_samples, n_outputs)`` (allocates)."""
    coefs, intercepts = layout.coefs(theta), layout.intercepts(theta)
    dtype = X.dtype if X.dtype == np.float32 else np.float64
    A = X
    for i, (W, b) in enumerate(zip(coefs, intercepts)):
        Z = A @ W.astype(dtype, copy=False)
        Z += b.astype(dtype, copy=False)
        if i < len(coefs) - 1:
            ACTIVATIONS[activation](Z)
        A = Z
    return np.asarray(A)


def log_proba_from_logits(logits, out_activation):
    """Log class probabilities from the output logits.

    One logistic output (binary) gives two columns; several logistic outputs
    (one sigmoid per class) are normalized so that rows sum to one.
    """
    if logits.shape[1] == 1:
        return np.hstack([log_expit(-logits), log_expit(logits)])
    if out_activation == "softmax":
        return log_softmax(logits, axis=1)
    return log_softmax(log_expit(logits), axis=1)


class _Workspace:
    """One thread's buffers for one chunk at a time.

    ``Z[l]`` the activations of hidden layer ``l + 1`` and ``D[l]`` its
    deltas, one row per sample; the output layer's logits and deltas
    transposed, one row per output (see `Objective._output_delta`); a scratch
    array as wide as the widest layer, small per-row vectors, and for dense
    data the first layer's products in the transposed layout (see
    `Objective._forward`).
    """

    def __init__(self, layout, n_rows, dtype, dense=True):
        n_features, sizes = layout.layer_sizes[0], layout.layer_sizes[1:]
        if dense:
            self._first_t = np.empty(sizes[0] * n_rows, dtype)
            self.grad_first_t = np.empty((sizes[0], n_features), dtype)
        self.Z = [np.empty((n_rows, size), dtype) for size in sizes[:-1]]
        self.D = [np.empty((n_rows, size), dtype) for size in sizes[:-1]]
        self._logits_t = np.empty(sizes[-1] * n_rows, dtype)
        self._delta_t = np.empty(sizes[-1] * n_rows, dtype)
        self._scratch = np.empty(n_rows * max(sizes), dtype)
        self.rows = np.empty((2, n_rows), dtype)
        self.ones = np.ones(max(n_rows, sizes[-1]), dtype)
        self.out = np.empty(sizes[-1], dtype)

    def scratch(self, m, width):
        """A contiguous ``(m, width)`` scratch array."""
        return self._scratch[: m * width].reshape(m, width)

    def first_t(self, m, width):
        """A contiguous ``(width, m)`` array for the transposed first layer."""
        return self._first_t[: m * width].reshape(width, m)

    def logits_t(self, m):
        """The contiguous ``(n_outputs, m)`` logits of an m-row chunk."""
        return self._logits_t[: m * self.out.size].reshape(-1, m)

    def delta_t(self, m):
        """The contiguous ``(n_outputs, m)`` output deltas of an m-row chunk."""
        return self._delta_t[: m * self.out.size].reshape(-1, m)


class _Slot:
    """A chunk's result until it is added: its loss and gradient (with views)."""

    def __init__(self, layout, dtype):
        self.grad = np.empty(layout.n_params, dtype)
        self.coefs = layout.coefs(self.grad)
        self.intercepts = layout.intercepts(self.grad)
        self.loss = 0.0


class Objective:
    """J and its gradient on fixed data, as a pure function of theta.

    Parameters
    ----------
    layout : Layout
        Layer sizes and the positions of the parameters in theta.
    X : ndarray or sparse matrix of shape (n_samples, n_features)
        float32 data are evaluated in float32 (the loss and gradient are
        still accumulated and returned in float64), anything else in
        float64. Never written to; dense data are not copied.
    Y : ndarray of shape (n_samples, n_outputs)
        Binary targets, one column per output unit.
    sample_weight : ndarray of shape (n_samples,) or None
        Non-negative weights with a positive sum.
    activation : {'logistic', 'tanh', 'relu', 'identity'}
        Hidden-unit activation.
    out_activation : {'logistic', 'softmax'}
        Output units and loss.
    alpha : float
        L2 penalty on the weights (not the intercepts).
    batch_size : int or None
        Rows per chunk; None picks one from the data's shape
        (:func:`auto_batch_size`). The result depends on it only by rounding.
    n_threads : int or None
        Threads evaluating chunks, the caller's included. None: the
        available CPUs (at most 8), but each evaluation runs either on all
        of them or on the calling thread alone, whichever has lately been
        faster (on a loaded machine a descheduled worker can make a threaded
        evaluation wait a whole scheduler tick). The result does not depend
        on it.

    Notes
    -----
    Use it as a context manager (or call :meth:`close`) to stop the worker
    threads and drop the references to the data. Inside the ``with`` block
    BLAS stays limited to one thread, between evaluations too.
    """

    def __init__(
        self,
        layout,
        X,
        Y,
        sample_weight=None,
        *,
        activation="logistic",
        out_activation="logistic",
        alpha=1.0,
        batch_size=None,
        n_threads=None,
    ):
        n_samples = X.shape[0]
        self.layout = layout
        self.activation = activation
        self.out_activation = out_activation
        self.dtype = np.dtype(np.float32 if X.dtype == np.float32 else np.float64)
        self.alpha = float(alpha)
        if sample_weight is None:
            sample_weight = np.ones(n_samples)
        sample_weight = np.asarray(sample_weight, dtype=np.float64)
        self.sum_weights = float(sample_weight.sum())

        if batch_size is None:
            batch_size = auto_batch_size(n_samples, layout.layer_sizes, self.dtype.itemsize)
        self.batch_size = int(batch_size)
        self.bounds = chunk_bounds(n_samples, self.batch_size)
        adaptive = n_threads is None
        n_threads = min(available_cpus(), AUTO_MAX_THREADS) if adaptive else int(n_threads)
        self.n_threads = max(1, min(n_threads, len(self.bounds)))
        self._adaptive = adaptive and self.n_threads > 1
        self._recent = {True: deque(maxlen=ADAPT_RECENT), False: deque(maxlen=ADAPT_RECENT)}
        self._probe_every = self._probe_at = ADAPT_EVERY
        self._probed = None  # the way that was best when the last probe ran
        self.n_threaded_evaluations = 0

        self._sparse = sp.issparse(X)
        if self._sparse:
            # Row slices of a CSR matrix are copies (of the chunk's nonzeros
            # only); made once here, not per evaluation.
            X = sp.csr_matrix(X)
            self._X = [X[a:b] for a, b in self.bounds]
        else:
            X = np.asarray(X)
            if not (X.flags.c_contiguous or X.flags.f_contiguous):
                X = np.ascontiguousarray(X)  # BLAS needs one unit stride
            self._X = [X[a:b] for a, b in self.bounds]
        if X.dtype != self.dtype:
            self._X = [Xc.astype(self.dtype) for Xc in self._X]

        # Per-row data in the working dtype: normalized weights w = s / S, and
        # for softmax Y * w, for logistic outputs the signs 1 - 2 Y, per
        # chunk and transposed (outputs x rows) as the output layer's buffers.
        w = sample_weight / self.sum_weights
        Y = np.asarray(Y)
        self._softmax = out_activation == "softmax" and Y.shape[1] > 1
        self._target = []
        for a, b in self.bounds:
            # Written straight into the working dtype: no temporaries.
            target = np.empty((Y.shape[1], b - a), self.dtype)
            if self._softmax:
                np.multiply(Y[a:b].T, w[a:b], out=target, casting="unsafe")
            else:
                np.multiply(Y[a:b].T, -2, out=target, casting="unsafe")
                target += 1
            self._target.append(target)
        w = w.astype(self.dtype)
        self._w = [w[a:b] for a, b in self.bounds]

        max_rows = max(b - a for a, b in self.bounds)
        self._workspaces = [
            _Workspace(layout, max_rows, self.dtype, dense=not self._sparse)
            for _ in range(self.n_threads)
        ]
        # The parameters in the working dtype, and the float64 totals.
        self._theta = np.empty(layout.n_params, self.dtype)
        self._coefs = layout.coefs(self._theta)
        self._intercepts = layout.intercepts(self._theta)
        self._grad = np.empty(layout.n_params)
        self._loss = 0.0
        n_slots = 1 if self.n_threads == 1 else 2 * self.n_threads
        self._slots = [_Slot(layout, self.dtype) for _ in range(n_slots)]
        self._executor = None
        if self.n_threads > 1:
            self._executor = ThreadPoolExecutor(self.n_threads - 1, "skmlp-objective")
        self._turn = threading.Condition()
        self._blas_limit = None  # set while used as a context manager
        self.n_evaluations = 0

    def close(self):
        """Stop the worker threads, drop the data, restore BLAS's threads."""
        if self._blas_limit is not None:
            self._blas_limit.restore_original_limits()
            self._blas_limit = None
        if self._executor is not None:
            self._executor.shutdown()
            self._executor = None
        self._X = self._target = self._w = None

    def __enter__(self):
        # BLAS single-threaded from here to close(), between evaluations
        # too: limiting it around each evaluation alone lets every evaluation
        # wake OpenBLAS's workers when it ends, and they then spin on the
        # CPUs the next evaluation's chunk threads need.
        if self._blas_limit is None:
            self._blas_limit = _blas_controller().limit(limits=1, user_api="blas")
        return self

    def __exit__(self, *exc_info):
        self.close()

    def penalty(self, theta):
        """The L2 term alpha / (2 S) * sum of squared weights."""
        weights = theta[: self.layout.n_coefs]
        return 0.5 * self.alpha / self.sum_weights * float(weights @ weights)

    def loss(self, theta):
        """J(theta) only (still computes the gradient)."""
        return self.loss_and_grad(theta)[0]

    def loss_and_grad(self, theta):
        """J(theta) and dJ/dtheta (a new float64 vector)."""
        theta = np.asarray(theta, dtype=np.float64)
        self._theta[...] = theta
        self._loss = 0.0
        self._grad[...] = 0.0
        threaded = self._threaded()
        start = time.perf_counter()
        with self._single_threaded_blas():
            self._run(self._chunk_loss_and_grad, threaded)
        self._recent[threaded].append(time.perf_counter() - start)
        self.n_threaded_evaluations += threaded
        n_coefs = self.layout.n_coefs
        loss = self._loss + self.penalty(theta)
        grad = self._grad.copy()
        grad[:n_coefs] += (self.alpha / self.sum_weights) * theta[:n_coefs]
        self.n_evaluations += 1
        return loss, grad

    # ---------------------------------------------------------- execution

    def _single_threaded_blas(self):
        """A context limiting BLAS to one thread, unless it already is."""
        if self._blas_limit is not None:
            return contextlib.nullcontext()
        return _blas_controller().limit(limits=1, user_api="blas")

    def _threaded(self):
        """Whether the next evaluation uses the worker threads."""
        if self._executor is None:
            return False
        if not self._adaptive:
            return True
        k = self.n_evaluations
        if k < 2 * ADAPT_PROBES:
            return k < ADAPT_PROBES
        _, best = min((min(times), threaded) for threaded, times in self._recent.items())
        if self._probed is not None:  # the evaluation after a probe
            confirmed = best == self._probed
            self._probe_every = 2 * self._probe_every if confirmed else ADAPT_EVERY
            self._probe_at = k + self._probe_every
            self._probed = None
        if k >= self._probe_at:
            self._probed = best
            return not best
        return best

    def _run(self, chunk_fn, threaded=True):
        """Evaluate every chunk with `chunk_fn`; add the results in chunk order.

        ``chunk_fn(c, ws, slot)`` evaluates chunk `c` with the buffers of
        workspace `ws`, writes its gradient into ``slot.grad`` and returns
        its loss. Chunks go to the threads from one counter; slot ``c % R``
        of a ring of ``R = 2 n_threads`` holds chunk c's result until it is
        added to the totals, which happens strictly in chunk order (whichever
        thread completes the next chunk in order adds every completed one
        after it), so a thread waits only when the ring is full. With
        ``threaded=False`` the calling thread evaluates every chunk, in the
        same order, with the same result.
        """
        n_chunks = len(self.bounds)
        slots = self._slots
        if not threaded or self._executor is None:
            ws, slot = self._workspaces[0], slots[0]
            for c in range(n_chunks):
                slot.loss = chunk_fn(c, ws, slot)
                self._add(slot)
            return
        n_slots = len(slots)
        counter = itertools.count()  # next() on it is atomic under the GIL
        turn = self._turn
        state = {"next": 0, "failed": False}
        ready = [False] * n_slots

        def work(ws):
            try:
                for c in counter:
                    if c >= n_chunks:
                        return
                    if c - state["next"] >= n_slots:
                        with turn:
                            while c - state["next"] >= n_slots and not state["failed"]:
                                turn.wait()
                    if state["failed"]:
                        return
                    slot = slots[c % n_slots]
                    slot.loss = chunk_fn(c, ws, slot)
                    with turn:
                        ready[c % n_slots] = True
                        while state["next"] < n_chunks and ready[state["next"] % n_slots]:
                            self._add(slots[state["next"] % n_slots])
                            ready[state["next"] % n_slots] = False
                            state["next"] += 1
                        turn.notify_all()
            except BaseException:
                with turn:
                    state["failed"] = True
                    turn.notify_all()
                raise

        futures = [self._executor.submit(work, ws) for ws in self._workspaces[1:]]
        try:
            work(self._workspaces[0])
        finally:
            for f in futures:
                f.exception()  # every worker has stopped before anything is raised
        for f in futures:
            f.result()

    def _add(self, slot):
        """Add a chunk's loss and gradient to the float64 totals."""
        self._loss += slot.loss
        np.add(self._grad, slot.grad, out=self._grad)

    # ------------------------------------------------------------- passes

    def _forward(self, c, ws):
        """Fill ``ws.Z`` with the hidden activations of chunk `c`.

        Returns the logits, transposed: ``ws.logits_t``, one row per output.
        """
        Xc = self._X[c]
        m = Xc.shape[0]
        A = Xc
        last = len(self._coefs) - 1
        activation = ACTIVATIONS[self.activation]
        for i, (W, b) in enumerate(zip(self._coefs, self._intercepts)):
            if i == last:
                # (W^T A^T): outputs x rows, so that the softmax reduces
                # along contiguous rows and the output layer's backward
                # products take their faster orientation (measured: float32
                # evaluations of 400-25-10 3% faster, float64 unchanged).
                logits = ws.logits_t(m)
                if i == 0 and self._sparse:
                    logits[...] = (Xc @ W).T
                else:
                    np.matmul(W.T, A.T, out=logits)
                logits += b[:, None]
                return logits
            Z = ws.Z[i][:m]
            if i == 0 and self._sparse:
                Z[...] = Xc @ W
                Z += b
            elif i == 0 and self.dtype == np.float64:
                # (W^T X^T)^T: OpenBLAS's dgemm is ~25% faster with the long
                # dimension as M; sgemm is faster the plain way.
                Z_t = ws.first_t(m, W.shape[1])
                np.matmul(W.T, Xc.T, out=Z_t)
                np.add(Z_t.T, b, out=Z)
            else:
                np.matmul(A, W, out=Z)
                Z += b
            activation(Z)
            A = Z

    def _output_delta(self, c, ws, logits):
        """The chunk's weighted loss; ``ws.delta_t`` gets ``(w (p - y))^T``.

        `logits` are transposed (outputs x rows), as are the deltas; the
        logits are overwritten.
        """
        k, m = logits.shape
        w = self._w[c]
        target = self._target[c]
        G = ws.delta_t(m)
        if self._softmax:
            # loss_i = log sum_k exp(t_ki) - t_y_i,i with t = a - max_k a.
            shift, total = ws.rows[0, :m], ws.rows[1, :m]
            logits.max(axis=0, out=shift)
            logits -= shift
            np.exp(logits, out=G)
            np.matmul(ws.ones[:k], G, out=total)
            np.log(total, out=shift)
            loss = float(np.dot(w, shift)) - float(np.vdot(target, logits))
            np.divide(w, total, out=total)
            G *= total
            G -= target  # target = w y
            return loss
        # Logistic outputs: u = (1 - 2 y) a, loss = softplus(u),
        # p - y = (1 - 2 y) expit(u) = (1 - 2 y) (1 + tanh(u / 2)) / 2.
        logits *= target
        np.multiply(logits, 0.5, out=G)
        np.tanh(G, out=G)
        G += 1
        G *= 0.5
        G *= target
        G *= w
        # softplus(u) = max(u, 0) + log1p(exp(-|u|)).
        T = ws.scratch(k, m)
        np.abs(logits, out=T)
        np.negative(T, out=T)
        np.exp(T, out=T)
        np.log1p(T, out=T)
        np.maximum(logits, 0, out=logits)
        logits += T
        np.matmul(logits, w, out=ws.out)
        return float(ws.out.sum(dtype=np.float64))

    def _backward(self, c, ws, delta_t, slot):
        """The chunk's gradient into ``slot.grad``, from the output deltas.

        `delta_t` are the output deltas transposed (outputs x rows); each
        layer's deltas are handled through such a transposed view.
        """
        Xc = self._X[c]
        m = delta_t.shape[1]
        ones = ws.ones[:m]
        derivative = DERIVATIVES[self.activation]
        for i in range(len(self._coefs) - 1, -1, -1):
            if i == 0 and self._sparse:
                slot.coefs[0][...] = Xc.T @ delta_t.T
            elif i == 0:
                # (D^T X)^T: 15-25% faster than X^T D (the long dimension as M).
                np.matmul(delta_t, Xc, out=ws.grad_first_t)
                np.copyto(slot.coefs[0], ws.grad_first_t.T)
            else:
                np.matmul(ws.Z[i - 1][:m].T, delta_t.T, out=slot.coefs[i])
            np.matmul(delta_t, ones, out=slot.intercepts[i])
            if i > 0:
                D_prev = ws.D[i - 1][:m]
                np.matmul(delta_t.T, self._coefs[i].T, out=D_prev)
                Z_prev = ws.Z[i - 1][:m]
                derivative(Z_prev, D_prev, ws.scratch(m, Z_prev.shape[1]))
                delta_t = D_prev.T

    def _chunk_loss_and_grad(self, c, ws, slot):
        logits = self._forward(c, ws)
        loss = self._output_delta(c, ws, logits)
        self._backward(c, ws, ws.delta_t(logits.shape[1]), slot)
        return loss
