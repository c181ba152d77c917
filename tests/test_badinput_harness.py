"""The bad-input harness itself: it must fail a case that hangs, raises the wrong error, says the wrong thing, returns
a wrong result or changes state (a harness that cannot fail would make every bad-input suite pass)."""
import pytest
import torch

from badinput import Case, ids, model_state, run_case


def _raise(exc):
    raise exc


def test_a_right_case_passes():
    run_case(Case("error", lambda: _raise(ValueError("block_size must be >= 1")), raises=ValueError, match="block_size"))
    run_case(Case("result", lambda: 3, returns=lambda r: r == 3))


@pytest.mark.parametrize("case", [
    Case("hang", lambda: [None for _ in iter(int, 1)], returns=lambda r: True, timeout=0.5),
    Case("wrong type", lambda: _raise(TypeError("block_size")), raises=ValueError, match="block_size"),
    Case("wrong message", lambda: _raise(ValueError("oops")), raises=ValueError, match="block_size"),
    Case("no error", lambda: 1, raises=ValueError, match="x"),
    Case("wrong result", lambda: 2, returns=lambda r: r == 3),
], ids=lambda c: c.id)
def test_a_wrong_outcome_fails(case):
    with pytest.raises(AssertionError):
        run_case(case)


def test_a_changed_state_fails():
    model = torch.nn.Linear(2, 2)
    with pytest.raises(AssertionError, match="state changed"):
        run_case(Case("eval", lambda: model.eval(), returns=lambda r: True, state=lambda: model_state(model)))
    model.train()
    with pytest.raises(AssertionError, match="state changed"):
        run_case(Case("weights", lambda: model.weight.data.add_(1e-3), returns=lambda r: True,
                      state=lambda: model_state(model)))


def test_repeated_ids_are_refused():
    with pytest.raises(ValueError, match="repeated"):
        ids([Case("a", lambda: 1, returns=bool), Case("a", lambda: 1, returns=bool)])
