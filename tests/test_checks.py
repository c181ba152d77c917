"""Every exercise check accepts a right answer, rejects a wrong one, and is quiet about an unattempted one."""
import torch

from course_lib import checks

CASES = [
    (checks.check_tanh_slope_at_zero, 1.0, 0.5),
    (checks.check_sigmoid_max_slope, 0.25, 0.5),
    (checks.check_mlp_parameter_count, 235_146, 234_752),
    (checks.check_relu_backward, lambda g, a: g * (a > 0), lambda g, a: g * (a >= 0) * a),
    (checks.check_max_learning_rate, 0.2, 0.1),
]


def test_right_wrong_and_not_attempted(capsys):
    for check, right, wrong in CASES:
        assert check(right) is True, check.__name__
        assert check(wrong) is False, check.__name__
        assert check(None) is None, check.__name__
    assert checks.check_relu_backward(lambda g, a: None) is None  # the template, unchanged
    out = capsys.readouterr().out
    assert out.count("correct ✔") == len(CASES)
    assert out.count("not yet ✘ hint:") == len(CASES)
    assert out.count("not attempted yet") == len(CASES) + 1


def test_hints_are_specific(capsys):
    checks.check_mlp_parameter_count(234_752)  # weights only
    assert "biases" in capsys.readouterr().out
    checks.check_relu_backward(lambda g, a: 1 / 0)
    assert "ZeroDivisionError" in capsys.readouterr().out
    assert checks.check_sigmoid_max_slope("a quarter") is False
    assert checks.check_relu_backward(lambda g, a: torch.zeros(3)) is False


RECURRENT_CASES = [
    (checks.check_rnn_parameter_count, 295_936, 295_424),
    (checks.check_rnn_step, lambda x, h, Wx, Wh, bx, bh: torch.tanh(x @ Wx.T + bx + h @ Wh.T + bh),
     lambda x, h, Wx, Wh, bx, bh: torch.tanh(x @ Wx + h @ Wh)),
    (checks.check_hn_shape, (2, 3, 5), (3, 7, 5)),
    (checks.check_vanishing_factor, 0.5 ** 20, 0.5 * 20),
    (checks.check_lstm_parameter_count, 4 * 295_936, 295_936),
    (checks.check_lstm_cell_update, lambda i, f, g, o, c: (f * c + i * g, o * torch.tanh(f * c + i * g)),
     lambda i, f, g, o, c: (i * c + f * g, o * torch.tanh(i * c + f * g))),
    (checks.check_keep_memory_gates, (0, 1), (1, 0)),
    (checks.check_gru_parameter_count, 3 * 295_936, 4 * 295_936),
    (checks.check_gru_copy_gate, 1, 0),
    (checks.check_adding_baseline, 1 / 6, 1 / 12),
]


def test_recurrent_checks(capsys):
    for check, right, wrong in RECURRENT_CASES:
        assert check(right) is True, check.__name__
        assert check(wrong) is False, check.__name__
        assert check(None) is None, check.__name__
    assert checks.check_rnn_step(lambda *args: None) is None
    capsys.readouterr()
    checks.check_rnn_parameter_count(295_424)
    assert "two biases" in capsys.readouterr().out
