"""The client side of a cluster fit: actors placed on the workers, reduced in chunk order."""

import time
from dataclasses import dataclass

import dask
from dask.distributed import wait

from .._blas import BlasHold
from .._chunks import OrderedSum, total_weight
from ..exceptions import WorkerLostError
from .input import check_chunk
from .worker import ChunkWorker

# The workers to place the chunks on, in turn (default: where the scheduler
# puts them); the model does not depend on it.
WORKERS_CONFIG = "skmlp.dask.workers"
# How long a failed actor call may take to show up as a lost worker, and how
# many workers one evaluation may lose before the fit gives up.
LOST_WORKER_WAIT = 10.0
MAX_RECOVERIES = 4


@dataclass
class _Holder:
    """An actor, the future that created it, its worker and its chunks."""

    future: object
    actor: object
    address: str
    chunks: list


class DaskExecutor:
    """The executor interface of :mod:`skmlp._executor`, with the chunks on workers.

    ``reduce(task, *args) -> (total, vector)`` runs the chunk-set `task` on
    every :class:`~skmlp._dask.worker.ChunkWorker` actor (the arguments sent
    once per worker: one message per worker per evaluation, no scheduler
    round trip), which returns ``(chunk index, scalar, vector)`` per chunk it
    holds, and adds them with :class:`~skmlp._chunks.OrderedSum` strictly in
    chunk order: the result depends on the chunks, never on the workers or
    the placement. A call that finds a worker gone rebuilds its chunks from
    their source and is repeated (see `_recover`).
    """

    def __init__(self, client, loads, sources, sizes):
        self.client = client
        self._loads = loads  # chunk index -> check_chunk's arguments (its source)
        self._sources = sources  # chunk index -> Source, when streamed
        self.sizes = sizes  # chunk index -> rows
        self._balance = not dask.config.get(WORKERS_CONFIG, None)
        self.n_chunks = len(loads)
        self.spec = None
        self.holders = []
        self.n_recoveries = 0
        self.lost_workers = []
        self.sum_weights = None
        self._terms = {}
        self._chunks = None  # [(chunk index, future of its Chunk)] until build
        self._blas = BlasHold()

    # ---------------------------------------------------------- building
    #
    # load_chunks -> map_chunks (the validation passes, before any actor
    # exists: data errors are raised there) -> set_terms -> build (the
    # actors, inside the `with` that closes them).

    def load_chunks(self, indices):
        """Compute and validate the chunks on the cluster, kept for :meth:`build`."""
        self._chunks = self.load(indices)

    def map_chunks(self, function, *args):
        """``function(chunk, *args)`` for each loaded chunk, on its worker, in chunk order.

        A failure raises the error of the first failing chunk in chunk
        order, whichever worker failed first.
        """
        futures = [
            self.client.submit(function, future, *args, pure=False) for _, future in self._chunks
        ]
        wait(futures)
        for future in futures:
            if future.status == "error":
                future.result()
        return self.client.gather(futures)

    def set_terms(self, terms):
        """The chunks' training weight sums and row counts, from the validation pass.

        `terms` are ``{chunk index: (training weight sum, training rows,
        held-out rows)}`` (:func:`~skmlp._dask.split.split_summary`); ``S``,
        the total training weight, is their sum in chunk order.
        """
        self._terms = dict(terms)
        order = sorted(terms)
        self.sum_weights = total_weight(terms[i][0] for i in order)
        self.n_train = sum(terms[i][1] for i in order)
        self.n_val = sum(terms[i][2] for i in order)

    def build(self, spec):
        """One actor per worker for the loaded chunks that worker holds.

        The actors prepare their chunk sets (normalized by ``S``) as they are
        built; the loaded chunks are released (the actors hold what they
        need), so an executor is built once. On any failure the actors built
        so far are released.
        """
        chunks, self._chunks = self._chunks, None
        if chunks is None:
            raise RuntimeError(
                "This DaskExecutor was built already; its chunks are in its actors."
            )
        self.spec = spec
        try:
            self.holders = self._actors(chunks, self.sum_weights)
        except BaseException:
            self.close()
            raise

    def _placement(self, chunks):
        """``{worker: [(index, future)]}``: where each chunk's actor will be.

        A chunk stays where it was loaded while that worker holds less than
        its share of the rows (counting the actors it already has); the rest
        go, in chunk order, to the worker with the fewest rows: evaluations
        wait for the slowest worker, so the rows are balanced once, here
        (moving those chunks once), rather than paid for at every evaluation.
        With ``skmlp.dask.workers`` set, chunks stay where they were placed.
        """
        futures = [future for _, future in chunks]
        wait(futures)
        who_has = self.client.who_has(futures)
        home = {index: sorted(who_has[future.key])[0] for index, future in chunks}
        if dask.config.get(WORKERS_CONFIG, None):
            workers = sorted(set(home.values()))
        else:
            workers = sorted(self.client.nthreads())
        rows = dict.fromkeys(workers, 0)
        for holder in self.holders:
            if holder.address in rows:
                rows[holder.address] += sum(self.sizes[i] for i in holder.chunks)
        share = (sum(rows.values()) + sum(self.sizes[i] for i, _ in chunks)) / len(workers)
        placed = {worker: [] for worker in workers}
        moved = []
        for index, future in chunks:
            worker = home[index]
            if worker in rows and (rows[worker] < share or not self._balance):
                placed[worker].append((index, future))
                rows[worker] += self.sizes[index]
            else:
                moved.append((index, future))
        for index, future in moved:
            worker = min(workers, key=lambda w: (rows[w], w))
            placed[worker].append((index, future))
            rows[worker] += self.sizes[index]
        return {worker: items for worker, items in placed.items() if items}

    def _actors(self, chunks, sum_weights=None):
        by_worker = self._placement(chunks)
        holders = []
        for address, items in sorted(by_worker.items()):
            indices = [i for i, _ in items]
            sources = {i: self._sources[i] for i in indices if i in self._sources}
            future = self.client.submit(
                ChunkWorker,
                self.spec,
                [f for _, f in items],
                sources,
                sum_weights,
                workers=[address],
                allow_other_workers=False,
                actor=True,
                pure=False,
            )
            holders.append(_Holder(future, None, address, indices))
        for holder in holders:
            holder.actor = holder.future.result()
        return holders

    def load(self, indices, pinned=True):
        """Compute the given chunks on the cluster: ``[(index, future)]``.

        With ``skmlp.dask.workers`` set to a list of worker addresses, chunk
        i is placed on the ``i % len``-th of them (unless `pinned` is False,
        as after a lost worker); otherwise the scheduler places them.
        """
        # New keys on every call, and a placement that binds the load task
        # alone (an annotation, not a restriction of the whole graph): a
        # rebuilt chunk must not inherit a lost task's binding to a worker
        # that has died.
        workers = dask.config.get(WORKERS_CONFIG, None) if pinned else None
        loads = []
        for i in indices:
            place = {"workers": [workers[i % len(workers)]]} if workers else {}
            with dask.annotate(**place):
                loads.append(dask.delayed(check_chunk, pure=False)(*self._loads[i]))
        return list(zip(indices, self.client.compute(loads)))

    # ---------------------------------------------------------- calling

    def _raise_if_closed(self, error):
        """A clear error when the client was closed under the fit (no worker was lost)."""
        if self.client.status in ("closing", "closed"):
            raise RuntimeError(
                "The dask Client was closed during the fit; the estimator is left "
                "as it was. Keep the client open until fit returns."
            ) from error

    def _lost(self, holder):
        """Whether the holder's worker has gone (waiting a little to be sure)."""
        deadline = time.monotonic() + LOST_WORKER_WAIT
        while True:
            if holder.future.status != "finished":
                return True
            if holder.address not in self.client.nthreads():
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)

    def reduce(self, task, *args):
        """``(sum of the chunks' scalars, sum of their vectors)`` of a task, in chunk order."""
        terms = self.terms(task, *args)
        total = OrderedSum()
        for index in sorted(terms):
            total.add(*terms[index])
        return total.result()

    def terms(self, task, *args):
        """Run the chunk-set `task` on every actor: ``{chunk index: (scalar, vector)}``."""
        for _ in range(MAX_RECOVERIES + 1):
            results, lost = {}, []
            try:
                calls = [(h, h.actor.terms(task, *args)) for h in self.holders]
            except Exception as error:
                self._raise_if_closed(error)
                raise
            for holder, call in calls:
                try:
                    for index, scalar, vector in call.result():
                        results[index] = (scalar, vector)
                except Exception as error:
                    # An error of the task itself arrives as its own type;
                    # a lost worker shows as a comm (OSError) or runtime error;
                    # a closed client is neither.
                    self._raise_if_closed(error)
                    if not isinstance(error, (OSError, RuntimeError)) or not self._lost(holder):
                        raise
                    lost.append(holder)
            if not lost:
                return results
            self._recover(lost)
        raise WorkerLostError(
            f"The fit lost workers {self.lost_workers} and gave up after "
            f"{MAX_RECOVERIES} recoveries within one evaluation."
        )

    def _recover(self, lost):
        """Rebuild the lost workers' chunks and actors from the chunks' sources."""
        for holder in lost:
            self.lost_workers.append(holder.address)
            self.holders.remove(holder)
        indices = sorted(i for holder in lost for i in holder.chunks)
        names = ", ".join(h.address for h in lost)
        try:
            chunks = self.load(indices, pinned=False)
            wait([future for _, future in chunks])
            for _, future in chunks:
                if future.status != "finished":
                    future.result()  # raises the reason
            holders = self._actors(chunks, self.sum_weights)
            rebuilt = {}
            for holder in holders:
                for index, total, n_train, n_val in holder.actor.weight_sums().result():
                    rebuilt[index] = (total, n_train, n_val)
        except Exception as error:
            raise WorkerLostError(
                f"Worker {names} died during the fit, holding chunks {indices}, "
                f"and they could not be rebuilt from their source: {error!r}"
            ) from error
        for index in indices:
            if rebuilt[index] != self._terms[index]:
                raise WorkerLostError(
                    f"Worker {names} died during the fit; chunk {index} rebuilt "
                    f"from its source differs from the lost one ({rebuilt[index]} "
                    f"!= {self._terms[index]}): its source is not deterministic."
                )
        self.holders.extend(holders)
        self.n_recoveries += 1

    def stats(self):
        """Per worker: resident bytes of X, chunks read from source."""
        return {h.address: h.actor.stats().result() for h in self.holders}

    def close(self):
        """Release the actors (and with them the chunks on the workers), and BLAS."""
        self._blas.release()
        futures = [h.future for h in self.holders]
        self.holders = []
        # A closed client has released its futures (and the actors) already.
        if futures and self.client.status not in ("closing", "closed"):
            self.client.cancel(futures)

    def __enter__(self):
        # BLAS single-threaded on the client from here to close(), as the
        # thread executor does: the solver's vector products (L-BFGS-B's
        # two-loop recursion) otherwise wake OpenBLAS's threads, which spin
        # on the cores the workers compute on (docs/user_guide/dask.rst).
        self._blas.hold()
        return self

    def __exit__(self, *exc_info):
        self.close()
