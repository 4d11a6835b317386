"""Fixtures shared by the test modules."""

import pytest


@pytest.fixture(scope="module")
def client():
    """A dask Client on a loopback LocalCluster of 2 single-threaded worker processes.

    One cluster per test module (module scope) keeps the cluster tests' start-up
    cost bounded; dask is imported only by the modules that use it.
    """
    from dask.distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client
