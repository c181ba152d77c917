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


def _fixed_input_answer(right):
    """An answer that only fits one input: it returns the right result for the first call it sees, whatever comes
    next (a hard-coded tensor)."""
    remembered = {}

    def answer(*args):
        if "result" not in remembered:
            remembered["result"] = right(*args)
        return remembered["result"]
    return answer


def test_checks_judge_fairly_and_never_crash(capsys):
    """Second edition (issue 14): fresh random inputs, float32 answers judged on their values, in-place answers cannot
    change the expected values, counts must be whole numbers."""
    rnn_step = lambda x, h, Wx, Wh, bx, bh: torch.tanh(x @ Wx.T + bx + h @ Wh.T + bh)  # noqa: E731
    cell = lambda i, f, g, o, c: (f * c + i * g, o * torch.tanh(f * c + i * g))  # noqa: E731
    relu_back = lambda g, a: g * (a > 0)  # noqa: E731
    for check, right in ((checks.check_rnn_step, rnn_step), (checks.check_lstm_cell_update, cell),
                         (checks.check_relu_backward, relu_back)):
        float32 = lambda *args, r=right: (  # noqa: E731
            tuple(t.float() for t in r(*args)) if isinstance(r(*args), tuple) else r(*args).float())
        assert check(float32) is True, f"{check.__name__}: a float32 answer is right"
        numpy = lambda *args, r=right: (  # noqa: E731
            tuple(t.numpy() for t in r(*args)) if isinstance(r(*args), tuple) else r(*args).numpy())
        assert check(numpy) is True, f"{check.__name__}: a numpy answer is right"
        assert check(_fixed_input_answer(right)) is False, f"{check.__name__}: a hard-coded answer"
        assert check(lambda *args: "a string") is False  # never a crash
        assert check(lambda *args: torch.zeros(1, 1, 1)) is False
    # the old check computed h_t after calling the answer: o.zero_() and zeros passed
    def sneaky(i, f, g, o, c):
        o.zero_()
        return f * c + i * g, torch.zeros_like(c)
    assert checks.check_lstm_cell_update(sneaky) is False
    def in_place_right(i, f, g, o, c):  # a right answer that overwrites its inputs
        c.mul_(f).add_(i * g)
        return c, o * torch.tanh(c)
    assert checks.check_lstm_cell_update(in_place_right) is True
    for count_check, target in ((checks.check_mlp_parameter_count, 235_146),
                                (checks.check_rnn_parameter_count, 295_936)):
        assert count_check(target) is True and count_check(float(target)) is True
        assert count_check(torch.tensor(target)) is True
        for strange in (float("inf"), float("nan"), True, target + 0.9, "many", [target], 10 ** 400):
            assert count_check(strange) is False, (count_check.__name__, strange)
    capsys.readouterr()


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
