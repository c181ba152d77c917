"""The harness of the bad-input suites (``tests/test_bad_inputs_*.py``): one table row per call a learner might make.

Each :class:`Case` names one call and its exact expected outcome:

* ``raises=ValueError, match="block_size"`` — the call must raise that type, and the message must match the regular
  expression (it names the argument, and the fix where there is one);
* ``returns=lambda result: ...`` — the call must succeed and the predicate must hold on what it returned.

Every call runs under a time limit (``timeout`` seconds, enforced with ``SIGALRM``), so a hang fails the case instead of
the suite. ``state`` (optional) returns a snapshot of what the call must leave unchanged (a model's mode and
parameters, a widget's state); it is taken before and after the call and compared exactly.
"""
from __future__ import annotations

import re
import signal
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch


class CaseTimeout(Exception):
    """The call did not finish within its time limit: a hang, as far as a learner is concerned."""


@dataclass
class Case:
    id: str
    call: Callable[[], Any]
    raises: type[BaseException] | tuple[type[BaseException], ...] | None = None
    match: str | None = None
    returns: Callable[[Any], bool] | None = None
    state: Callable[[], Any] | None = None
    timeout: float = 30.0

    def __post_init__(self):
        if (self.raises is None) == (self.returns is None):
            raise ValueError(f"case {self.id!r}: give exactly one of raises= or returns=")
        if self.raises is not None and not self.match:
            raise ValueError(f"case {self.id!r}: an expected error must say what its message names (match=)")


def same(a, b) -> bool:
    """Exact equality of nested snapshots (tensors, arrays, dicts, lists, plain values). A NaN equals a NaN in the
    same place: a snapshot that holds NaN (a diverged model's parameters) is unchanged when nothing touched it."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape
                and a.dtype == b.dtype
                and (torch.equal(a, b) or (a.is_floating_point() and bool(((a == b) | (a.isnan() & b.isnan())).all()))))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
                and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc" and b.dtype.kind in "fc"))
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def model_state(model: torch.nn.Module) -> dict:
    """A snapshot for ``Case.state``: the training mode of every submodule and a copy of every parameter and buffer."""
    return {"modes": [m.training for m in model.modules()],
            "tensors": {k: v.detach().clone() for k, v in model.state_dict().items()}}


def _on_alarm(signum, frame):
    raise CaseTimeout()


def run_case(case: Case) -> None:
    """Run one case and fail (``AssertionError``) unless its outcome is exactly the expected one."""
    before = case.state() if case.state else None
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, case.timeout)
    try:
        try:
            result = case.call()
        except CaseTimeout:
            raise AssertionError(f"{case.id}: did not finish within {case.timeout} s (a hang)") from None
        except BaseException as exc:  # noqa: BLE001 - every outcome is judged below
            if case.raises is None:
                raise AssertionError(f"{case.id}: expected a result, got {type(exc).__name__}: {exc}") from exc
            if not isinstance(exc, case.raises):
                raise AssertionError(f"{case.id}: expected {case.raises}, got {type(exc).__name__}: {exc}") from exc
            if not re.search(case.match, str(exc)):
                raise AssertionError(f"{case.id}: message {str(exc)!r} does not match {case.match!r}") from exc
        else:
            if case.raises is not None:
                raise AssertionError(f"{case.id}: expected {case.raises}, but the call returned {result!r:.200}")
            if not case.returns(result):
                raise AssertionError(f"{case.id}: the result {result!r:.300} is wrong")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    if case.state is not None:
        after = case.state()
        if not same(before, after):
            raise AssertionError(f"{case.id}: the call left state changed")


def ids(cases: list[Case]) -> list[str]:
    """pytest ids; also checks that no id repeats (a copied row that was not edited)."""
    names = [c.id for c in cases]
    repeated = {n for n in names if names.count(n) > 1}
    if repeated:
        raise ValueError(f"repeated case ids: {sorted(repeated)}")
    return names
