"""The crash tests' loop: start workers, SIGKILL them at random moments, let their leases expire, reconcile."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class KillRounds:
    rounds: int = 0  # rounds run (each started workers)
    kills: int = 0  # workers SIGKILLed mid-work


def kill_rounds(start: Callable[[], list[subprocess.Popen]], *, rng: random.Random, max_rounds: int,
                kill_delay_s: tuple[float, float], always_kill: int, lease_wait_s: float,
                reconcile: Callable[[], object], done: Callable[[], bool]) -> KillRounds:
    """Up to `max_rounds` rounds (counted, not timed), stopping once `done()`: each starts workers, then, for
    each in turn after a random delay, SIGKILLs it (always in the first `always_kill` rounds, else one time in
    two), waits `lease_wait_s` for killed leases to expire, ends every worker and reconciles."""
    result = KillRounds()
    procs: list[subprocess.Popen] = []
    try:
        while result.rounds < max_rounds and not done():
            result.rounds += 1
            procs = start()
            for proc in procs:
                time.sleep(rng.uniform(*kill_delay_s))
                if result.rounds <= always_kill or rng.random() < 0.5:
                    proc.send_signal(signal.SIGKILL)
                    result.kills += 1
            time.sleep(lease_wait_s)
            stop(procs)
            reconcile()
    finally:
        stop(procs)
    return result


def stop(procs: list[subprocess.Popen]) -> None:
    """Kill and reap every process still running."""
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
