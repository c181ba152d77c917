"""Set-up shared by every notebook: seeds, device, CPU threads, full/fast mode, the offline guard.

``course_lib.setup(seed=0)`` is the only global state the course has.
"""
from __future__ import annotations

import os
import random
import socket
import time
from dataclasses import dataclass

import numpy as np
import torch


def is_fast() -> bool:
    """True in fast mode (``COURSE_FAST=1``, used by CI): every cell runs, training is shrunk."""
    return os.environ.get("COURSE_FAST", "0").strip().lower() in ("1", "true", "yes")


def pick(full, fast):
    """``fast`` in fast mode, ``full`` otherwise: ``steps = pick(3000, 60)``."""
    return fast if is_fast() else full


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's random generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _time_threads(threads: int, repeats: int = 5) -> float:
    """Median seconds of a small workload typical of the course's models (a 256-wide MLP step) on ``threads`` threads."""
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(128, 256, generator=g)
    w1 = torch.randn(256, 256, generator=g, requires_grad=True)
    w2 = torch.randn(256, 256, generator=g, requires_grad=True)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(10):
            loss = torch.tanh(torch.tanh(x @ w1) @ w2).square().mean()
            loss.backward()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def pick_threads(max_threads: int | None = None) -> int:
    """The CPU thread count to use: ``COURSE_THREADS`` if set, else the fastest of 1, 2, 4, … up to the core count.

    Measured rather than assumed: on 2 cores two threads are about twice as fast on an idle machine, but when another
    process keeps a core busy one thread can be many times faster.
    """
    if os.environ.get("COURSE_THREADS"):
        threads = int(os.environ["COURSE_THREADS"])
        if threads < 1:
            raise ValueError(f"COURSE_THREADS must be >= 1, got {threads}")
        return threads
    cores = max_threads or os.cpu_count() or 1
    candidates = [1]
    while candidates[-1] * 2 <= min(cores, 8):
        candidates.append(candidates[-1] * 2)
    timings = {t: _time_threads(t) for t in candidates}
    return min(timings, key=timings.get)


_real_connect = socket.socket.connect


def _loopback_only_connect(self, address):
    host = address[0] if isinstance(address, tuple) else address
    if self.family in (socket.AF_INET, socket.AF_INET6) and host not in ("127.0.0.1", "::1", "localhost"):
        raise ConnectionRefusedError(
            f"network access to {host!r} is blocked: the course runs offline (COURSE_OFFLINE=1). "
            "Everything it needs is installed by `python3 course.py setup`."
        )
    return _real_connect(self, address)


def block_network() -> None:
    """Refuse every socket connection that does not go to this machine (loopback). Used by the tests."""
    socket.socket.connect = _loopback_only_connect
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


@dataclass
class Setup:
    """What :func:`setup` chose. Its repr is the banner the notebooks show."""

    seed: int
    device: torch.device
    threads: int
    fast: bool

    def __repr__(self) -> str:
        mode = "FAST (COURSE_FAST=1: shortened training, every cell still runs)" if self.fast else "FULL"
        return (f"course_lib set-up: seed={self.seed}, device={self.device}, CPU threads={self.threads}, "
                f"torch {torch.__version__}, mode={mode}")


def setup(seed: int = 0, threads: int | None = None) -> Setup:
    """Seed everything, choose the device (a GPU when present) and the CPU thread count, report the mode.

    ``threads`` overrides the measured choice (as does the ``COURSE_THREADS`` environment variable).
    With ``COURSE_OFFLINE=1`` in the environment (the test suite sets it) non-loopback network access is refused.
    """
    if os.environ.get("COURSE_OFFLINE", "0") == "1":
        block_network()
    chosen = threads if threads is not None else pick_threads()
    torch.set_num_threads(chosen)
    seed_everything(seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return Setup(seed=seed, device=device, threads=chosen, fast=is_fast())


def record_metric(name: str, value: float) -> float:
    """Record a notebook's headline number for the benchmark table (``python3 course.py bench``).

    When ``COURSE_METRICS`` names a file, the value is added to that JSON file; otherwise nothing happens.
    Returns ``value`` so a notebook can print it in the same line.
    """
    import json
    from pathlib import Path

    path = os.environ.get("COURSE_METRICS")
    if path:
        file = Path(path)
        table = json.loads(file.read_text()) if file.exists() else {}
        table[name] = float(value)
        file.write_text(json.dumps(table, indent=2))
    return value
