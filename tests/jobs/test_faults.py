"""Faults: a worker killed mid-job, and two sessions running jobs on one cluster at once."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time

import compute
from compute.jobs import integrity, verify
from compute.tables import Catalog


def test_a_worker_killed_mid_job_does_not_change_the_result(dataset, dask_scheduler,
                                                            same_rows):
    address, _ = dask_scheduler
    with compute.connect(data=dataset, scheduler=address) as session:
        session.client.wait_for_workers(2, timeout=60)
        expected = session.run(integrity(session), show_progress=False)
        victim = next(iter(session.client.run(os.getpid).values()))
        done: dict[str, object] = {}

        def run() -> None:
            done["result"] = session.run(integrity(session), show_progress=False)

        worker = threading.Thread(target=run)
        worker.start()
        # Kill one worker process (its nanny restarts it) once tasks are running.
        deadline = time.monotonic() + 30
        while not session.client.processing() or not any(session.client.processing().values()):
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.01)
        os.kill(victim, signal.SIGKILL)
        worker.join(timeout=300)
        assert not worker.is_alive()
        result = done["result"]
        for output in expected.outputs:
            same_rows(result[output], expected[output])
        assert victim not in session.client.run(os.getpid).values()  # it really died


def run_in_own_process(data: str, address: str, job: str) -> dict:
    """One analyst: a process of its own, joining the cluster and running ``job``."""
    from compute.jobs import JOBS

    with compute.connect(data=data, scheduler=address) as session:
        return dict(session.run(JOBS[job].build(session), show_progress=False).outputs)


def test_two_sessions_at_once_both_get_correct_results(dataset, local_cluster, same_rows):
    """Two analysts (two processes, as two notebooks) run jobs on one cluster at once."""
    session = compute.Session(Catalog.load(dataset), local_cluster)
    jobs = ("verify", "integrity")
    expected = {job: session.run(build(session), show_progress=False)
                for job, build in zip(jobs, (verify, integrity), strict=True)}
    address = local_cluster.client.scheduler.address
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        got = pool.starmap(run_in_own_process, [(str(dataset), address, job) for job in jobs])
    for job, outputs in zip(jobs, got, strict=True):
        assert set(outputs) == set(expected[job].outputs)
        for output, frame in outputs.items():
            same_rows(frame, expected[job][output])
