"""Every exercise check accepts a right answer, rejects a wrong one with a hint that says what is wrong, rejects an
answer that only fits one input, is quiet about an unattempted one, and never crashes."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from course_lib import checks


def _fixed_input_answer(right):
    """An answer that only fits one input: it returns the right result for the first call it sees, whatever comes
    next (a hard-coded tensor)."""
    remembered = {}

    def answer(*args):
        if "result" not in remembered:
            remembered["result"] = right(*args)
        return remembered["result"]
    return answer


def _float32(right):
    return lambda *a: tuple(t.float() for t in right(*a)) if isinstance(right(*a), tuple) else right(*a).float()


def _numpy(right):
    return lambda *a: tuple(t.numpy() for t in right(*a)) if isinstance(right(*a), tuple) else right(*a).numpy()


def _never_crashes(check):
    for strange in ("a string", [1, 2], torch.zeros(1, 1, 1), float("nan"), (1, 2, 3)):
        assert check(lambda *a, s=strange: s) is False, (check.__name__, strange)
    assert check(lambda *a: 1 / 0) is False
    assert check(lambda: 0) is False  # a wrong signature is reported, not raised


def _says(capsys, *words):
    out = capsys.readouterr().out
    for word in words:
        assert word in out, (word, out)


NUMBER_CASES = [  # (check, right, wrong ones)
    (checks.check_tanh_slope_at_zero, 1.0, (0.5, 0.0)),
    (checks.check_tilted_bowl_learning_rate, 0.5, (2 / 3, 1.0, 0.2)),
    (checks.check_gradient_decay_rate, 10 ** (-3 / 20), (0.5 ** 20, 1e-3 ** 20, 0.5)),
    (checks.check_forget_bias_for_reach, math.log(0.1 ** 0.01 / (1 - 0.1 ** 0.01)), (0.977, 3.0, 4.6)),
    (checks.check_adding_levels, (2 / 3, 1 / 3), ((1 / 6, 1 / 12), (1 / 3, 1 / 6), (2 / 3,))),
]


def test_number_answers_right_wrong_and_strange(capsys):
    for check, right, wrong in NUMBER_CASES:
        assert check(right) is True, check.__name__
        assert check(np.float32(right) if not isinstance(right, tuple) else list(right)) is True, check.__name__
        assert check(None) is None
        for answer in wrong:
            assert check(answer) is False, (check.__name__, answer)
        for strange in ("a half", True, float("inf"), float("nan"), [1, 2, 3], {}):
            assert check(strange) is False, (check.__name__, strange)
    _says(capsys, "not attempted yet")
    checks.check_tilted_bowl_learning_rate(2 / 3)
    _says(capsys, "diagonal")
    checks.check_forget_bias_for_reach(0.977)
    _says(capsys, "gate value f itself")
    checks.check_adding_levels((1 / 6, 1 / 12))
    _says(capsys, "[0, 1)")


def _central(f, x, h):
    return (f(x + h) - f(x - h)) / (2 * h)


def test_check_central_slope(capsys):
    assert checks.check_central_slope(_central) is True
    assert checks.check_central_slope(lambda f, x, h: np.float64(_central(f, x, h))) is True
    assert checks.check_central_slope(None) is None
    assert checks.check_central_slope(lambda f, x, h: None) is None
    assert checks.check_central_slope(lambda f, x, h: (f(x + h) - f(x)) / h) is False  # one-sided: off by h f''/2
    _says(capsys, "both sides")
    assert checks.check_central_slope(lambda f, x, h: f(x) + 10) is False  # far from any slope: the first hint
    _says(capsys, "straight line")
    assert checks.check_central_slope(_fixed_input_answer(_central)) is False
    _never_crashes(checks.check_central_slope)


RELU = lambda g, a: g * (a > 0)  # noqa: E731


def test_check_relu_backward(capsys):
    assert checks.check_relu_backward(RELU) is True
    assert checks.check_relu_backward(_float32(RELU)) is True
    assert checks.check_relu_backward(_numpy(RELU)) is True
    assert checks.check_relu_backward(None) is None
    assert checks.check_relu_backward(lambda g, a: None) is None  # the template, unchanged
    assert checks.check_relu_backward(lambda g, a: g * (a >= 0) * a) is False
    assert checks.check_relu_backward(lambda g, a: torch.relu(a)) is False
    assert checks.check_relu_backward(_fixed_input_answer(RELU)) is False
    assert checks.check_relu_backward(lambda g, a: torch.zeros(3)) is False
    _says(capsys, "shaped like a")
    _never_crashes(checks.check_relu_backward)
    _says(capsys, "ZeroDivisionError")


def test_check_small_mlp_counts_and_measures_itself(capsys, monkeypatch):
    from course_lib import runtime

    monkeypatch.setattr(runtime, "is_fast", lambda: False)
    torch.manual_seed(0)
    X = torch.randn(10_000, 784)
    y = (X[:, 0] > 0).long()  # a task a 784 -> 10 linear layer solves exactly
    solver = nn.Linear(784, 10)
    with torch.no_grad():
        solver.weight.zero_(), solver.bias.zero_()
        solver.weight[1, 0], solver.weight[0, 0] = 1.0, -1.0
    assert checks.check_small_mlp(solver, X, y) is True
    _says(capsys, "7,850 parameters, test accuracy 100.0%")
    assert checks.check_small_mlp(None, X, y) is None
    assert checks.check_small_mlp(nn.Linear(784, 10), X, y) is False  # untrained
    _says(capsys, "below 86%")
    big = nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))  # 50,890 parameters
    assert checks.check_small_mlp(big, X, y) is False
    _says(capsys, "50,890 parameters, more than 50,000")
    assert checks.check_small_mlp(solver, X[:100], y[:100]) is False  # the whole test set, or nothing
    _says(capsys, "10,000 images")
    assert checks.check_small_mlp(nn.Linear(28, 10), X, y) is False  # a model that cannot read the images
    _says(capsys, "raised RuntimeError")
    assert checks.check_small_mlp(nn.Linear(784, 1), X, y) is False  # one score per image: judged, no crash
    assert checks.check_small_mlp("a model", X, y) is False
    monkeypatch.setattr(runtime, "is_fast", lambda: True)  # fast mode cannot train to 86%: the hint says so
    assert checks.check_small_mlp(nn.Linear(784, 10), X, y) is False
    _says(capsys, "do this exercise in full mode")
    assert solver.training  # the check restores the model's mode


def _clip(grads, max_norm):
    total = torch.sqrt(sum((g**2).sum() for g in grads))
    return [g * min(1.0, max_norm / (total.item() + 1e-6)) for g in grads]


def test_check_clip_by_global_norm(capsys):
    assert checks.check_clip_by_global_norm(_clip) is True
    assert checks.check_clip_by_global_norm(lambda g, m: [t.float() for t in _clip(g, m)]) is True
    assert checks.check_clip_by_global_norm(lambda g, m: tuple(t.numpy() for t in _clip(g, m))) is True
    assert checks.check_clip_by_global_norm(None) is None
    assert checks.check_clip_by_global_norm(lambda g, m: None) is None
    assert checks.check_clip_by_global_norm(lambda g, m: [t * min(1.0, m / t.norm().item()) for t in g]) is False
    _says(capsys, "each tensor on its own")
    assert checks.check_clip_by_global_norm(lambda g, m: [t * m / torch.sqrt(sum((s**2).sum() for s in g))
                                                          for t in g]) is False  # also scales up small gradients
    _says(capsys, "must leave them")
    assert checks.check_clip_by_global_norm(lambda g, m: g[:1]) is False
    _says(capsys, "one tensor per gradient")
    assert checks.check_clip_by_global_norm(_fixed_input_answer(_clip)) is False
    no_epsilon = lambda g, m: [t * min(1.0, m / torch.sqrt(sum((s ** 2).sum() for s in g)).item()) for t in g]  # noqa
    assert checks.check_clip_by_global_norm(no_epsilon) is False  # divides by a zero norm when every gradient is 0
    _says(capsys, "ZeroDivisionError")
    def nan_on_zero(grads, max_norm):  # t / norm * min(norm, max_norm): right, except 0 / 0 = NaN
        total = torch.sqrt(sum((t ** 2).sum() for t in grads))
        return [t / total * total.clamp(max=max_norm) for t in grads]
    assert checks.check_clip_by_global_norm(nan_on_zero) is False
    _says(capsys, "every gradient is 0")

    def in_place(grads, max_norm):  # a right answer that overwrites the tensors it was given
        total = torch.sqrt(sum((g**2).sum() for g in grads)).item()
        for g in grads:
            g.mul_(min(1.0, max_norm / (total + 1e-6)))
        return grads
    assert checks.check_clip_by_global_norm(in_place) is True
    _never_crashes(checks.check_clip_by_global_norm)


def _bigram(ids, V):
    counts = torch.ones(V, V)
    for a, b in zip(ids[:-1].tolist(), ids[1:].tolist()):
        counts[a, b] += 1
    return (counts / counts.sum(1, keepdim=True)).log()


def test_check_bigram(capsys):
    assert checks.check_bigram(_bigram) is True
    ids = torch.randint(5, (300,))
    assert checks.check_bigram(_bigram, ids[:200], ids[200:], 5) is True
    _says(capsys, "held-out loss is")
    assert checks.check_bigram(None) is None
    assert checks.check_bigram(lambda ids, V: None) is None
    assert checks.check_bigram(lambda ids, V: _bigram(ids, V).exp()) is False
    _says(capsys, "logarithms")
    assert checks.check_bigram(lambda ids, V: _bigram(ids, V).T) is False
    _says(capsys, "ROW")

    def unsmoothed(ids, V):
        counts = torch.zeros(V, V)
        for a, b in zip(ids[:-1].tolist(), ids[1:].tolist()):
            counts[a, b] += 1
        return (counts / counts.sum(1, keepdim=True)).log()
    assert checks.check_bigram(unsmoothed) is False
    _says(capsys, "add one")
    assert checks.check_bigram(lambda ids, V: _bigram(ids[1:], V)) is False  # drops the first pair
    assert checks.check_bigram(_fixed_input_answer(_bigram)) is False
    _never_crashes(checks.check_bigram)


def _lstm_count(D, H, layers, bidirectional):
    return sum(p.numel() for p in nn.LSTM(D, H, num_layers=layers, bidirectional=bidirectional).parameters())


def test_check_lstm_parameter_count(capsys):
    assert checks.check_lstm_parameter_count(_lstm_count) is True
    assert checks.check_lstm_parameter_count(lambda *a: float(_lstm_count(*a))) is True
    assert checks.check_lstm_parameter_count(None) is None
    assert checks.check_lstm_parameter_count(lambda *a: None) is None
    one_bias = lambda D, H, n, b: _lstm_count(D, H, n, b) - 4 * H * n * (2 if b else 1)  # noqa: E731
    assert checks.check_lstm_parameter_count(one_bias) is False
    _says(capsys, "four gates")
    reads_x = lambda D, H, n, b: (2 if b else 1) * n * 4 * (H * D + H * H + 2 * H)  # noqa: E731
    assert checks.check_lstm_parameter_count(reads_x) is False
    _says(capsys, "second layer read")
    half = lambda D, H, n, b: sum(2 * 4 * (H * (D if k == 0 else H) + H * H + 2 * H) for k in range(n)) \
        if b else _lstm_count(D, H, n, b)  # noqa: E731
    assert checks.check_lstm_parameter_count(half) is False
    _says(capsys, "both directions")
    assert checks.check_lstm_parameter_count(lambda D, H, n, b: 1_183_744) is False  # right for 64 x 512 only
    for strange in (True, 1.5, "many", float("inf")):
        assert checks.check_lstm_parameter_count(lambda *a, s=strange: s) is False
    _never_crashes(checks.check_lstm_parameter_count)


def _cifg(x, h, c, W_ih, W_hh, b_ih, b_hh):
    f, g, o = (x @ W_ih.T + b_ih + h @ W_hh.T + b_hh).chunk(3, dim=-1)
    f, g, o = f.sigmoid(), g.tanh(), o.sigmoid()
    c_t = f * c + (1 - f) * g
    return o * c_t.tanh(), c_t


def test_check_cifg_step(capsys):
    assert checks.check_cifg_step(_cifg) is True
    assert checks.check_cifg_step(_float32(_cifg)) is True
    assert checks.check_cifg_step(_numpy(_cifg)) is True
    assert checks.check_cifg_step(None) is None
    assert checks.check_cifg_step(lambda *a: None) is None
    assert checks.check_cifg_step(lambda *a: _cifg(*a)[::-1]) is False
    _says(capsys, "order is (h_t, c_t)")
    assert checks.check_cifg_step(lambda *a: (_cifg(*a)[1].sigmoid(), _cifg(*a)[1])) is False
    _says(capsys, "c_t is right")

    def input_equals_forget(x, h, c, W_ih, W_hh, b_ih, b_hh):
        f, g, o = (x @ W_ih.T + b_ih + h @ W_hh.T + b_hh).chunk(3, dim=-1)
        c_t = f.sigmoid() * c + f.sigmoid() * g.tanh()
        return o.sigmoid() * c_t.tanh(), c_t
    assert checks.check_cifg_step(input_equals_forget) is False
    _says(capsys, "c_t is wrong")
    assert checks.check_cifg_step(_fixed_input_answer(_cifg)) is False

    def in_place(x, h, c, W_ih, W_hh, b_ih, b_hh):  # right, but overwrites c
        f, g, o = (x @ W_ih.T + b_ih + h @ W_hh.T + b_hh).chunk(3, dim=-1)
        f = f.sigmoid()
        c.mul_(f).add_((1 - f) * g.tanh())
        return o.sigmoid() * c.tanh(), c
    assert checks.check_cifg_step(in_place) is True
    _never_crashes(checks.check_cifg_step)


def _cho(x, h, W_ih, W_hh, b_ih, b_hh):
    x_r, x_z, x_n = (x @ W_ih.T + b_ih).chunk(3, dim=-1)
    (W_hr, W_hz, W_hn), (b_hr, b_hz, b_hn) = W_hh.chunk(3), b_hh.chunk(3)
    r, z = (x_r + h @ W_hr.T + b_hr).sigmoid(), (x_z + h @ W_hz.T + b_hz).sigmoid()
    n = torch.tanh(x_n + (r * h) @ W_hn.T + b_hn)
    return (1 - z) * n + z * h


def _nn_gru_step(x, h, W_ih, W_hh, b_ih, b_hh):
    return torch.ops.aten.gru_cell(x, h, W_ih, W_hh, b_ih, b_hh)


def test_check_cho_gru_step(capsys):
    assert checks.check_cho_gru_step(_cho) is True
    _says(capsys, "differ by up to")
    assert checks.check_cho_gru_step(_float32(_cho)) is True
    assert checks.check_cho_gru_step(None) is None
    assert checks.check_cho_gru_step(lambda *a: None) is None
    assert checks.check_cho_gru_step(_nn_gru_step) is False  # PyTorch's own GRU: the check finds where it differs
    _says(capsys, "nn.GRU's own step")
    assert checks.check_cho_gru_step(lambda x, h, *w: 2 * h - _cho(x, h, *w) + 0 * h) is False
    assert checks.check_cho_gru_step(_fixed_input_answer(_cho)) is False
    _never_crashes(checks.check_cho_gru_step)


class _Solver(nn.Module):
    """Solves the adding problem exactly, by hand: no learning, just the sum of the marked numbers."""

    def forward(self, x):
        return (x[..., 0] * x[..., 1]).sum(1)


def test_check_adding_experiment_measures_the_model_and_counts_the_steps(capsys):
    from course_lib import adding
    from course_lib.train import History

    within = History(steps=list(range(1, 401)))
    assert checks.check_adding_experiment(_Solver(), within) is True
    _says(capsys, "held-out MSE at T = 200: 0.0000", "400 training steps at T = 200")
    assert checks.check_adding_experiment(None) is None
    assert checks.check_adding_experiment(_Solver()) is False  # no History: the budget cannot be checked
    _says(capsys, "History")
    assert checks.check_adding_experiment(_Solver(), History(steps=list(range(1, 1501)))) is False
    _says(capsys, "you trained 1500 steps at T = 200; the budget is 400")
    assert checks.check_adding_experiment(adding.LastStepRegressor("GRU", hidden=4), within) is False  # untrained
    _says(capsys, "not yet below 0.01")
    assert checks.check_adding_experiment(nn.Linear(2, 1), within) is False  # (n, T, 1): a number per step
    _says(capsys, "one number per sequence")
    assert checks.check_adding_experiment(nn.Linear(3, 1), within) is False  # cannot read the input at all
    _says(capsys, "the model raised RuntimeError")
    assert checks.check_adding_experiment("a model", within) is False
    assert checks.check_adding_experiment(_Solver(), within, length=20, threshold=0.0) is True


def test_a_function_that_lost_its_return_is_told_so(capsys):
    def forgot(grads, max_norm):
        total = torch.sqrt(sum((g ** 2).sum() for g in grads))  # noqa: F841 (the bug under test)

    assert checks.check_clip_by_global_norm(forgot) is False
    _says(capsys, "did you forget `return`?")
    assert checks.check_clip_by_global_norm(lambda g, m: None) is None  # the template itself: not attempted
    _says(capsys, "not attempted yet")

    def relu_forgot(grad_out, a):
        torch.relu(a)

    assert checks.check_relu_backward(relu_forgot) is False
    _says(capsys, "did you forget `return`?")


def test_number_checks_accept_rounded_answers_and_arrays(capsys):
    assert checks.check_gradient_decay_rate(0.71) is True  # the answer to two decimals
    assert checks.check_gradient_decay_rate(0.72) is False
    assert checks.check_gradient_decay_rate(10 ** (3 / 20)) is False
    _says(capsys, "LARGER")
    assert checks.check_adding_levels(np.array([2 / 3, 1 / 3])) is True
    assert checks.check_adding_levels(torch.tensor([2 / 3, 1 / 3])) is True
    assert checks.check_adding_levels("2/3, 1/3") is False


# notebook 05 ---------------------------------------------------------------------------------------------------------

def test_check_additive_scores_right_wrong_and_fitted(capsys):
    from course_lib import checks

    def right(q, K, W_q, W_k, v):
        return torch.tanh(q @ W_q.T + K @ W_k.T) @ v

    fixed = torch.zeros(5)  # a fixed answer: fits at most one input, and the inputs are fresh on every call
    assert checks.check_additive_scores(right) is True
    assert checks.check_additive_scores(lambda q, K, W_q, W_k, v: torch.softmax(right(q, K, W_q, W_k, v), 0)) is False
    assert "weights" in capsys.readouterr().out
    assert checks.check_additive_scores(lambda q, K, W_q, W_k, v: fixed) is False
    assert checks.check_additive_scores(lambda q, K, W_q, W_k, v: (K @ W_k.T) @ v) is False  # forgot the query
    assert checks.check_additive_scores(lambda *a: 1 / 0) is False  # a crash is reported, not raised
    assert "ZeroDivisionError" in capsys.readouterr().out
    assert checks.check_additive_scores(lambda *a: right(*a).float().numpy()) is True  # float32 NumPy is fine
    assert checks.check_additive_scores(None) is None


def test_check_causal_mask_right_wrong_and_fitted(capsys):
    from course_lib import checks

    assert checks.check_causal_mask(lambda T: torch.ones(T, T, dtype=torch.bool).triu(1)) is True
    assert checks.check_causal_mask(lambda T: torch.ones(T, T, dtype=torch.bool).tril(-1)) is False
    assert "rows are queries" in capsys.readouterr().out
    assert checks.check_causal_mask(lambda T: torch.ones(T, T, dtype=torch.bool).triu(1).logical_not()) is False
    assert "inverted" in capsys.readouterr().out
    assert checks.check_causal_mask(lambda T: torch.ones(T, T).triu(1)) is False  # float, not bool
    four = torch.ones(4, 4, dtype=torch.bool).triu(1)
    assert checks.check_causal_mask(lambda T: four) is False  # fits T = 4 only
    assert checks.check_causal_mask(lambda T: None) is None


def test_check_dot_score_experiment_judges_the_model_it_is_given(monkeypatch, capsys):
    from course_lib import checks
    from course_lib import seq2seq as s2s

    src_vocab, tgt_vocab = s2s.date_vocabs()
    dot = s2s.Seq2Seq(s2s.Seq2SeqConfig(len(src_vocab), len(tgt_vocab), emb=4, hidden=8, attention="dot"))
    additive = s2s.Seq2Seq(s2s.Seq2SeqConfig(len(src_vocab), len(tgt_vocab), emb=4, hidden=8, attention="additive"))
    assert checks.check_dot_score_experiment(None, src_vocab, tgt_vocab) is None
    assert checks.check_dot_score_experiment(additive, src_vocab, tgt_vocab) is False  # not the dot score
    assert checks.check_dot_score_experiment("a model", src_vocab, tgt_vocab) is False
    assert checks.check_dot_score_experiment(dot, s2s.reversal_vocab(), tgt_vocab) is False  # wrong vocabulary
    assert "raised" in capsys.readouterr().out
    assert checks.check_dot_score_experiment(dot, src_vocab, tgt_vocab) is False  # untrained: far below 90%
    monkeypatch.setattr(s2s, "decode_accuracy", lambda *a, **k: {"exact": 0.95, "token": 0.99})
    assert checks.check_dot_score_experiment(dot, src_vocab, tgt_vocab) is True  # the threshold, on its own number
    assert "95.0%" in capsys.readouterr().out


# notebook 06 ---------------------------------------------------------------------------------------------------------

def _mha(x, W_q, W_k, W_v, W_o, h, scaled=True):
    """A right answer to exercise 06.1: split into heads, scaled dot-product attention per head, concatenate, W_o."""
    B, T, d = x.shape
    q, k, v = (t.view(B, T, h, d // h).transpose(1, 2) for t in (x @ W_q.T, x @ W_k.T, x @ W_v.T))  # (B, h, T, d_k)
    weights = torch.softmax(q @ k.transpose(-2, -1) / ((d // h) ** 0.5 if scaled else 1), dim=-1)  # (B, h, T, T)
    return (weights @ v).transpose(1, 2).reshape(B, T, d) @ W_o.T


def test_check_multi_head_attention_right_wrong_and_fitted(capsys):
    assert checks.check_multi_head_attention(_mha) is True
    assert checks.check_multi_head_attention(lambda *a: _mha(*a).float().numpy()) is True  # float32 NumPy is fine
    assert checks.check_multi_head_attention(None) is None
    assert checks.check_multi_head_attention(lambda *a: None) is None  # the template, unchanged
    capsys.readouterr()

    def unscaled(x, W_q, W_k, W_v, W_o, h):
        return _mha(x, W_q, W_k, W_v, W_o, h, scaled=False)

    def no_output_projection(x, W_q, W_k, W_v, W_o, h):
        return _mha(x, W_q, W_k, W_v, torch.eye(x.shape[-1], dtype=x.dtype), h)

    def one_head(x, W_q, W_k, W_v, W_o, h):
        return _mha(x, W_q, W_k, W_v, W_o, 1)

    for wrong, message in ((unscaled, "sqrt(d_k)"), (no_output_projection, "W_o"), (one_head, "ONE attention")):
        assert checks.check_multi_head_attention(wrong) is False
        assert message in capsys.readouterr().out
    fixed = torch.zeros(2, 6, 8, dtype=torch.float64)
    assert checks.check_multi_head_attention(lambda *a: fixed) is False  # fits no fresh input
    assert checks.check_multi_head_attention(lambda *a: (_mha(*a), None)) is False  # a tuple, as nn.MultiheadAttention
    assert "tuple" in capsys.readouterr().out
    assert checks.check_multi_head_attention(lambda *a: "output") is False  # not a tensor
    assert checks.check_multi_head_attention(lambda *a: _mha(*a)[0]) is False  # wrong shape
    assert "same shape" in capsys.readouterr().out
    assert checks.check_multi_head_attention(lambda *a: 1 / 0) is False  # a crash is reported, not raised
    assert "ZeroDivisionError" in capsys.readouterr().out


def _encoder_layer_parameters(d_model, dim_feedforward):
    attention = 4 * (d_model * d_model + d_model)  # W_q, W_k, W_v, W_o and biases
    feed_forward = 2 * d_model * dim_feedforward + dim_feedforward + d_model  # W_1, b_1, W_2, b_2
    return attention + feed_forward + 2 * 2 * d_model  # two LayerNorms: gamma and beta


def test_check_encoder_layer_parameters_right_wrong_and_fitted(capsys):
    assert checks.check_encoder_layer_parameters(_encoder_layer_parameters) is True
    assert checks.check_encoder_layer_parameters(lambda d, ff: float(_encoder_layer_parameters(d, ff))) is True
    assert checks.check_encoder_layer_parameters(None) is None
    assert checks.check_encoder_layer_parameters(lambda d, ff: None) is None
    capsys.readouterr()
    assert checks.check_encoder_layer_parameters(lambda d, ff: _encoder_layer_parameters(d, ff) - 4 * d) is False
    assert "LayerNorm" in capsys.readouterr().out
    assert checks.check_encoder_layer_parameters(lambda d, ff: _encoder_layer_parameters(d, ff) - d * d - d) is False
    assert "W_o" in capsys.readouterr().out
    assert checks.check_encoder_layer_parameters(lambda d, ff: _encoder_layer_parameters(d, ff) - d * ff - d) is False
    assert "two layers" in capsys.readouterr().out
    assert checks.check_encoder_layer_parameters(lambda d, ff: 198_272) is False  # right for 64 x 256 only
    for strange in ("many", [1, 2], 1.5, True, float("nan")):  # never a crash, whatever comes back
        assert checks.check_encoder_layer_parameters(lambda d, ff, s=strange: s) is False
    assert checks.check_encoder_layer_parameters(lambda d: 0) is False  # a wrong signature is reported
    assert "TypeError" in capsys.readouterr().out


def test_check_learned_positions_experiment_judges_the_model_it_is_given(monkeypatch, capsys):
    from course_lib import seq2seq as s2s
    from course_lib.transformer import Seq2SeqTransformer, TransformerConfig

    V = len(s2s.reversal_vocab())

    def model(positional, vocab=V, max_len=32):
        return Seq2SeqTransformer(TransformerConfig(vocab, vocab, d_model=8, num_heads=2, num_layers=1,
                                                    dim_feedforward=16, max_len=max_len, positional=positional))

    assert checks.check_learned_positions_experiment(None) is None
    assert checks.check_learned_positions_experiment(model("sinusoidal")) is False
    assert "learned" in capsys.readouterr().out
    assert checks.check_learned_positions_experiment("a model") is False
    assert checks.check_learned_positions_experiment(model("learned", vocab=14)) is False  # the date vocabulary
    assert "reversal" in capsys.readouterr().out
    assert checks.check_learned_positions_experiment(model("learned", max_len=8)) is False  # too short for length 20
    assert "raised" in capsys.readouterr().out
    assert checks.check_learned_positions_experiment(model("learned")) is False  # untrained: far below 90%
    monkeypatch.setattr(s2s, "decode_accuracy", lambda *a, **k: {"exact": 0.93, "token": 0.99})
    assert checks.check_learned_positions_experiment(model("learned")) is True  # the threshold, on its own number
    assert "93.0%" in capsys.readouterr().out
    # the budget: with a history, the steps trained are printed; with steps too, another budget is refused
    from course_lib.train import History

    assert checks.check_learned_positions_experiment(model("learned"), History(steps=list(range(1, 401))), 400)
    assert "trained 400 steps (section 5's models: 400)" in capsys.readouterr().out
    assert checks.check_learned_positions_experiment(model("learned"), History(steps=[1, 2, 3]), 400) is False
    assert "exactly 400 steps" in capsys.readouterr().out
    assert checks.check_learned_positions_experiment(model("learned"), History(steps=[1, 2]))  # no budget: printed
    assert "trained 2 steps" in capsys.readouterr().out
    assert checks.check_learned_positions_experiment(model("learned"), "400 steps", 400) is False
    assert "History" in capsys.readouterr().out


# -- notebook 07 -------------------------------------------------------------------------------------------------------

def _nucleus(probs, p, strict=False):
    """A right answer (strict=True: the common slip that stops one character before the sum reaches p)."""
    s, order = torch.sort(probs, descending=True)
    before = torch.cumsum(s, 0) - (0 if strict else s)
    keep = before < p
    keep[0] = True
    out = torch.zeros_like(probs)
    out[order[keep]] = s[keep]
    return out / out.sum()


def test_check_nucleus_right_wrong_and_fitted(capsys):
    assert checks.check_nucleus(_nucleus) is True
    assert checks.check_nucleus(None) is None
    assert checks.check_nucleus(lambda probs, p: None) is None
    capsys.readouterr()
    assert checks.check_nucleus(lambda probs, p: _nucleus(probs, p, strict=True)) is False
    assert "one character too few" in capsys.readouterr().out
    assert checks.check_nucleus(lambda probs, p: _nucleus(probs, p) * 0.5) is False
    assert "renormalise" in capsys.readouterr().out
    assert checks.check_nucleus(lambda probs, p: probs) is False  # no filtering at all
    for strange in ("many", [1, 2], 1.5):
        assert checks.check_nucleus(lambda probs, p, s=strange: s) is False
    assert checks.check_nucleus(lambda probs: probs) is False  # a wrong signature is reported
    assert "TypeError" in capsys.readouterr().out


def _positions(prompt_len, n, block, use_cache, fills_cache=False):
    total = prompt_len  # the first pass reads the prompt; the last character drawn is never fed back
    for step in range(1, n):
        length = prompt_len + step
        cached = use_cache and (length <= block or fills_cache)
        total += 1 if cached else min(length, block)
    return total


def test_check_positions_read_right_wrong_and_fitted(capsys):
    assert checks.check_positions_read(_positions) is True
    assert checks.check_positions_read(None) is None
    assert checks.check_positions_read(lambda *a: None) is None
    capsys.readouterr()
    assert checks.check_positions_read(lambda P, n, b, c: _positions(P, n, b, c, fills_cache=True)) is False
    assert "oldest character" in capsys.readouterr().out
    assert checks.check_positions_read(lambda P, n, b, c: _positions(P, n + 1, b, c)) is False
    assert "last character" in capsys.readouterr().out
    assert checks.check_positions_read(lambda P, n, b, c: P + n if not c else _positions(P, n, b, c)) is False
    assert checks.check_positions_read(lambda P, n: 0) is False
    assert "TypeError" in capsys.readouterr().out


def test_check_loss_by_position_right_wrong_and_fitted(capsys):
    from course_lib import data, gpt

    vocab = data.CharVocab.from_text("to be or not to be")
    torch.manual_seed(0)
    model = gpt.GPT(vocab_size=len(vocab), block_size=8, n_layer=1, n_head=2, n_embd=8)
    ids = vocab.encode("to be or not to be" * 20)

    def right(model, ids, block):
        n = (len(ids) - 1) // block
        x, y = ids[: n * block].view(n, block), ids[1 : n * block + 1].view(n, block)
        with torch.no_grad():
            return torch.nn.functional.cross_entropy(model(x).transpose(1, 2), y, reduction="none").mean(0)

    assert checks.check_loss_by_position(right, model, ids) is True
    assert checks.check_loss_by_position(None, model, ids) is None
    capsys.readouterr()
    assert checks.check_loss_by_position(lambda *a: right(*a).flip(0), model, ids) is False
    assert "reversed" in capsys.readouterr().out
    assert checks.check_loss_by_position(lambda *a: right(*a).mean().expand(8), model, ids) is False
    assert "mean over all positions" in capsys.readouterr().out
    assert checks.check_loss_by_position(lambda *a: right(*a) + 0.1, model, ids) is False
    assert checks.check_loss_by_position(lambda *a: right(*a)[:4], model, ids) is False


# notebook 09 -----------------------------------------------------------------------------------------------------------

def _receptive(layers):
    size, jump = 1, 1
    for k, s in layers:
        size, jump = size + (k - 1) * jump, jump * s
    return size


def _measured_receptive_field(layers):
    """Independent of the formula: which input pixels move the gradient of one output pixel of a real stack."""
    n = 200
    x = torch.zeros(1, 1, 1, n, dtype=torch.float64, requires_grad=True)
    y = x
    for k, s in layers:
        y = torch.nn.functional.conv2d(y, torch.ones(1, 1, 1, k, dtype=torch.float64), stride=(1, s))
    y[0, 0, 0, y.shape[-1] // 2].backward()
    return int((x.grad != 0).sum())


def test_receptive_field_reference_agrees_with_a_measurement():
    for layers in ([(3, 1)], [(3, 1), (3, 1)], [(3, 1), (2, 2), (3, 1), (2, 2)], [(7, 2), (3, 2), (5, 1), (1, 3)]):
        assert checks._receptive_field(layers) == _measured_receptive_field(layers)


def test_check_receptive_field_right_wrong_and_fitted(capsys):
    assert checks.check_receptive_field(_receptive) is True
    assert "10 x 10" in capsys.readouterr().out
    assert checks.check_receptive_field(None) is None
    assert checks.check_receptive_field(lambda layers: None) is None
    assert checks.check_receptive_field(lambda layers: 1 + sum(k - 1 for k, _ in layers)) is False
    assert "stride" in capsys.readouterr().out
    assert checks.check_receptive_field(lambda layers: 10) is False  # fits one example only
    assert checks.check_receptive_field(lambda: 3) is False
    assert "TypeError" in capsys.readouterr().out


def test_check_avg_pool2d_right_wrong_and_fitted(capsys):
    def avg(x, k):
        return x.unfold(2, k, k).unfold(3, k, k).mean(dim=(-2, -1))

    assert checks.check_avg_pool2d(avg) is True
    assert checks.check_avg_pool2d(None) is None
    assert checks.check_avg_pool2d(lambda x, k: None) is None
    capsys.readouterr()
    assert checks.check_avg_pool2d(lambda x, k: x.unfold(2, k, k).unfold(3, k, k).amax(dim=(-2, -1))) is False
    assert "max pooling" in capsys.readouterr().out
    assert checks.check_avg_pool2d(lambda x, k: avg(x, k).detach()) is False
    assert "no gradient" in capsys.readouterr().out
    assert checks.check_avg_pool2d(lambda x, k: torch.nn.functional.avg_pool2d(x, k, stride=1)) is False  # overlapping
    assert checks.check_avg_pool2d(lambda x, k: avg(x, k) * 1.01) is False
    assert checks.check_avg_pool2d(lambda x, k: "pooled") is False


def test_check_recovered_kernel_accepts_a_learned_kernel_and_names_a_flipped_one(capsys):
    photo = torch.rand(32, 32, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    target = checks.mystery_convolution(photo)
    windows = torch.nn.functional.pad(photo, (1, 1, 1, 1)).unfold(0, 3, 1).unfold(1, 3, 1).reshape(-1, 9)
    solved = torch.linalg.lstsq(windows, target.reshape(-1, 1)).solution.reshape(3, 3)  # im2col, then least squares
    assert checks.check_recovered_kernel(solved) is True
    assert checks.check_recovered_kernel(solved[None, None].float()) is True
    assert checks.check_recovered_kernel(None) is None
    capsys.readouterr()
    assert checks.check_recovered_kernel(solved.flip(0, 1)) is False
    assert "180" in capsys.readouterr().out
    assert checks.check_recovered_kernel(torch.zeros(3, 3)) is False
    assert checks.check_recovered_kernel(torch.zeros(5, 5)) is False
    assert checks.check_recovered_kernel("emboss") is False
    with pytest.raises(ValueError, match="2-D float tensor"):
        checks.mystery_convolution(photo[None])


# notebook 10 -----------------------------------------------------------------------------------------------------------

def test_check_bottleneck_parameters_right_and_named_mistakes(capsys):
    assert checks.check_bottleneck_parameters(70_400) is True
    assert checks.check_bottleneck_parameters(70_400.0) is True
    assert checks.check_bottleneck_parameters(None) is None
    capsys.readouterr()
    assert checks.check_bottleneck_parameters(69_632) is False
    assert "two learned numbers per channel" in capsys.readouterr().out
    assert checks.check_bottleneck_parameters(71_168) is False
    assert "buffers" in capsys.readouterr().out
    assert checks.check_bottleneck_parameters(70_784) is False
    assert "no bias" in capsys.readouterr().out
    for wrong in (1_180_672, "seventy thousand", True, 70_400.5):
        assert checks.check_bottleneck_parameters(wrong) is False


def _fold(conv, bn):
    s = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    b = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    folded = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding).to(
        conv.weight.dtype)
    with torch.no_grad():
        folded.weight.copy_(conv.weight * s.view(-1, 1, 1, 1))
        folded.bias.copy_(s * (b - bn.running_mean) + bn.bias)
    return folded


def test_check_fold_batch_norm_right_wrong_and_fitted(capsys):
    assert checks.check_fold_batch_norm(_fold) is True
    assert checks.check_fold_batch_norm(None) is None
    assert checks.check_fold_batch_norm(lambda conv, bn: None) is None
    capsys.readouterr()

    def in_place(conv, bn):
        with torch.no_grad():
            conv.weight.mul_(2)
        return conv

    assert checks.check_fold_batch_norm(in_place) is False
    assert "you changed conv or bn" in capsys.readouterr().out

    def forgot_conv_bias(conv, bn):
        folded = _fold(nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                                 bias=False).double(), bn)
        with torch.no_grad():
            folded.weight.copy_(conv.weight * (bn.weight / torch.sqrt(bn.running_var + bn.eps)).view(-1, 1, 1, 1))
        return folded

    assert checks.check_fold_batch_norm(forgot_conv_bias) is False  # the second case has a bias in conv
    assert checks.check_fold_batch_norm(lambda conv, bn: conv) is False
    assert checks.check_fold_batch_norm(lambda conv, bn: nn.Sequential(conv, bn)) is False
    assert "one nn.Conv2d" in capsys.readouterr().out


def test_check_batch_norm_recalibration_right_wrong_and_not_attempted(capsys):
    from course_lib import resnet

    g = torch.Generator().manual_seed(0)
    X = torch.randn(12_000, 1, 28, 28, generator=g)
    y = (X[:, 0, 10:18, 10:18].mean((1, 2)) > 0).long() + 2 * (X[:, 0, :, :14].mean((1, 2)) > 0).long()
    torch.manual_seed(0)
    model = resnet.ResNet(8, 4)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for k in range(0, 10_000, 100):  # a little training, so that the statistics matter
        loss = torch.nn.functional.cross_entropy(model(X[k : k + 100]), y[k : k + 100])
        opt.zero_grad()
        loss.backward()
        opt.step()
    X_train, X_val, y_val = X[:10_000], X[10_000:], y[10_000:]

    def recalibrate(m, batches):
        for layer in m.modules():
            if isinstance(layer, nn.BatchNorm2d):
                layer.reset_running_stats()
                layer.momentum = None
        m.train()
        with torch.no_grad():
            for x in batches:
                m(x)
        m.eval()

    def template(m, batches):
        pass

    def in_eval_mode(m, batches):
        m.eval()
        with torch.no_grad():
            for x in batches:
                m(x)

    def learns(m, batches):
        opt = torch.optim.SGD(m.parameters(), lr=0.1)
        for x in batches[:2]:
            m(x).sum().backward()
            opt.step()

    assert checks.check_batch_norm_recalibration(recalibrate, model, X_train, X_val, y_val) is True
    assert checks.check_batch_norm_recalibration(template, model, X_train, X_val, y_val) is None
    assert checks.check_batch_norm_recalibration(None, model, X_train, X_val, y_val) is None
    capsys.readouterr()
    assert checks.check_batch_norm_recalibration(in_eval_mode, model, X_train, X_val, y_val) is False
    assert "only in train" in capsys.readouterr().out
    assert checks.check_batch_norm_recalibration(learns, model, X_train, X_val, y_val) is False
    assert "a weight changed" in capsys.readouterr().out
    assert checks.check_batch_norm_recalibration(recalibrate, nn.Linear(3, 3), X_train, X_val, y_val) is False
    assert checks.check_batch_norm_recalibration("recalibrate", model, X_train, X_val, y_val) is False
    assert all(isinstance(m, nn.BatchNorm2d) and m.momentum == 0.1 for m in model.modules()
               if isinstance(m, nn.BatchNorm2d))  # the check works on a copy


# notebook 08 ----------------------------------------------------------------------------------------------------------

def test_check_segment_ids_right_wrong_and_not_attempted(capsys):
    from course_lib import bert

    def right(ids):
        out, segment = [], 0
        for token in ids:
            out.append(0 if token == bert.PAD_ID else segment)
            segment = 1 if token == bert.SEP_ID else segment
        return out

    def sep_in_b(ids):  # switches before the [SEP] that closes A
        out, segment = [], 0
        for token in ids:
            segment = 1 if token == bert.SEP_ID else segment
            out.append(0 if token == bert.PAD_ID else segment)
        return out

    def padding_in_b(ids):
        out, segment = [], 0
        for token in ids:
            out.append(segment)
            segment = 1 if token == bert.SEP_ID else segment
        return out

    assert checks.check_segment_ids(right) is True
    assert checks.check_segment_ids(sep_in_b) is False
    capsys.readouterr()
    assert checks.check_segment_ids(padding_in_b) is False
    assert "padding belongs to no segment" in capsys.readouterr().out
    assert checks.check_segment_ids(lambda ids: [0] * len(ids)) is False
    assert checks.check_segment_ids(lambda ids: None) is None  # the template: not attempted
    assert checks.check_segment_ids(None) is None
    assert "not attempted" in capsys.readouterr().out


def test_check_segment_ids_names_the_case_that_failed(capsys):
    from course_lib import bert

    def sep_in_b(ids):
        out, segment = [], 0
        for token in ids:
            segment = 1 if token == bert.SEP_ID else segment
            out.append(0 if token == bert.PAD_ID else segment)
        return out

    assert checks.check_segment_ids(sep_in_b) is False
    out = capsys.readouterr().out
    assert "one segment" in out or "a pair" in out


def _tiny_minilm_like():
    """A 2-layer, 3-head random BertEncoder (post-LN, as MiniLM)."""
    from course_lib import bert

    torch.manual_seed(0)
    encoder = bert.BertEncoder(bert.wordpiece_tokenizer().get_vocab_size(), 24, 2, 3, max_len=64).eval()
    return encoder


def test_check_next_token_head_measures_the_model(capsys):
    from course_lib import bert

    encoder = _tiny_minilm_like()
    tokenizer = bert.wordpiece_tokenizer()
    texts = [("to be or not to be", "that is the question"), "now is the winter of our discontent"]
    scores = checks._next_token_scores(encoder, tokenizer, texts)
    assert scores.shape == (2, 3)
    best = tuple(int(v) for v in np.unravel_index(scores.argmax(), scores.shape))
    worst = tuple(int(v) for v in np.unravel_index(scores.argmin(), scores.shape))
    assert checks.check_next_token_head(best, encoder, tokenizer, texts) is True
    if scores.max() - scores.min() > 0.01:
        assert checks.check_next_token_head(worst, encoder, tokenizer, texts) is False
    assert checks.check_next_token_head((5, 0), encoder, tokenizer, texts) is False
    assert "layers 0..1" in capsys.readouterr().out
    assert checks.check_next_token_head("L1H2", encoder, tokenizer, texts) is False
    assert checks.check_next_token_head(None, encoder, tokenizer, texts) is None
    # the score is what the exercise says: query t on key t + 1, by hand for one text
    encoding = tokenizer.encode("now is the winter of our discontent")
    with torch.no_grad():
        _, weights = encoder(torch.tensor([encoding.ids]))
    w = torch.stack(weights)[:, 0]
    by_hand = torch.stack([w[:, :, t, t + 1] for t in range(len(encoding.ids) - 1)], -1).mean(-1)
    assert np.allclose(checks._next_token_scores(encoder, tokenizer, ["now is the winter of our discontent"]),
                       by_hand.numpy(), atol=1e-6)


def test_check_blank_density_measures_the_model(capsys):
    from course_lib import bert

    tokenizer = bert.wordpiece_tokenizer()
    V = tokenizer.get_vocab_size()
    torch.manual_seed(0)
    model = bert.BertForPreTraining(V, 16, 1, 2, max_len=16, norm_first=True).eval()
    g = torch.Generator().manual_seed(0)
    windows = torch.randint(5, 300, (200, 16), generator=g)
    windows[torch.rand(200, 16, generator=g) < 0.4] = 7  # a frequent token, which the model is made to guess
    with torch.no_grad():
        model.mlm_bias[7] = 20.0
    right = {r: bert.masked_accuracy(model, *bert.heldout_blanks(windows, V, rate=r)) for r in checks.BLANK_RATES}
    assert checks.check_blank_density(right, model, windows, V) is True
    off = {r: a + 0.05 for r, a in right.items()}
    assert checks.check_blank_density(off, model, windows, V) is False
    assert checks.check_blank_density({r: 100 * a for r, a in right.items()}, model, windows, V) is False
    assert "fractions" in capsys.readouterr().out
    assert checks.check_blank_density({0.15: 0.1}, model, windows, V) is False
    assert checks.check_blank_density([0.1, 0.2], model, windows, V) is False
    assert checks.check_blank_density(None, model, windows, V) is None


# notebook 11 ----------------------------------------------------------------------------------------------------------

def _conv_flops(batch, c_in, c_out, k, stride, padding, size):
    out = (size + 2 * padding - k) // stride + 1
    return 2 * batch * c_out * out * out * c_in * k * k


def test_check_conv_flops_right_and_named_mistakes(capsys):
    assert checks.check_conv_flops(_conv_flops) is True
    assert checks.check_conv_flops(None) is None
    assert checks.check_conv_flops(lambda *a: None) is None
    capsys.readouterr()
    assert checks.check_conv_flops(lambda *a: _conv_flops(*a) // 2) is False
    assert "multiply-add counts as 2" in capsys.readouterr().out
    assert checks.check_conv_flops(lambda b, ci, co, k, s, p, n: 2 * b * co * n * n * ci * k * k) is False
    assert "output map" in capsys.readouterr().out
    assert checks.check_conv_flops(_fixed_input_answer(_conv_flops)) is False
    assert checks.check_conv_flops(lambda *a: 1 / 0) is False
    assert "raised ZeroDivisionError" in capsys.readouterr().out


def _per_row(w):
    s = w.abs().amax(1) / 127
    return torch.round(w / s[:, None]).clamp(-127, 127).to(torch.int8), s


def test_check_per_row_quantization_right_and_named_mistakes(capsys):
    assert checks.check_per_row_quantization(_per_row) is True
    assert checks.check_per_row_quantization(None) is None
    capsys.readouterr()

    def per_tensor(w):
        s = w.abs().max() / 127
        return torch.round(w / s).to(torch.int8), s.expand(w.shape[0]).clone()

    assert checks.check_per_row_quantization(per_tensor) is False
    assert "largest |w| of that row" in capsys.readouterr().out

    def truncating(w):
        q, s = _per_row(w)
        return torch.trunc(w / s[:, None]).to(torch.int8), s

    assert checks.check_per_row_quantization(truncating) is False
    assert "round" in capsys.readouterr().out
    assert checks.check_per_row_quantization(lambda w: (torch.round(w / (w.abs().amax(1) / 127)[:, None]),
                                                        w.abs().amax(1) / 127)) is False  # float, not int8
    assert "int8" in capsys.readouterr().out
    assert checks.check_per_row_quantization(lambda w: _per_row(w)[0]) is False


def test_check_pruning_sparsity_finds_the_boundary(capsys):
    from course_lib import compress, train

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    X = torch.randn(600, 1, 28, 28, generator=g)
    teacher = torch.randn(784, 4, generator=g)
    y = (X.flatten(1) @ teacher).argmax(1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 4))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(200):
        opt.zero_grad()
        nn.functional.cross_entropy(model(X), y).backward()
        opt.step()

    def acc(s):
        m = compress.prune_magnitude(model, s)
        with torch.no_grad(), train.eval_mode(m):
            return (m(X).argmax(1) == y).double().mean().item()

    grid = [round(0.05 * k, 2) for k in range(20)]
    floor = acc(0.0) - 0.01
    right = max(s for s in grid if acc(s) >= floor)
    assert 0 < right < 0.95  # so both wrong directions below are tried
    assert checks.check_pruning_sparsity(right, model, X, y) is True
    assert checks.check_pruning_sparsity(None, model, X, y) is None
    capsys.readouterr()
    assert checks.check_pruning_sparsity(round(right - 0.05, 2), model, X, y) is False
    assert "try higher" in capsys.readouterr().out
    assert checks.check_pruning_sparsity(round(right + 0.05, 2), model, X, y) is False
    assert "go lower" in capsys.readouterr().out
    assert checks.check_pruning_sparsity(0.33, model, X, y) is False
    assert checks.check_pruning_sparsity("half", model, X, y) is False
