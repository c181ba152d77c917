"""Bad and edge-case inputs of ``course_lib.rnn`` (notebooks 02-04), one table row per call a learner might make.

Each row asserts the exact outcome: the error type and a message naming the argument (and the fix, or the limit), or the
correct result checked against a value computed another way. Rows that hand over a model check that its mode (of every
submodule) and its weights are left as they were, errors included.
"""
import numpy as np
import pytest
import torch
from torch import nn

from badinput import Case, ids, model_state, run_case
from course_lib import rnn
from course_lib.data import CharVocab

TEXT = "to be, or not to be: that is the question.\n"
VOCAB = CharVocab.from_text(TEXT)
V = len(VOCAB)
IDS = VOCAB.encode(TEXT)  # 43 ids


def _lm(cell="lstm", seed=0, **kwargs):
    torch.manual_seed(seed)
    return rnn.CharLM(vocab_size=V, cell=cell, emb=4, hidden=6, **kwargs)


LM = _lm()  # in training mode; rows below must leave it so
LM_STATE = lambda: model_state(LM)  # noqa: E731


class _Fails(nn.Linear):
    """An output layer that raises: an error in the middle of a model's forward pass."""

    def forward(self, x):
        raise RuntimeError("a failing layer")


FAILING = _lm()
FAILING.head = _Fails(6, V)
FAILING_STATE = lambda: model_state(FAILING)  # noqa: E731



def _mixed():
    model = _lm("gru", dropout=0.5)  # training mode, but its dropout layer switched off by hand
    model.drop.eval()
    return model


MIXED_G, MIXED_H = _mixed(), _mixed()  # one per row, so that no row depends on another

DOUBLE = _lm("gru", seed=3).double()


def _greedy(model, prompt, n):
    """What sampling at a vanishing temperature must give: the most likely character each time, re-read from scratch."""
    text = prompt
    with torch.no_grad():
        for _ in range(n):
            logits, _ = model(VOCAB.encode(text).unsqueeze(0))
            text += VOCAB.chars[int(logits[0, -1].argmax())]
    return text


def _one_pass_loss(model, ids):
    with torch.no_grad():
        logits, _ = model(ids[None, :-1])
        return rnn.lm_loss(logits, ids[None, 1:]).item()


def _nan_model():
    model = _lm()
    with torch.no_grad():
        model.head.bias.fill_(float("nan"))
    return model


NAN_LM = _nan_model()
NAN_STATE = lambda: model_state(NAN_LM)  # noqa: E731

RNN_STACK = rnn.RNN(3, 4)
X3 = torch.randn(2, 5, 3)
TB = rnn.TruncatedBPTT(_lm())


def _layer_equals_stack():
    torch.manual_seed(1)
    stack = rnn.GRU(3, 4)
    h0 = torch.randn(1, 2, 4)
    out_layer, (h_layer,), _ = stack.layers[0](X3, (h0[0],))
    out_stack, h_stack = stack(X3, h0)
    return torch.equal(out_layer, out_stack) and torch.equal(h_layer, h_stack[0])


def _lm_loss_pair():
    torch.manual_seed(2)
    logits, y = torch.randn(2, 3, 5), torch.tensor([[0, 4, 1], [2, 3, 0]])
    expected = -torch.log_softmax(logits, dim=-1).gather(-1, y.unsqueeze(-1)).mean()
    return rnn.lm_loss((logits, None), y), expected


def _detached_lstm_state():
    _, state = LM(IDS[None, :5])
    out = rnn.detach_state(state)
    return state, out


CASES = [
    # sizes with no sensible upper bound are refused before any memory is taken
    Case("LSTM(10, 20000): 6.4 GB", lambda: rnn.LSTM(10, 20000), raises=ValueError,
         match=r"this LSTM would have 1,600,960,000 parameters \(6\.4 GB in float32\).*limit of 250,000,000",
         timeout=5),
    Case("GRU with 100 layers of 2000", lambda: rnn.GRU(10, 2000, num_layers=100), raises=ValueError,
         match=r"this GRU would have .* parameters.*limit of 250,000,000", timeout=5),
    Case("LSTMLayer(10, 20000)", lambda: rnn.LSTMLayer(10, 20000), raises=ValueError,
         match=r"this LSTMLayer would have 1,600,960,000 parameters", timeout=5),
    Case("CharLM with a million-character vocabulary", lambda: rnn.CharLM(vocab_size=10**6, emb=512, hidden=512),
         raises=ValueError, match=r"this CharLM \(vocab_size=1000000, emb=512.*limit of 250,000,000", timeout=5),
    Case("LSTM(10, 1000) is still built", lambda: rnn.LSTM(10, 1000),
         returns=lambda m: sum(p.numel() for p in m.parameters()) == 4 * (1000 * 10 + 1000 * 1000 + 2 * 1000)),
    # constructors
    Case("RNN: input_size 3.0", lambda: rnn.RNN(3.0, 4), raises=ValueError,
         match=r"input_size must be an integer >= 1, got 3\.0"),
    Case("LSTM: NumPy sizes", lambda: rnn.LSTM(np.int64(3), np.int64(4)),
         returns=lambda m: (m.input_size, m.hidden_size) == (3, 4) and type(m.input_size) is int
         and m.layers[0].W_xi.shape == (4, 3)),
    Case("LSTMLayer: hidden_size 0", lambda: rnn.LSTMLayer(3, 0), raises=ValueError,
         match=r"hidden_size must be an integer >= 1, got 0"),
    Case("RNNLayer: input_size -1", lambda: rnn.RNNLayer(-1, 4), raises=ValueError,
         match=r"input_size must be an integer >= 1, got -1"),
    Case("CharLM(65): a vocabulary size where the config goes", lambda: rnn.CharLM(65), raises=TypeError,
         match=r"config must be a CharLMConfig, got int: .*CharLM\(vocab_size=65\)"),
    Case("CharLM: dropout as a string", lambda: rnn.CharLM(vocab_size=5, dropout="0.1"), raises=ValueError,
         match=r"dropout must be a number in \[0, 1\), got '0\.1'"),
    Case("CharLM: cell in capitals", lambda: rnn.CharLM(vocab_size=5, cell="LSTM"), raises=ValueError,
         match=r"cell must be one of \('rnn', 'lstm', 'gru'\), got 'LSTM'"),
    Case("CharLM: cell None", lambda: rnn.CharLM(vocab_size=5, cell=None), raises=ValueError,
         match=r"cell must be one of .*got None"),
    Case("CharLMConfig: NumPy vocab_size", lambda: rnn.CharLMConfig(vocab_size=np.int64(5)),
         returns=lambda c: c.vocab_size == 5 and type(c.vocab_size) is int),
    # layers called directly
    Case("RNNLayer: a tensor as the state", lambda: rnn.RNNLayer(3, 4)(X3, torch.zeros(2, 4)), raises=ValueError,
         match=r"state must be a tuple \(h,\) of tensors of shape \(B, H\) = \(2, 4\), got Tensor"),
    Case("LSTMLayer: only h as the state", lambda: rnn.LSTMLayer(3, 4)(X3, (torch.zeros(2, 4),)), raises=ValueError,
         match=r"state must be a tuple \(h, c\) .* got tuple of 1"),
    Case("GRULayer: the stack's (1, B, H) state", lambda: rnn.GRULayer(3, 4)(X3, (torch.zeros(1, 2, 4),)),
         raises=ValueError, match=r"state h must have shape \(B, H\) = \(2, 4\), got \(1, 2, 4\)"),
    Case("GRULayer: integer x", lambda: rnn.GRULayer(3, 4)(torch.randint(0, 3, (2, 5, 3)), (torch.zeros(2, 4),)),
         raises=TypeError, match=r"x is torch\.int64 .* parameters are torch\.float32.*x\.to\(torch\.float32\)"),
    Case("GRULayer: a layer equals the one-layer stack", _layer_equals_stack, returns=lambda ok: ok is True),
    # stacks: devices and edge sizes
    Case("RNN: x on another device (meta)", lambda: RNN_STACK(torch.zeros(2, 5, 3, device="meta")), raises=ValueError,
         match=r"x is on meta but the model is on cpu.*x\.to\('cpu'\)"),
    Case("LSTM: h_0 on another device (meta)",
         lambda: rnn.LSTM(3, 4)(X3, (torch.zeros(1, 2, 4, device="meta"), torch.zeros(1, 2, 4))),
         raises=ValueError, match=r"state h_0 is on meta, x is on cpu.*h_0\.to\('cpu'\)"),
    Case("LSTM: an empty batch gives empty outputs", lambda: rnn.LSTM(3, 4)(torch.zeros(0, 5, 3)),
         returns=lambda r: r[0].shape == (0, 5, 4) and r[1][0].shape == (1, 0, 4)),
    Case("LSTM: x as a list", lambda: rnn.LSTM(3, 4)([[1.0]]), raises=TypeError,
         match=r"x must be a torch\.Tensor of shape \(B, T, D_in\), got list"),
    # CharLM.forward
    Case("CharLM: ids on another device (meta)", lambda: LM(torch.zeros(1, 3, dtype=torch.long, device="meta")),
         raises=ValueError, match=r"idx is on meta but the model is on cpu.*idx\.to\('cpu'\)", state=LM_STATE),
    Case("CharLM: float ids", lambda: LM(torch.zeros(1, 3)), raises=TypeError,
         match=r"idx must be an integer tensor of token ids", state=LM_STATE),
    # generate
    Case("generate: n = 10**9", lambda: LM.generate(VOCAB, "to", 10**9), raises=ValueError,
         match=r"n=1,000,000,000 characters .*at most 100,000", state=LM_STATE, timeout=5),
    Case("generate: n = 100,001", lambda: LM.generate(VOCAB, "to", rnn.MAX_GENERATE + 1), raises=ValueError,
         match=r"at most 100,000", state=LM_STATE, timeout=5),
    Case("generate: n as a float", lambda: LM.generate(VOCAB, "to", 5.0), raises=ValueError,
         match=r"n \(characters to generate\) must be an integer >= 0, got 5\.0", state=LM_STATE),
    Case("generate: n as a NumPy integer", lambda: LM.generate(VOCAB, "to", np.int64(4)),
         returns=lambda s: isinstance(s, str) and len(s) == 6 and s.startswith("to") and not VOCAB.unseen(s),
         state=LM_STATE),
    Case("generate: n = 0 gives the prompt", lambda: LM.generate(VOCAB, "be", 0), returns=lambda s: s == "be",
         state=LM_STATE),
    Case("generate: temperature as a string", lambda: LM.generate(VOCAB, "to", 5, temperature="1"),
         raises=ValueError, match=r"temperature must be a finite number >= 0.*got '1'", state=LM_STATE),
    Case("generate: temperature inf", lambda: LM.generate(VOCAB, "to", 5, temperature=float("inf")),
         raises=ValueError, match=r"temperature must be a finite number >= 0.*got inf", state=LM_STATE),
    Case("generate: temperature 1e-310 (logits / T overflow) is greedy, not NaN",
         lambda: (LM.generate(VOCAB, "the", 6, temperature=1e-310, generator=torch.Generator().manual_seed(0)),
                  _greedy(LM, "the", 6)),
         returns=lambda pair: pair[0] == pair[1], state=LM_STATE),
    Case("generate: a seed where the generator goes", lambda: LM.generate(VOCAB, "to", 5, generator=0),
         raises=TypeError,
         match=r"generator must be a torch\.Generator \(e\.g\. torch\.Generator\(\)\.manual_seed\(0\)\)",
         state=LM_STATE),
    Case("generate: a text where the vocabulary goes", lambda: LM.generate(TEXT, "to", 5), raises=TypeError,
         match=r"vocab must be the CharVocab the model was trained with.*got str", state=LM_STATE),
    Case("generate: prompt first, vocab second", lambda: LM.generate("to", VOCAB, 5), raises=TypeError,
         match=r"vocab must be the CharVocab", state=LM_STATE),
    Case("generate: prompt None", lambda: LM.generate(VOCAB, None, 5), raises=ValueError,
         match=r"prompt must be a non-empty string", state=LM_STATE),
    Case("generate: a model with NaN weights", lambda: NAN_LM.generate(VOCAB, "to", 3), raises=ValueError,
         match=r"the model's logits are NaN or infinite.*retrain or reload", state=NAN_STATE),
    Case("generate: an error inside leaves the training mode", lambda: FAILING.generate(VOCAB, "to", 3),
         raises=RuntimeError, match="a failing layer", state=FAILING_STATE),
    Case("generate: each submodule gets its own mode back", lambda: MIXED_G.generate(VOCAB, "to", 3),
         returns=lambda s: len(s) == 5, state=lambda: model_state(MIXED_G)),
    # heldout_loss
    Case("heldout_loss: block = -1 (was 0.0)", lambda: rnn.heldout_loss(LM, IDS, streams=2, block=-1),
         raises=ValueError, match=r"block must be an integer >= 1, got -1", state=LM_STATE),
    Case("heldout_loss: block = 0", lambda: rnn.heldout_loss(LM, IDS, streams=2, block=0), raises=ValueError,
         match=r"block must be an integer >= 1, got 0", state=LM_STATE),
    Case("heldout_loss: streams = 0", lambda: rnn.heldout_loss(LM, IDS, streams=0), raises=ValueError,
         match=r"streams must be an integer >= 1, got 0", state=LM_STATE),
    Case("heldout_loss: float ids", lambda: rnn.heldout_loss(LM, IDS.float(), streams=2), raises=TypeError,
         match=r"ids must hold integer token ids.*float32", state=LM_STATE),
    Case("heldout_loss: ids as a list", lambda: rnn.heldout_loss(LM, IDS.tolist(), streams=2), raises=TypeError,
         match=r"ids must be a 1-D tensor of token ids \(vocab\.encode\(text\)\), got list", state=LM_STATE),
    Case("heldout_loss: the text itself", lambda: rnn.heldout_loss(LM, TEXT, streams=2), raises=TypeError,
         match=r"ids must be a 1-D tensor.*vocab\.encode\(text\).*got str", state=LM_STATE),
    Case("heldout_loss: a (1, N) batch", lambda: rnn.heldout_loss(LM, IDS[None], streams=2), raises=ValueError,
         match=r"ids must be a 1-D text.*\(1, 43\).*ids\.view\(-1\)", state=LM_STATE),
    Case("heldout_loss: ids of another vocabulary", lambda: rnn.heldout_loss(LM, IDS + V, streams=2),
         raises=ValueError, match=rf"ids must hold token ids in 0\.\.{V - 1}.*encode the text with the vocabulary",
         state=LM_STATE),
    Case("heldout_loss: too short for the streams", lambda: rnn.heldout_loss(LM, IDS[:5], streams=4),
         raises=ValueError, match=r"at least 8 tokens \(2 per stream, streams=4\)", state=LM_STATE),
    Case("heldout_loss: not a CharLM", lambda: rnn.heldout_loss(nn.LSTM(3, 4), IDS, streams=2), raises=TypeError,
         match=r"model must be a CharLM, got LSTM"),
    Case("heldout_loss: an error inside leaves the training mode", lambda: rnn.heldout_loss(FAILING, IDS, streams=2),
         raises=RuntimeError, match="a failing layer", state=FAILING_STATE),
    Case("heldout_loss: each submodule gets its own mode back",
         lambda: (rnn.heldout_loss(MIXED_H, IDS, streams=1, block=5), _eval_loss(MIXED_H)),
         returns=lambda pair: abs(pair[0] - pair[1]) < 1e-6, state=lambda: model_state(MIXED_H)),
    Case("heldout_loss: the TruncatedBPTT wrapper is unwrapped",
         lambda: (rnn.heldout_loss(TB, IDS, streams=1, block=7), _eval_loss(TB.model), TB.state),
         returns=lambda r: abs(r[0] - r[1]) < 1e-6 and r[2] is None, state=lambda: model_state(TB)),
    Case("heldout_loss: blocks with the state carried = one pass (float64)",
         lambda: (rnn.heldout_loss(DOUBLE, IDS, streams=1, block=4), _one_pass_loss(DOUBLE, IDS)),
         returns=lambda pair: abs(pair[0] - pair[1]) < 1e-12, state=lambda: model_state(DOUBLE)),
    Case("heldout_loss: NumPy streams and block", lambda: rnn.heldout_loss(DOUBLE, IDS, np.int64(1), np.int64(50)),
         returns=lambda loss: abs(loss - _one_pass_loss(DOUBLE, IDS)) < 1e-12),
    # lm_loss
    Case("lm_loss: float targets", lambda: rnn.lm_loss(torch.randn(2, 3, 5), torch.rand(2, 3)), raises=TypeError,
         match=r"y must hold integer token ids, got dtype torch\.float32: use y\.long\(\)"),
    Case("lm_loss: target -1", lambda: rnn.lm_loss(torch.randn(2, 3, 5), torch.tensor([[0, 1, -1], [0, 1, 2]])),
         raises=ValueError, match=r"y must hold token ids in 0\.\.4 \(V=5\), got values in -1\.\.2"),
    Case("lm_loss: target -100 (cross_entropy would skip it)",
         lambda: rnn.lm_loss(torch.randn(2, 3, 5), torch.tensor([[0, 1, -100], [0, 1, 2]])),
         raises=ValueError, match=r"y must hold token ids in 0\.\.4.*-100\.\.2"),
    Case("lm_loss: target = V", lambda: rnn.lm_loss(torch.randn(2, 3, 5), torch.tensor([[0, 1, 5], [0, 1, 2]])),
         raises=ValueError, match=r"y must hold token ids in 0\.\.4.*0\.\.5"),
    Case("lm_loss: an empty batch (would be NaN)",
         lambda: rnn.lm_loss(torch.randn(0, 3, 5), torch.zeros(0, 3, dtype=torch.long)),
         raises=ValueError, match=r"logits \(0, 3, 5\) hold no position to score"),
    Case("lm_loss: targets as a list", lambda: rnn.lm_loss(torch.randn(2, 3, 5), [[0, 1, 1], [0, 1, 2]]),
         raises=TypeError, match=r"y must be a tensor \(B, T\) of the next token ids, got list"),
    Case("lm_loss: output None", lambda: rnn.lm_loss(None, torch.zeros(2, 3, dtype=torch.long)), raises=TypeError,
         match=r"output must be logits \(B, T, V\) or the \(logits, state\) pair, got NoneType"),
    Case("lm_loss: targets on another device (meta)",
         lambda: rnn.lm_loss(torch.randn(2, 3, 5), torch.zeros(2, 3, dtype=torch.long, device="meta")),
         raises=ValueError, match=r"y is on meta but logits are on cpu.*y\.to\('cpu'\)"),
    Case("lm_loss: the (logits, state) pair", _lm_loss_pair,
         returns=lambda pair: abs(pair[0].item() - pair[1].item()) < 1e-6),
    # detach_state
    Case("detach_state: None (no state yet) stays None", lambda: rnn.detach_state(None), returns=lambda s: s is None),
    Case("detach_state: a list stays a list",
         lambda: rnn.detach_state([torch.ones(2, requires_grad=True) * 3]),
         returns=lambda s: type(s) is list and not s[0].requires_grad and torch.equal(s[0], torch.full((2,), 3.0))),
    Case("detach_state: the LSTM's (h, c)", _detached_lstm_state,
         returns=lambda r: type(r[1]) is tuple and len(r[1]) == 2 and r[0][0].requires_grad
         and not any(s.requires_grad for s in r[1]) and all(torch.equal(a, b) for a, b in zip(r[0], r[1]))),
    Case("detach_state: a string", lambda: rnn.detach_state("h"), raises=TypeError,
         match=r"state must be h_n or \(h_n, c_n\), tensors; got str"),
    Case("detach_state: a tuple holding None", lambda: rnn.detach_state((torch.ones(1), None)), raises=TypeError,
         match=r"state must be h_n or \(h_n, c_n\).*tuple holding NoneType"),
    # TruncatedBPTT
    Case("TruncatedBPTT: the class CharLM", lambda: rnn.TruncatedBPTT(rnn.CharLM), raises=TypeError,
         match=r"model must be a CharLM instance .*got the class CharLM"),
    Case("TruncatedBPTT: a config", lambda: rnn.TruncatedBPTT(rnn.CharLMConfig(vocab_size=4)), raises=TypeError,
         match=r"model must be a CharLM instance.*got CharLMConfig"),
    Case("TruncatedBPTT: wrapped twice", lambda: rnn.TruncatedBPTT(TB), raises=TypeError,
         match=r"model is already a TruncatedBPTT: wrap the CharLM once"),
    Case("TruncatedBPTT: a 1-D batch", lambda: TB(torch.tensor([1, 2, 3])), raises=ValueError,
         match=r"idx must have shape \(B, T\) with T >= 1, got \(3,\)", state=lambda: (model_state(TB), TB.state)),
]


def _eval_loss(model):
    """The held-out loss computed in eval mode by hand (one stream, one pass), for comparison."""
    modes = [m.training for m in model.modules()]
    model.eval()
    try:
        return _one_pass_loss(model, IDS)
    finally:
        for m, training in zip(model.modules(), modes):
            m.training = training


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_bad_input(case):
    run_case(case)
