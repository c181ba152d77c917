"""course_lib.rnn: RNN, LSTM and GRU from scratch against PyTorch's modules, and the character language model."""
import pytest
import torch
from torch import nn

from course_lib.data import CharVocab
from course_lib.rnn import GRU, LSTM, RNN, CharLM, CharLMConfig, TruncatedBPTT, detach_state, lm_loss
from course_lib.rnn import heldout_loss as rnn_heldout

# Our class, PyTorch's class, and the gate letters in PyTorch's packing order (written here, not read from the library).
CELLS = {"rnn": (RNN, nn.RNN, "h"), "lstm": (LSTM, nn.LSTM, "ifgo"), "gru": (GRU, nn.GRU, "rzn")}
B, T, D, H = 3, 5, 4, 6


def _reference(cell, num_layers, seed=0, dtype=torch.float64):
    torch.manual_seed(seed)
    return CELLS[cell][1](D, H, num_layers=num_layers, batch_first=True).to(dtype)


def _state(cell, num_layers, g, requires_grad=False):
    def one():
        return torch.randn(num_layers, B, H, dtype=torch.float64, generator=g).requires_grad_(requires_grad)
    return (one(), one()) if cell == "lstm" else one()


def _as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


def _packed_grads(ours, gates):
    """Our per-matrix gradients, stacked into PyTorch's packed names."""
    grads = {}
    for k, layer in enumerate(ours.layers):
        for kind, name in (("W_x", "weight_ih"), ("W_h", "weight_hh"), ("b_x", "bias_ih"), ("b_h", "bias_hh")):
            grads[f"{name}_l{k}"] = torch.cat([getattr(layer, f"{kind}{g}").grad for g in gates])
    return grads


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("with_state", [False, True])
def test_matches_torch_outputs_states_and_every_gradient(cell, num_layers, with_state):
    Ours, _, gates = CELLS[cell]
    ref = _reference(cell, num_layers)
    ours = Ours.from_torch(ref)
    expected_names = {f"layers.{k}.{kind}{g}" for k in range(num_layers) for kind in ("W_x", "W_h", "b_x", "b_h")
                      for g in gates}
    assert {name for name, _ in ours.named_parameters()} == expected_names

    g = torch.Generator().manual_seed(1)
    x = torch.randn(B, T, D, dtype=torch.float64, generator=g, requires_grad=True)
    state = _state(cell, num_layers, g, requires_grad=True) if with_state else None
    w_out = torch.randn(B, T, H, dtype=torch.float64, generator=g)
    w_final = [torch.randn(num_layers, B, H, dtype=torch.float64, generator=g) for _ in range(2)]

    def loss_of(out, final):
        return (out * w_out).sum() + sum((s * w).sum() for s, w in zip(_as_tuple(final), w_final))

    results = {}
    for name, module in (("ours", ours), ("ref", ref)):
        out, final = module(x, state)
        inputs = [x] + (list(_as_tuple(state)) if with_state else [])
        loss = loss_of(out, final)
        module.zero_grad()
        input_grads = torch.autograd.grad(loss, inputs, retain_graph=True)
        loss.backward()
        results[name] = (out, _as_tuple(final), input_grads)

    (out_a, fin_a, ig_a), (out_b, fin_b, ig_b) = results["ours"], results["ref"]
    assert out_a.shape == (B, T, H)
    assert (out_a - out_b).abs().max().item() <= 1e-6
    assert len(fin_a) == len(fin_b) == (2 if cell == "lstm" else 1)
    for a, b in zip(fin_a, fin_b):
        assert a.shape == (num_layers, B, H)
        assert (a - b).abs().max().item() <= 1e-6
    for a, b in zip(ig_a, ig_b):
        assert (a - b).abs().max().item() <= 1e-6
    ours_grads = _packed_grads(ours, gates)
    ref_grads = {name: p.grad for name, p in ref.named_parameters()}
    assert ours_grads.keys() == ref_grads.keys()
    for name in ref_grads:
        assert (ours_grads[name] - ref_grads[name]).abs().max().item() <= 1e-6, name


@pytest.mark.parametrize("cell", list(CELLS))
def test_to_torch_round_trip_and_dtype(cell):
    Ours, Ref, _ = CELLS[cell]
    torch.manual_seed(3)
    ours = Ours(D, H, num_layers=2).double()
    ref = ours.to_torch()
    assert type(ref) is Ref and ref.batch_first and ref.num_layers == 2
    assert ref.weight_ih_l0.dtype == torch.float64
    for name, value in ours.packed_parameters().items():
        assert torch.equal(getattr(ref, name), value), name
    back = Ours.from_torch(ref)
    for (name, a), (_, b) in zip(ours.named_parameters(), back.named_parameters()):
        assert torch.equal(a, b), name
    x = torch.randn(B, T, D, dtype=torch.float64)
    assert (ours(x)[0] - ref(x)[0]).abs().max().item() <= 1e-12
    with torch.no_grad():  # a copy, not shared storage
        ref.weight_hh_l0.add_(1.0)
    assert not torch.equal(ours.packed_parameters()["weight_hh_l0"], ref.weight_hh_l0)


@pytest.mark.parametrize("cell", list(CELLS))
def test_init_like_pytorch(cell):
    torch.manual_seed(0)
    ours = CELLS[cell][0](D, 16)
    bound = 1 / 16 ** 0.5
    for name, p in ours.named_parameters():
        assert p.dtype == torch.float32
        assert p.abs().max() <= bound, name
        assert p.abs().max() > bound / 2, name  # spread over the interval, not zeros


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gradcheck(cell):
    Ours, _, _ = CELLS[cell]
    torch.manual_seed(4)
    model = Ours(3, 4).double()
    g = torch.Generator().manual_seed(5)
    x = torch.randn(2, 3, 3, dtype=torch.float64, generator=g, requires_grad=True)
    h0 = torch.randn(1, 2, 4, dtype=torch.float64, generator=g, requires_grad=True)
    if cell == "lstm":
        c0 = torch.randn(1, 2, 4, dtype=torch.float64, generator=g, requires_grad=True)

        def f(x, h, c):
            out, (h_n, c_n) = model(x, (h, c))
            return out, h_n, c_n

        assert torch.autograd.gradcheck(f, (x, h0, c0))
    else:
        assert torch.autograd.gradcheck(lambda x, h: model(x, h), (x, h0))


def test_lstm_recorded_gates_recompute_the_states():
    ref = _reference("lstm", 2)
    ours = LSTM.from_torch(ref)
    g = torch.Generator().manual_seed(6)
    x = torch.randn(B, T, D, dtype=torch.float64, generator=g)
    h0, c0 = _state("lstm", 2, g)
    out, (h_n, c_n), gates = ours(x, (h0, c0), return_gates=True)
    assert set(gates) == {"i", "f", "g", "o", "c", "h"}
    assert all(v.shape == (B, T, H) for v in gates.values())
    assert torch.equal(gates["h"], out)
    c_prev = c0[-1]  # the top layer's initial cell state
    for t in range(T):
        c_t = gates["f"][:, t] * c_prev + gates["i"][:, t] * gates["g"][:, t]
        assert (gates["c"][:, t] - c_t).abs().max().item() <= 1e-12
        assert (gates["h"][:, t] - gates["o"][:, t] * torch.tanh(c_t)).abs().max().item() <= 1e-12
        c_prev = gates["c"][:, t]
    assert torch.equal(c_n[-1], gates["c"][:, -1]) and torch.equal(h_n[-1], out[:, -1])
    assert ((gates["g"] > -1) & (gates["g"] < 1)).all() and (gates["g"] < 0).any()  # tanh, not a sigmoid gate
    # The first step of the top layer from PyTorch's packed weights: the gates carry the right names.
    layer0 = nn.LSTM(D, H, batch_first=True).double()
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(layer0, f"{name}_l0").copy_(getattr(ref, f"{name}_l0"))
    x1, _ = layer0(x, (h0[:1], c0[:1]))  # (B, T, H): input of the top layer
    a = x1[:, 0] @ ref.weight_ih_l1.T + ref.bias_ih_l1 + h0[1] @ ref.weight_hh_l1.T + ref.bias_hh_l1
    i, f, gg, o = a.chunk(4, dim=1)
    for name, value in (("i", torch.sigmoid(i)), ("f", torch.sigmoid(f)), ("g", torch.tanh(gg)),
                        ("o", torch.sigmoid(o))):
        assert (gates[name][:, 0] - value).abs().max().item() <= 1e-12, name


def test_gru_recorded_gates_recompute_the_states():
    ref = _reference("gru", 2)
    ours = GRU.from_torch(ref)
    g = torch.Generator().manual_seed(7)
    x = torch.randn(B, T, D, dtype=torch.float64, generator=g)
    h0 = _state("gru", 2, g)
    out, h_n, gates = ours(x, h0, return_gates=True)
    assert set(gates) == {"r", "z", "n", "h"}
    assert torch.equal(gates["h"], out) and torch.equal(h_n[-1], out[:, -1])
    h_prev = h0[-1]
    for t in range(T):
        z, n = gates["z"][:, t], gates["n"][:, t]
        assert (gates["h"][:, t] - ((1 - z) * n + z * h_prev)).abs().max().item() <= 1e-12
        h_prev = gates["h"][:, t]
    # One layer, first step, from PyTorch's packed [r, z, n] weights: n uses r ⊙ (W_hn h + b_hn).
    one = _reference("gru", 1, seed=8)
    out1, _, g1 = GRU.from_torch(one)(x, h0[:1], return_gates=True)
    xi = (x[:, 0] @ one.weight_ih_l0.T + one.bias_ih_l0).chunk(3, dim=1)
    hh = (h0[0] @ one.weight_hh_l0.T + one.bias_hh_l0).chunk(3, dim=1)
    r, z = torch.sigmoid(xi[0] + hh[0]), torch.sigmoid(xi[1] + hh[1])
    n = torch.tanh(xi[2] + r * hh[2])
    for name, value in (("r", r), ("z", z), ("n", n)):
        assert (g1[name][:, 0] - value).abs().max().item() <= 1e-12, name


def test_rnn_gates_and_default_state_is_zeros():
    torch.manual_seed(9)
    ours = RNN(D, H, num_layers=2)
    x = torch.randn(B, T, D)
    out, h_n, gates = ours(x, return_gates=True)
    assert set(gates) == {"h"} and torch.equal(gates["h"], out)
    out0, h0 = ours(x, torch.zeros(2, B, H))
    assert torch.equal(out, out0) and torch.equal(h_n, h0)
    assert len(ours(x)) == 2


@pytest.mark.parametrize("cell", list(CELLS))
def test_bad_inputs_raise_clear_errors(cell):
    Ours = CELLS[cell][0]
    model = Ours(D, H, num_layers=2)
    with pytest.raises(ValueError, match=r"\(B, T, D_in\).*\(5, 4\)"):
        model(torch.randn(5, D))
    with pytest.raises(ValueError, match=r"D_in=4.*\(3, 5, 7\)"):
        model(torch.randn(3, 5, 7))
    with pytest.raises(ValueError, match="T = 0"):
        model(torch.randn(3, 0, D))
    with pytest.raises(TypeError, match="Embedding"):
        model(torch.randint(10, (3, 5, D)))
    with pytest.raises(TypeError, match="dtype"):
        model(torch.randn(3, 5, D, dtype=torch.float64))
    x = torch.randn(3, 5, D)
    bad = torch.zeros(1, 3, H)
    with pytest.raises(ValueError, match=r"\(2, 3, 6\).*\(1, 3, 6\)"):
        model(x, (bad, bad) if cell == "lstm" else bad)
    if cell == "lstm":
        with pytest.raises(ValueError, match=r"pair \(h_0, c_0\)"):
            model(x, torch.zeros(2, 3, H))
        with pytest.raises(ValueError, match="c_0"):
            model(x, (torch.zeros(2, 3, H), torch.zeros(2, 4, H)))


@pytest.mark.parametrize("cell", list(CELLS))
def test_constructor_rejects_bad_sizes(cell):
    Ours = CELLS[cell][0]
    for kwargs, name in (({"input_size": 0, "hidden_size": 4}, "input_size"),
                         ({"input_size": 3, "hidden_size": 0}, "hidden_size"),
                         ({"input_size": 3, "hidden_size": 4, "num_layers": 0}, "num_layers")):
        with pytest.raises(ValueError, match=name):
            Ours(**kwargs)


@pytest.mark.parametrize("cell", list(CELLS))
def test_from_torch_refuses_what_we_do_not_implement(cell):
    Ours, Ref, _ = CELLS[cell]
    for kwargs, option in (({"batch_first": False}, "batch_first"),
                           ({"bidirectional": True}, "bidirectional"),
                           ({"num_layers": 2, "dropout": 0.1}, "dropout"),
                           ({"bias": False}, "bias")):
        with pytest.raises(ValueError, match=option):
            Ours.from_torch(Ref(D, H, **{"batch_first": True, **kwargs}))
    if cell == "lstm":
        with pytest.raises(ValueError, match="proj_size"):
            LSTM.from_torch(nn.LSTM(D, H, batch_first=True, proj_size=2))
    if cell == "rnn":
        with pytest.raises(ValueError, match="nonlinearity"):
            RNN.from_torch(nn.RNN(D, H, batch_first=True, nonlinearity="relu"))
    other = nn.GRU(D, H, batch_first=True) if cell != "gru" else nn.LSTM(D, H, batch_first=True)
    with pytest.raises(TypeError, match=Ref.__name__):
        Ours.from_torch(other)


# ----------------------------------------------------------------------------------------------------------------------
# CharLM
# ----------------------------------------------------------------------------------------------------------------------

TEXT = "to be, or not to be: that is the question.\n"


def _lm(cell="lstm", **kwargs):
    vocab = CharVocab.from_text(TEXT)
    torch.manual_seed(10)
    return CharLM(CharLMConfig(vocab_size=len(vocab), cell=cell, emb=8, hidden=16, **kwargs)), vocab


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("reference", [False, True])
def test_charlm_shapes_and_state(cell, reference):
    model, vocab = _lm(cell, num_layers=2, reference=reference)
    assert isinstance(model.rnn, (CELLS[cell][1] if reference else CELLS[cell][0]))
    idx = torch.randint(len(vocab), (3, 7))
    logits, state = model(idx)
    assert logits.shape == (3, 7, len(vocab))
    for s in _as_tuple(state):
        assert s.shape == (2, 3, 16)
    more, _ = model(idx[:, :2], state)  # the state can be carried into the next call
    assert more.shape == (3, 2, len(vocab))


@pytest.mark.parametrize("cell", list(CELLS))
def test_charlm_ours_equals_reference_with_the_same_weights(cell):
    ours, vocab = _lm(cell, num_layers=2)
    ref = CharLM(CharLMConfig(vocab_size=len(vocab), cell=cell, emb=8, hidden=16, num_layers=2, reference=True))
    ref.embed.load_state_dict(ours.embed.state_dict())
    ref.head.load_state_dict(ours.head.state_dict())
    ref.rnn = ours.rnn.to_torch()
    idx = torch.randint(len(vocab), (2, 9))
    assert (ours(idx)[0] - ref(idx)[0]).abs().max().item() <= 1e-5


def test_lm_loss_accepts_logits_or_the_pair():
    model, vocab = _lm()
    idx, y = torch.randint(len(vocab), (2, 6)), torch.randint(len(vocab), (2, 6))
    output = model(idx)
    expected = -torch.log_softmax(output[0], dim=-1).gather(-1, y.unsqueeze(-1)).mean()
    assert (lm_loss(output, y) - expected).abs().item() <= 1e-6
    assert torch.equal(lm_loss(output[0], y), lm_loss(output, y))
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        lm_loss(output, y[:, :3])


def test_generate_is_prompt_plus_n_and_reproducible():
    model, vocab = _lm(dropout=0.5)
    model.train()
    a = model.generate(vocab, "to ", 20, generator=torch.Generator().manual_seed(0))
    b = model.generate(vocab, "to ", 20, generator=torch.Generator().manual_seed(0))
    assert a == b and a.startswith("to ") and len(a) == 3 + 20
    assert not vocab.unseen(a)
    assert model.training  # restored
    assert model.generate(vocab, "be", 0) == "be"


def test_generate_carries_the_state():
    """At a tiny temperature sampling is greedy: it must agree with re-reading the whole text each step."""
    model, vocab = _lm("gru")
    text = model.generate(vocab, "the", 6, temperature=1e-4, generator=torch.Generator().manual_seed(0))
    expected = "the"
    with torch.no_grad():
        for _ in range(6):
            logits, _ = model(vocab.encode(expected).unsqueeze(0))
            expected += vocab.chars[int(logits[0, -1].argmax())]
    assert text == expected


def test_generate_rejects_bad_arguments():
    model, vocab = _lm()
    with pytest.raises(ValueError, match=r"\['X', '#'\]"):
        model.generate(vocab, "to X#", 5)
    with pytest.raises(ValueError, match="prompt"):
        model.generate(vocab, "", 5)
    with pytest.raises(ValueError, match="temperature"):
        model.generate(vocab, "to", 5, temperature=-0.5)
    greedy = model.generate(vocab, "to", 5, temperature=0.0)  # 0 is greedy decoding, as for the GPT
    assert greedy == model.generate(vocab, "to", 5, temperature=1e-300, generator=torch.Generator().manual_seed(3))
    with pytest.raises(ValueError, match="n "):
        model.generate(vocab, "to", -1)


def test_charlm_config_and_input_errors():
    with pytest.raises(ValueError, match="cell"):
        CharLMConfig(vocab_size=10, cell="transformer")
    with pytest.raises(ValueError, match="dropout"):
        CharLMConfig(vocab_size=10, dropout=1.0)
    model, vocab = _lm()
    assert CharLM(vocab_size=5, cell="gru", hidden=8).config.cell == "gru"
    with pytest.raises(TypeError, match="token ids"):
        model(torch.randn(2, 5))
    with pytest.raises(ValueError, match=r"0\.\.\d+"):
        model(torch.tensor([[0, len(vocab)]]))


def test_truncated_bptt_carries_the_state_but_not_the_gradient():
    torch.manual_seed(0)
    model = CharLM(vocab_size=7, cell="lstm", emb=4, hidden=5)
    tbptt = TruncatedBPTT(model)
    x = torch.randint(7, (2, 6))
    first = tbptt(x)
    assert tbptt.state is not None and not tbptt.state[0].requires_grad
    second = tbptt(x)
    carried, _ = model(x, detach_state(model(x)[1]))
    assert torch.allclose(second, carried, atol=1e-6)  # the second call started from the first call's final state
    assert not torch.allclose(second, first)
    tbptt.eval()
    assert torch.allclose(tbptt(x), model(x)[0])  # eval: from zeros
    tbptt.train()
    tbptt(torch.randint(7, (3, 6)))  # another batch size: starts over instead of failing
    assert tbptt.state[0].shape == (1, 3, 5)


def test_heldout_loss_reads_the_text_as_one_stream():
    torch.manual_seed(0)
    model = CharLM(vocab_size=5, cell="gru", emb=3, hidden=4).double()
    ids = torch.randint(5, (61,))
    logits, _ = model(ids[None, :-1])  # the whole text in one pass, one stream
    expected = lm_loss(logits, ids[None, 1:]).item()
    assert abs(rnn_heldout(model, ids, streams=1, block=7) - expected) < 1e-9  # blocks with the state carried = one pass
    two = rnn_heldout(model, ids, streams=2, block=100)
    first, _ = model(ids[None, :30])
    second, _ = model(ids[None, 30:60])
    by_hand = (lm_loss(first, ids[None, 1:31]).item() + lm_loss(second, ids[None, 31:61]).item()) / 2
    assert abs(two - by_hand) < 1e-9
    with pytest.raises(ValueError, match="1-D"):
        rnn_heldout(model, ids[:3], streams=2)
