"""compute.connect: a Session closes the cluster it started and only leaves one it joined."""

from __future__ import annotations

import pytest

import compute
from compute.exceptions import CatalogError


def test_session_on_a_joined_cluster_leaves_it_running(dataset, dask_scheduler):
    address, _ = dask_scheduler
    for _ in range(2):  # the second connect works only if the first close left it running
        with compute.connect(data=dataset, scheduler=address) as session:
            session.client.wait_for_workers(2, timeout=60)
            assert not session.cluster.owns_cluster
            population = session.run(compute.rollup(session), show_progress=False)["population"]
            assert population.query("level == 'nation'")["population"].sum() > 0


def test_session_closes_the_cluster_it_started(dataset):
    with compute.connect(data=dataset, backend="cpu", workers=1) as session:
        assert session.cluster.owns_cluster and session.backend == "cpu"
        deaths = session.table("deaths", columns=["death_date"]).shape[0].compute()
        assert deaths == session.rows("deaths")
    assert session.client.status == "closed"


def test_connect_reads_the_catalog_before_starting_anything(tmp_path, dead_address):
    with pytest.raises(CatalogError, match=r"has no catalog \(catalog\.db\)"):
        compute.connect(data=tmp_path, scheduler=dead_address)
