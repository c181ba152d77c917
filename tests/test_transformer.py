"""course_lib.transformer (notebook 06): layers against PyTorch's, positional encodings, the encoder–decoder."""
import math

import pytest
import torch
from torch import nn

from course_lib import seq2seq as s2s
from course_lib import train
from course_lib.transformer import (LearnedPositionalEncoding, Seq2SeqTransformer, SinusoidalPositionalEncoding,
                                    TransformerConfig, TransformerDecoderLayer, TransformerEncoderLayer, causal_mask,
                                    sinusoidal_encoding)
from course_lib.transformer import _model_parameters

TOL = 1e-6
B, T, S, D, HEADS, FF = 3, 5, 4, 8, 2, 12


def _padding(B, T, lengths):
    """``(B, T)`` bool, True after each row's length (right padding)."""
    return torch.arange(T)[None, :] >= torch.tensor(lengths)[:, None]


def _torch_layout_grads(ours, attentions):
    """Our per-matrix gradients, packed into PyTorch's parameter names (written here, not read from the library):
    ``in_proj_weight`` stacks ``[W_q; W_k; W_v]``, ``out_proj`` is ``W_o``."""
    grads = {}
    for our_name, their_name in attentions:
        attn = getattr(ours, our_name)
        grads[f"{their_name}.in_proj_weight"] = torch.cat([attn.W_q.weight.grad, attn.W_k.weight.grad,
                                                           attn.W_v.weight.grad])
        grads[f"{their_name}.in_proj_bias"] = torch.cat([attn.W_q.bias.grad, attn.W_k.bias.grad, attn.W_v.bias.grad])
        grads[f"{their_name}.out_proj.weight"] = attn.W_o.weight.grad
        grads[f"{their_name}.out_proj.bias"] = attn.W_o.bias.grad
    for name, p in ours.named_parameters():
        if name.startswith(("linear", "norm")):
            grads[name] = p.grad
    return grads


def _run(module, inputs, call, probe):
    """Output, input gradients and parameter gradients of ``(call(module, *inputs) * probe).sum()``."""
    module.zero_grad()
    out = call(module, *inputs)
    loss = (out * probe).sum()
    input_grads = torch.autograd.grad(loss, inputs, retain_graph=True)
    loss.backward()
    return out, input_grads


def _max_error(a, b) -> float:
    return (a - b).abs().max().item()


MEASURED = {}  # the largest error of each comparison, printed by the last test (pytest -s shows it)


# -- the encoder layer against nn.TransformerEncoderLayer ---------------------------------------------------------

@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("mask", ["padding", "causal", "both"])
def test_encoder_layer_matches_torch_outputs_and_every_gradient(norm_first, activation, mask):
    torch.manual_seed(0)
    ref = nn.TransformerEncoderLayer(D, HEADS, FF, dropout=0.0, activation=activation, batch_first=True,
                                     norm_first=norm_first, dtype=torch.float64).eval()
    ours = TransformerEncoderLayer.from_torch(ref)
    assert ours.norm_first == norm_first and ours.activation == activation
    g = torch.Generator().manual_seed(1)
    x = torch.randn(B, T, D, dtype=torch.float64, generator=g, requires_grad=True)
    probe = torch.randn(B, T, D, dtype=torch.float64, generator=g)
    padding = _padding(B, T, [5, 3, 2]) if mask in ("padding", "both") else None
    causal = causal_mask(T) if mask in ("causal", "both") else None

    out, (x_grad,) = _run(ours, (x,), lambda m, x: m(x, key_padding_mask=padding, attn_mask=causal)[0], probe)
    ref_out, (ref_x_grad,) = _run(ref, (x,), lambda m, x: m(x, src_mask=causal, src_key_padding_mask=padding),
                                  probe)
    errors = [_max_error(out, ref_out), _max_error(x_grad, ref_x_grad)]
    ours_grads = _torch_layout_grads(ours, [("self_attn", "self_attn")])
    ref_grads = {name: p.grad for name, p in ref.named_parameters()}
    assert ours_grads.keys() == ref_grads.keys()
    errors += [_max_error(ours_grads[k], ref_grads[k]) for k in ref_grads]
    MEASURED[f"encoder {norm_first=} {activation} {mask}"] = max(errors)
    assert max(errors) <= TOL

    # the weights: PyTorch's attention on the same input (normalised first in pre-LN), per head
    with torch.no_grad():
        _, weights = ours(x, key_padding_mask=padding, attn_mask=causal)
        h = ref.norm1(x) if norm_first else x
        _, ref_weights = ref.self_attn(h, h, h, key_padding_mask=padding, attn_mask=causal, need_weights=True,
                                       average_attn_weights=False)
    assert weights.shape == (B, HEADS, T, T)
    assert _max_error(weights, ref_weights) <= TOL
    if padding is not None:
        assert torch.all(weights.masked_select(padding[:, None, None, :].expand_as(weights)) == 0)
    if causal is not None:
        assert torch.all(weights.masked_select(causal.expand_as(weights)) == 0)


# -- the decoder layer against nn.TransformerDecoderLayer ---------------------------------------------------------

@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_decoder_layer_matches_torch_outputs_and_every_gradient(norm_first, activation):
    torch.manual_seed(0)
    ref = nn.TransformerDecoderLayer(D, HEADS, FF, dropout=0.0, activation=activation, batch_first=True,
                                     norm_first=norm_first, dtype=torch.float64).eval()
    ours = TransformerDecoderLayer.from_torch(ref)
    g = torch.Generator().manual_seed(2)
    x = torch.randn(B, T, D, dtype=torch.float64, generator=g, requires_grad=True)
    memory = torch.randn(B, S, D, dtype=torch.float64, generator=g, requires_grad=True)
    probe = torch.randn(B, T, D, dtype=torch.float64, generator=g)
    causal, tgt_pad, mem_pad = causal_mask(T), _padding(B, T, [5, 4, 2]), _padding(B, S, [4, 2, 3])

    out, grads = _run(ours, (x, memory), lambda m, x, mem: m(x, mem, tgt_mask=causal, tgt_key_padding_mask=tgt_pad,
                                                              memory_key_padding_mask=mem_pad)[0], probe)
    ref_out, ref_grads_in = _run(ref, (x, memory), lambda m, x, mem: m(x, mem, tgt_mask=causal,
                                                                       tgt_key_padding_mask=tgt_pad,
                                                                       memory_key_padding_mask=mem_pad), probe)
    errors = [_max_error(out, ref_out)] + [_max_error(a, b) for a, b in zip(grads, ref_grads_in)]
    ours_grads = _torch_layout_grads(ours, [("self_attn", "self_attn"), ("cross_attn", "multihead_attn")])
    ref_grads = {name: p.grad for name, p in ref.named_parameters()}
    assert ours_grads.keys() == ref_grads.keys()
    errors += [_max_error(ours_grads[k], ref_grads[k]) for k in ref_grads]
    MEASURED[f"decoder {norm_first=} {activation}"] = max(errors)
    assert max(errors) <= TOL

    with torch.no_grad():
        _, self_w, cross_w = ours(x, memory, tgt_mask=causal, tgt_key_padding_mask=tgt_pad,
                                  memory_key_padding_mask=mem_pad)
    assert self_w.shape == (B, HEADS, T, T) and cross_w.shape == (B, HEADS, T, S)
    assert torch.allclose(cross_w.sum(-1), torch.ones(B, HEADS, T, dtype=torch.float64))
    assert torch.all(cross_w.masked_select(mem_pad[:, None, None, :].expand_as(cross_w)) == 0)
    assert torch.all(self_w.masked_select(causal.expand_as(self_w)) == 0)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_to_torch_round_trip(norm_first, bias):
    torch.manual_seed(3)
    x = torch.randn(2, 4, D, dtype=torch.float64)
    memory = torch.randn(2, 3, D, dtype=torch.float64)
    mask = causal_mask(4)
    for cls, call, torch_call in (
            (TransformerEncoderLayer, lambda m: m(x, attn_mask=mask)[0], lambda m: m(x, src_mask=mask)),
            (TransformerDecoderLayer, lambda m: m(x, memory, tgt_mask=mask)[0], lambda m: m(x, memory, tgt_mask=mask))):
        ours = cls(D, HEADS, FF, norm_first=norm_first, activation="gelu", layer_norm_eps=1e-6, bias=bias).double()
        theirs = ours.to_torch().eval()
        assert theirs.self_attn.batch_first
        assert theirs.norm_first == norm_first and theirs.norm1.eps == 1e-6
        with torch.no_grad():
            assert _max_error(call(ours), torch_call(theirs)) <= TOL
        back = cls.from_torch(theirs)
        assert back.state_dict().keys() == ours.state_dict().keys()
        assert all(torch.equal(a, b) for a, b in zip(back.state_dict().values(), ours.state_dict().values()))


def test_gradcheck_on_a_tiny_encoder_layer():
    torch.manual_seed(4)
    layer = TransformerEncoderLayer(4, 2, 6, norm_first=True, activation="gelu").double()
    names = [name for name, _ in layer.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_(True) for p in layer.parameters())
    x = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    padding = _padding(2, 3, [3, 2])

    def f(x, *params):
        return torch.func.functional_call(layer, dict(zip(names, params)), (x,), {"key_padding_mask": padding})[0]

    assert torch.autograd.gradcheck(f, (x, *params))


# -- positional encodings -----------------------------------------------------------------------------------------

def test_sinusoidal_values_follow_the_formula():
    d = 10
    pe = sinusoidal_encoding(60, d, dtype=torch.float64)
    assert pe.shape == (60, d) and sinusoidal_encoding(3, 4).dtype == torch.get_default_dtype()
    for pos in (0, 1, 7, 59):
        for i in range(d // 2):
            angle = pos / 10000 ** (2 * i / d)
            assert abs(pe[pos, 2 * i].item() - math.sin(angle)) < 1e-12
            assert abs(pe[pos, 2 * i + 1].item() - math.cos(angle)) < 1e-12
    odd = sinusoidal_encoding(5, 7, dtype=torch.float64)  # an odd width ends with a sine
    assert abs(odd[3, 6].item() - math.sin(3 / 10000 ** (6 / 7))) < 1e-12


def test_sinusoidal_dot_product_depends_only_on_the_offset():
    d = 16
    pe = sinusoidal_encoding(64, d, dtype=torch.float64)
    frequencies = torch.tensor([10000 ** (-2 * i / d) for i in range(d // 2)], dtype=torch.float64)
    for k in (1, 2, 5, 13):
        dots = torch.stack([pe[p] @ pe[p + k] for p in (0, 3, 10, 25, 40)])
        expected = torch.cos(k * frequencies).sum()  # Σ_i sin(p w) sin((p+k) w) + cos(p w) cos((p+k) w)
        assert torch.allclose(dots, expected.expand_as(dots), atol=1e-12)
    assert not torch.allclose(pe[0] @ pe[1], pe[0] @ pe[5])  # and it does depend on the offset


def test_positional_encoding_modules():
    x = torch.randn(2, 6, D)
    sinusoidal = SinusoidalPositionalEncoding(D, max_len=10)
    assert torch.equal(sinusoidal(x), x + sinusoidal_encoding(10, D)[:6])
    assert list(sinusoidal.parameters()) == [] and "pe" not in sinusoidal.state_dict()  # fixed, not learned
    assert sinusoidal.double().pe.dtype == torch.float64
    learned = LearnedPositionalEncoding(D, max_len=10)
    assert learned.embedding.weight.shape == (10, D)
    assert torch.equal(learned(x), x + learned.embedding.weight[:6])
    for module in (sinusoidal, learned):
        with pytest.raises(ValueError, match="max_len=10"):
            module(torch.randn(2, 11, D))


def test_causal_mask_is_pytorchs_with_true_for_minus_infinity():
    assert torch.equal(causal_mask(4), nn.Transformer.generate_square_subsequent_mask(4) == float("-inf"))
    assert torch.equal(causal_mask(3), torch.tensor([[False, True, True], [False, False, True], [False] * 3]))


# -- the encoder–decoder --------------------------------------------------------------------------------------------

def _model(seed=0, **options):
    torch.manual_seed(seed)
    config = TransformerConfig(13, 13, d_model=16, num_heads=2, num_layers=2, dim_feedforward=32, max_len=20,
                               **options)
    return Seq2SeqTransformer(config)


@pytest.mark.parametrize("options", [{}, {"positional": "learned"}, {"positional": None, "norm_first": False}])
def test_the_size_check_counts_every_parameter(options):
    model = _model(**options)
    assert _model_parameters(model.config) == sum(p.numel() for p in model.parameters())


def _batch():
    return s2s.reversal_data(6, 2, 6, seed=3)  # src (6, 6), tgt (6, 7), padded on the right


@pytest.mark.parametrize("positional", ["sinusoidal", "learned", None])
def test_encoder_without_positions_is_permutation_equivariant(positional):
    model = _model(positional=positional).double()
    g = torch.Generator().manual_seed(5)
    src = torch.randint(3, 13, (4, 7), generator=g)  # no padding
    perm = torch.randperm(7, generator=g)
    with torch.no_grad():
        memory, weights = model.encode(src)
        memory_p, weights_p = model.encode(src[:, perm])
    same_memory = _max_error(memory[:, perm], memory_p) <= TOL
    same_weights = _max_error(weights[..., perm, :][..., perm], weights_p) <= TOL
    if positional is None:  # permute the tokens: the outputs and the attention maps are permuted the same way
        assert same_memory and same_weights
    else:  # positions tell the tokens apart: the outputs change
        assert not same_memory


@pytest.mark.parametrize("norm_first", [True, False])
def test_shapes_and_teacher_forcing_sees_only_earlier_targets(norm_first):
    model = _model(norm_first=norm_first)
    src, tgt = _batch()
    logits = model(src, tgt)
    assert logits.shape == (6, 7, 13)
    memory, enc_w = model.encode(src)
    assert memory.shape == (6, 6, 16) and enc_w.shape == (6, 2, 2, 6, 6)
    y_in = torch.cat([torch.full_like(tgt[:, :1], s2s.BOS), tgt[:, :-1]], 1)
    dec_logits, self_w, cross_w = model.decode(y_in, memory, src == s2s.PAD)
    assert torch.equal(dec_logits, logits)  # forward = decode(<s> + tgt[:, :-1]) on encode(src)
    assert self_w.shape == (6, 2, 2, 7, 7) and cross_w.shape == (6, 2, 2, 7, 6)
    changed = tgt.clone()
    changed[:, 3] = (changed[:, 3] - 3 + 1) % 10 + 3  # another digit at step 3
    logits2 = model(src, changed)
    assert _max_error(logits[:, :4], logits2[:, :4]) <= TOL  # steps 0..3 do not see tgt[:, 3]
    assert _max_error(logits[:, 4:], logits2[:, 4:]) > 1e-3  # step 4 reads it as its input


def test_padding_does_not_change_a_sequence_result():
    model = _model()
    src, tgt = _batch()
    wide_src = torch.cat([src, torch.zeros(6, 3, dtype=torch.long)], 1)  # more padding columns
    wide_tgt = torch.cat([tgt, torch.zeros(6, 2, dtype=torch.long)], 1)
    with torch.no_grad():
        logits, wide = model(src, tgt), model(wide_src, wide_tgt)
        alone = model(src[:1, : int((src[0] != 0).sum())], tgt[:1, : int((tgt[0] != 0).sum())])
    real = tgt != s2s.PAD
    assert _max_error(logits[real], wide[:, :7][real]) <= 1e-5
    assert _max_error(logits[0, : alone.shape[1]], alone[0]) <= 1e-5


@pytest.fixture(scope="module")
def trained():
    """A small model trained for 150 steps on reversal of 2–5 digits (a few seconds)."""
    vocab = s2s.reversal_vocab()
    src, tgt = s2s.reversal_data(2000, 2, 5, seed=0)
    val_src, val_tgt = s2s.reversal_data(300, 2, 5, seed=1)
    torch.manual_seed(0)
    model = Seq2SeqTransformer(TransformerConfig(len(vocab), len(vocab), d_model=32, num_heads=2, num_layers=1,
                                                 dim_feedforward=64, max_len=16))
    history = train.fit(model, s2s.random_batches(src, tgt, 50), s2s.sequence_loss,
                        torch.optim.Adam(model.parameters(), lr=1e-2), steps=150,
                        eval_batches=[((val_src, val_tgt), val_tgt)], metric=s2s.token_accuracy, live=False)
    return model, history, val_src, val_tgt, vocab


def test_a_short_training_run_learns_reversal(trained):
    model, history, val_src, val_tgt, vocab = trained
    assert history.eval_loss[-1] < 0.5 * history.eval_loss[0]
    assert history.final_eval_metric > 0.5  # chance: 1 in 11 (ten digits and </s>)
    scores = s2s.decode_accuracy(model, val_src, val_tgt)
    assert scores["token"] > 0.4 and 0 <= scores["exact"] <= scores["token"]


def test_greedy_decode_conventions(trained):
    model, _, src, tgt, vocab = trained
    model.train()
    tokens, weights = model.greedy_decode(src[:40], max_len=tgt.shape[1])
    assert model.training  # decoding restores the mode it found
    n, steps = tokens.shape
    assert weights.shape == (n, 1, 2, steps, src.shape[1])
    ended = tokens == s2s.EOS
    assert int(ended.sum(1).max()) == 1  # at most one </s> per row
    assert float(ended.any(1).float().mean()) > 0.8  # a trained model ends most rows
    if bool(ended.any(1).all()):
        assert steps == int(ended.int().argmax(1).max()) + 1  # it stops when the last row has ended
    else:
        assert steps == tgt.shape[1]  # a row that never ends: every step ran
    after = (ended.cumsum(1) - ended.int()) > 0  # (n, steps): positions after a row's </s>
    assert torch.all(tokens[after] == s2s.PAD) and torch.all(tokens[~after] > s2s.BOS)
    sums = weights.sum(-1)  # (n, layers, heads, steps)
    produced = ~after[:, None, None, :].expand_as(sums)
    assert torch.allclose(sums[produced], torch.ones(int(produced.sum())), atol=1e-6)
    assert torch.all(sums[~produced] == 0)
    padding = (src[:40] == s2s.PAD)[:, None, None, None, :].expand_as(weights)
    assert torch.all(weights[padding] == 0)
    # the step-by-step decoding agrees with one teacher-forced pass over its own output
    with torch.no_grad():
        logits = model(src[:40], tokens)
        memory, _ = model.encode(src[:40])
        y_in = torch.cat([torch.full_like(tokens[:, :1], s2s.BOS), tokens[:, :-1]], 1)
        _, _, cross = model.decode(y_in, memory, src[:40] == s2s.PAD)
    assert torch.equal(logits[:, :, s2s.EOS:].argmax(-1)[~after] + s2s.EOS, tokens[~after])
    assert _max_error(cross.masked_fill(~produced[..., None], 0), weights) <= 1e-5
    # one EOS-loving model: every row ends at once
    eager = _model()
    with torch.no_grad():
        eager.out.bias[s2s.EOS] = 1e4
    stop_tokens, stop_weights = eager.greedy_decode(_batch()[0], max_len=10)
    assert torch.equal(stop_tokens, torch.full((6, 1), s2s.EOS)) and stop_weights.shape == (6, 2, 2, 1, 6)
    with pytest.raises(ValueError, match="uniform_attention"):
        model.greedy_decode(src[:2], max_len=5, uniform_attention=True)


def test_translate_and_decode_accuracy_take_the_transformer(trained):
    model, _, src, tgt, vocab = trained
    text, labels, weights = s2s.translate(model, "31415", vocab, vocab, max_len=10)
    assert weights.shape == (1, 2, len(labels), 5)
    assert torch.allclose(weights.sum(-1), torch.ones(1, 2, len(labels)), atol=1e-6)
    scores = s2s.decode_accuracy(model, src[:50], tgt[:50], batch_size=20)
    assert set(scores) == {"exact", "token"}
    with pytest.raises(ValueError, match="uniform_attention"):
        s2s.decode_accuracy(model, src[:5], tgt[:5], uniform_attention=True)


def test_the_gru_model_still_translates_with_its_own_weight_shape():
    torch.manual_seed(0)
    vocab = s2s.reversal_vocab()
    model = s2s.Seq2Seq(s2s.Seq2SeqConfig(len(vocab), len(vocab), emb=8, hidden=16))
    text, labels, weights = s2s.translate(model, "1234", vocab, vocab, max_len=6)
    assert weights.shape == (len(labels), 4)


def test_measured_errors_against_pytorch():
    """Prints the largest error of each comparison above (run with -s to see it)."""
    for name, error in sorted(MEASURED.items()):
        print(f"{name}: {error:.1e}")
    assert all(error <= TOL for error in MEASURED.values())
