"""Set-up shared by every notebook: seeds, device, CPU threads, full/fast mode, the offline guard.

``course_lib.setup(seed=0)`` is the only global state the course has.
"""
from __future__ import annotations

import math
import numbers
import os
import random
import socket
import time
from dataclasses import dataclass

import numpy as np
import torch


TRUE_VALUES = ("1", "true", "yes", "y", "on")
FALSE_VALUES = ("0", "false", "no", "n", "off", "")


def env_flag(name: str, default: bool = False) -> bool:
    """An on/off environment variable: ``1 true yes y on`` mean on, ``0 false no n off`` (or empty) mean off, in any
    case and with spaces around; unset means ``default``. Any other value is refused with a ``ValueError`` that names
    the variable: a typo must not silently pick the other mode."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be the name of an environment variable (a str), got {name!r:.40}")
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in TRUE_VALUES:
        return True
    if value in FALSE_VALUES:
        return False
    raise ValueError(f"environment variable {name}={raw!r} is neither on nor off: set {name}=1 (on) or {name}=0 (off); "
                     f"also understood: {', '.join(TRUE_VALUES)} / {', '.join(v for v in FALSE_VALUES if v)}")


def is_fast() -> bool:
    """True in fast mode (``COURSE_FAST=1``, used by CI): every cell runs, training is shrunk.

    ``COURSE_FAST`` accepts the documented on/off values of :func:`env_flag` (``1 true yes y on`` / ``0 false no n
    off``); any other value (``COURSE_FAST=fast``) raises a ``ValueError`` naming the variable rather than meaning full
    mode.
    """
    return env_flag("COURSE_FAST")


def pick(full, fast):
    """``fast`` in fast mode, ``full`` otherwise: ``steps = pick(3000, 60)``."""
    return fast if is_fast() else full


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an integer, got {type(seed).__name__} {seed!r:.40}")
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be in 0..2**32 - 1 (NumPy's range), got {seed}")
    return int(seed)


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's random generators. ``seed``: an integer in ``0..2**32 - 1``."""
    seed = _check_seed(seed)
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


def max_threads_allowed() -> int:
    """The most CPU threads :func:`setup` accepts: 4 × the core count (more only slows training down)."""
    return 4 * (os.cpu_count() or 1)


def _check_threads(name: str, threads) -> int:
    if isinstance(threads, bool) or not isinstance(threads, numbers.Integral):
        raise TypeError(f"{name} must be an integer number of CPU threads, got {type(threads).__name__} "
                        f"{threads!r:.40}")
    limit = max_threads_allowed()
    if not 1 <= threads <= limit:
        raise ValueError(f"{name} must be between 1 and {limit} (4 × the {os.cpu_count() or 1} CPU cores), got "
                         f"{threads}")
    return int(threads)


def pick_threads(max_threads: int | None = None) -> int:
    """The CPU thread count to use: ``COURSE_THREADS`` if set, else the fastest of 1, 2, 4, … up to the core count.

    Measured rather than assumed: on 2 cores two threads are about twice as fast on an idle machine, but when another
    process keeps a core busy one thread can be many times faster. ``COURSE_THREADS`` must be a whole number from 1 to
    :func:`max_threads_allowed`; ``max_threads`` (>= 1; ``None`` or more than the cores: the core count) caps the
    measured candidates.
    """
    if max_threads is not None:
        if isinstance(max_threads, bool) or not isinstance(max_threads, numbers.Integral):
            raise TypeError(f"max_threads must be an integer or None, got {type(max_threads).__name__}")
        if max_threads < 1:
            raise ValueError(f"max_threads must be >= 1 or None, got {max_threads}")
    raw = os.environ.get("COURSE_THREADS", "")
    if raw.strip():
        try:
            threads = int(raw.strip())
        except ValueError:
            raise ValueError(f"environment variable COURSE_THREADS={raw!r} is not a whole number of CPU threads: set "
                             "e.g. COURSE_THREADS=1, or unset it to let the course measure the best count") from None
        if threads < 1:
            raise ValueError(f"COURSE_THREADS must be >= 1, got {threads}")
        return _check_threads("COURSE_THREADS", threads)
    cores = min(max_threads or os.cpu_count() or 1, os.cpu_count() or 1)  # never measure more threads than cores
    candidates = [1]
    while candidates[-1] * 2 <= min(cores, 8):
        candidates.append(candidates[-1] * 2)
    before = torch.get_num_threads()
    try:
        timings = {t: _time_threads(t) for t in candidates}
    finally:
        torch.set_num_threads(before)  # measuring must not change the thread count: setup() sets the chosen one
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

    ``threads`` overrides the measured choice (as does the ``COURSE_THREADS`` environment variable): 1 to
    :func:`max_threads_allowed`. ``seed``: an integer in ``0..2**32 - 1``. Everything is checked before anything is set.
    With ``COURSE_OFFLINE=1`` in the environment (the test suite sets it) non-loopback network access is refused;
    ``COURSE_OFFLINE`` and ``COURSE_FAST`` take the on/off values of :func:`env_flag`, and refuse others.
    """
    _check_seed(seed)
    if threads is not None:
        _check_threads("threads", threads)
    fast = is_fast()
    if env_flag("COURSE_OFFLINE"):
        block_network()
    chosen = threads if threads is not None else pick_threads()
    torch.set_num_threads(chosen)
    seed_everything(seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return Setup(seed=seed, device=device, threads=chosen, fast=fast)


def record_metric(name: str, value: float) -> float:
    """Record a notebook's headline number for the benchmark table (``python3 course.py bench``).

    When ``COURSE_METRICS`` names a file, the value is added to that JSON file; otherwise nothing happens.
    Returns ``value`` so a notebook can print it in the same line. ``name``: a non-empty string; ``value``: one finite
    number (a float, an int, or a one-element tensor), checked in both cases so a NaN is caught where it appears.
    """
    import json
    from pathlib import Path

    if not isinstance(name, str) or not name.strip():
        raise TypeError(f"name must be a non-empty string naming the metric, got {name!r:.60}")
    try:
        if isinstance(value, (bool, str, bytes)):
            raise TypeError
        number = float(value)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"value must be one number (a float, an int or a one-element tensor), got "
                        f"{type(value).__name__} {value!r:.60}") from None
    if not math.isfinite(number):
        raise ValueError(f"value of metric {name!r} must be a finite number, got {value!r:.60}: "
                         "a NaN or infinite metric means the run it comes from failed (diverged?)")
    path = os.environ.get("COURSE_METRICS")
    if path:
        file = Path(path).expanduser()
        try:
            table = json.loads(file.read_text()) if file.exists() else {}
            if not isinstance(table, dict):
                raise ValueError("not a JSON object")
            table[name] = number
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(json.dumps(table, indent=2))
        except (OSError, ValueError) as exc:
            raise ValueError(f"COURSE_METRICS={path!r} cannot be used as the metrics file ({exc}): point it at a JSON "
                             "file that holds an object, or delete the damaged file") from None
    return value
