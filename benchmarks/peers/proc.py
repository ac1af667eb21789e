"""Timed subprocesses: CPU seconds (user + system of the child and its children) and wall seconds."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from typing import Sequence


class PeerError(RuntimeError):
    """A peer tool failed or is missing."""


@dataclass
class Timing:
    """Accumulated CPU and wall seconds of one or more steps."""

    cpu_s: float = 0.0
    wall_s: float = 0.0
    steps: list = field(default_factory=list)

    def add(self, other: "Timing") -> "Timing":
        self.cpu_s += other.cpu_s
        self.wall_s += other.wall_s
        self.steps.extend(other.steps)
        return self


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(cmd: Sequence[str], *, stdout=None, env: dict | None = None, cwd: str | None = None,
        label: str | None = None) -> Timing:
    """Run ``cmd`` to completion and time it. Raises PeerError (with stderr's tail) on failure.

    The children's CPU time is read from RUSAGE_CHILDREN before and after, so it is exact only
    while no other child of this process runs at the same time (the benchmark runs tools one by one).
    """
    _check_exists(cmd)
    cpu0, wall0 = _children_cpu(), time.perf_counter()
    proc = subprocess.run(list(cmd), stdout=stdout if stdout is not None else subprocess.DEVNULL,
                          stderr=subprocess.PIPE, env=env, cwd=cwd)
    timing = Timing(_children_cpu() - cpu0, time.perf_counter() - wall0)
    timing.steps.append((label or os.path.basename(cmd[0]), timing.cpu_s, timing.wall_s))
    _check_exit(cmd, proc.returncode, proc.stderr)
    return timing


def run_parallel(cmds: Sequence[Sequence[str]], *, label: str | None = None) -> Timing:
    """Run ``cmds`` at the same time and time them together: CPU seconds summed over all of them
    (each still one process on one core), wall seconds of the whole. Raises PeerError if any fails."""
    for cmd in cmds:
        _check_exists(cmd)
    cpu0, wall0 = _children_cpu(), time.perf_counter()
    procs = [subprocess.Popen(list(cmd), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for cmd in cmds]
    errors = [p.communicate()[1] for p in procs]  # reaps every child, so RUSAGE_CHILDREN counts them all
    timing = Timing(_children_cpu() - cpu0, time.perf_counter() - wall0)
    timing.steps.append((label or os.path.basename(cmds[0][0]), timing.cpu_s, timing.wall_s))
    for cmd, p, err in zip(cmds, procs, errors):
        _check_exit(cmd, p.returncode, err)
    return timing


def _check_exists(cmd: Sequence[str]) -> None:
    if shutil.which(cmd[0]) is None and not os.path.exists(cmd[0]):
        raise PeerError(f"{cmd[0]}: not found (see benchmarks/peers/README.md to install the peers)")


def _check_exit(cmd: Sequence[str], returncode: int, stderr: bytes) -> None:
    if returncode != 0:
        tail = stderr.decode("utf-8", "replace").strip().splitlines()[-5:]
        raise PeerError(f"{' '.join(cmd[:3])} ... exited {returncode}: " + " | ".join(tail))


class SelfTimer:
    """Times work done inside this process (e.g. ViennaRNA's alifold via its Python module)."""

    def __enter__(self) -> "SelfTimer":
        self._cpu0, self._wall0 = _self_cpu(), time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.timing = Timing(_self_cpu() - self._cpu0, time.perf_counter() - self._wall0)


def output(cmd: Sequence[str]) -> str:
    """stdout+stderr of a short command (for versions); '' if it cannot run."""
    try:
        proc = subprocess.run(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return proc.stdout.decode("utf-8", "replace")


def single_thread_env() -> dict:
    """Environment that keeps BLAS/OpenMP/TensorFlow pools to one thread (for per-core timings)."""
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        env[var] = "1"
    return env
