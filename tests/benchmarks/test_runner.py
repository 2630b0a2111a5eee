"""The runner's timing: CPU seconds are split between this process and its children."""

from __future__ import annotations

import subprocess
import sys

from benchmarks.runner import measure

# Burns half a CPU-second (process time, so contention cannot shorten it), says so, then
# stays alive until its stdin closes, as a local cluster's worker stays alive between runs.
BURNER = """
import sys, time
while time.process_time() < 0.5:
    pass
print("done", flush=True)
sys.stdin.read()
"""


def test_cpu_of_a_worker_process_is_counted_as_the_workers_not_the_clients():
    child = subprocess.Popen([sys.executable, "-c", BURNER], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        timing = measure(child.stdout.readline, repeat=1, warmup=False)
    finally:
        child.stdin.close()
        child.wait(timeout=30)
    assert timing.cpu_child_processes >= 0.45
    assert timing.cpu_this_process < 0.45  # waiting on a pipe, and the memory sampler
    assert set(timing.as_dict()) >= {"cpu_this_process", "cpu_child_processes"}
