"""Attention (notebook 05): both scores against a direct implementation and PyTorch, masks, the encoder–decoder."""
import pytest
import torch
import torch.nn.functional as F

from course_lib import data, train
from course_lib import seq2seq as s2s
from course_lib.attention import (AdditiveAttention, KVCache, MultiHeadAttention, dot_product_attention,
                                  scaled_dot_product_attention)

TOL = 1e-6


def _inputs(B=3, T_q=4, T_k=6, d=5, d_v=7, d_q=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, T_q, d_q or d, generator=g, dtype=torch.float64, requires_grad=True)
    k = torch.randn(B, T_k, d, generator=g, dtype=torch.float64, requires_grad=True)
    v = torch.randn(B, T_k, d_v, generator=g, dtype=torch.float64, requires_grad=True)
    return q, k, v


def _masks(B=3, T_q=4, T_k=6):
    padding = torch.zeros(B, 1, T_k, dtype=torch.bool)
    padding[1, 0, 4:] = True  # batch entry 1 has 4 real keys, entry 2 has 2
    padding[2, 0, 2:] = True
    causal = torch.ones(T_q, T_k, dtype=torch.bool).triu(1)  # query i may see keys 0..i
    full = torch.rand(B, T_q, T_k, generator=torch.Generator().manual_seed(5)) < 0.4
    full[..., 0] = False  # every row keeps at least one key
    return {"none": None, "padding": padding, "causal": causal, "full": full}


def _direct(q, k, v, mask, score):
    """Attention written out one query at a time, one key at a time: the definition, with no vectorisation."""
    B, T_q, T_k = q.shape[0], q.shape[1], k.shape[1]
    contexts, weights = [], []
    for b in range(B):
        for i in range(T_q):
            e = torch.stack([score(q[b, i], k[b, j]) for j in range(T_k)])
            if mask is not None:
                blocked = mask.expand(B, T_q, T_k)[b, i]
                e = torch.where(blocked, torch.tensor(float("-inf"), dtype=e.dtype), e)
            alpha = torch.exp(e - e.max()) / torch.exp(e - e.max()).sum()
            weights.append(alpha)
            contexts.append((alpha[:, None] * v[b]).sum(0))
    return torch.stack(contexts).view(B, T_q, -1), torch.stack(weights).view(B, T_q, T_k)


def _grads(outputs, inputs):
    torch.manual_seed(1)
    probes = [torch.randn_like(o) for o in outputs]
    total = sum((o * p).sum() for o, p in zip(outputs, probes))
    return torch.autograd.grad(total, inputs, retain_graph=True)


@pytest.mark.parametrize("mask_name", ["none", "padding", "causal", "full"])
def test_dot_product_attention_equals_the_definition_and_pytorch(mask_name):
    q, k, v = _inputs()
    mask = _masks()[mask_name]
    ctx, w = dot_product_attention(q, k, v, mask)
    ref_ctx, ref_w = _direct(q, k, v, mask, lambda qi, kj: qi @ kj)
    assert ctx.shape == (3, 4, 7) and w.shape == (3, 4, 6)
    assert (ctx - ref_ctx).abs().max() < TOL and (w - ref_w).abs().max() < TOL
    assert torch.allclose(w.sum(-1), torch.ones(3, 4, dtype=torch.float64))
    for a, b in zip(_grads([ctx, w], (q, k, v)), _grads([ref_ctx, ref_w], (q, k, v))):
        assert (a - b).abs().max() < TOL
    # PyTorch's fused function, scale 1 (no 1/sqrt(d)); its boolean mask means the opposite: True = may attend
    sdpa = F.scaled_dot_product_attention(q, k, v, attn_mask=None if mask is None else ~mask, scale=1.0)
    assert (ctx - sdpa).abs().max() < TOL
    for a, b in zip(_grads([ctx], (q, k, v)), _grads([sdpa], (q, k, v))):
        assert (a - b).abs().max() < TOL
    if mask is not None:
        assert torch.all(w.masked_select(mask.expand_as(w)) == 0)  # masked keys get exactly zero weight


@pytest.mark.parametrize("mask_name", ["none", "padding", "causal", "full"])
def test_additive_attention_equals_the_definition(mask_name):
    torch.manual_seed(0)
    q, k, v = _inputs(d_q=3)  # queries and keys of different sizes: allowed by the additive score
    att = AdditiveAttention(query_size=3, key_size=5, hidden_size=8).double()
    mask = _masks()[mask_name]
    ctx, w = att(q, k, v, mask)
    ref_ctx, ref_w = _direct(q, k, v, mask, lambda qi, kj: att.v @ torch.tanh(att.W_q @ qi + att.W_k @ kj))
    assert (ctx - ref_ctx).abs().max() < TOL and (w - ref_w).abs().max() < TOL
    inputs = (q, k, v, att.W_q, att.W_k, att.v)
    for a, b in zip(_grads([ctx, w], inputs), _grads([ref_ctx, ref_w], inputs)):
        assert (a - b).abs().max() < TOL


def test_gradcheck_both_attentions():
    q, k, v = _inputs(B=2, T_q=2, T_k=3, d=3, d_v=2)
    mask = torch.tensor([[[False, False, True]], [[False, False, False]]])
    assert torch.autograd.gradcheck(lambda q, k, v: dot_product_attention(q, k, v, mask), (q, k, v))
    att = AdditiveAttention(3, 3, 4).double()
    assert torch.autograd.gradcheck(lambda q, k, v: att(q, k, v, mask), (q, k, v))


@pytest.mark.parametrize("fn", ["dot", "additive"])
def test_mask_errors_are_clear(fn):
    q, k, v = _inputs(B=2, T_q=3, T_k=4, d=4)
    attend = dot_product_attention if fn == "dot" else AdditiveAttention(4, 4, 5).double()
    hidden = torch.zeros(2, 1, 4, dtype=torch.bool)
    hidden[1] = True  # batch entry 1 may see no key at all
    with pytest.raises(ValueError, match="hides every key from query 0 of batch entry 1"):
        attend(q, k, v, hidden)
    with pytest.raises(ValueError, match=r"does not broadcast(.|\n)*mask\[:, None, :\]"):
        attend(q, k, v, torch.zeros(2, 4, dtype=torch.bool))  # a (B, T_k) padding mask without its query axis
    with pytest.raises(ValueError, match="does not broadcast"):
        attend(q, k, v, torch.zeros(3, 5, dtype=torch.bool))
    with pytest.raises(TypeError, match="torch.bool"):
        attend(q, k, v, torch.zeros(2, 1, 4))
    with pytest.raises(ValueError, match="3 dimensions"):
        attend(q[:, 0], k, v)
    with pytest.raises(ValueError, match="same length T_k"):
        attend(q, k, v[:, :3])


def test_dot_product_needs_equal_sizes_and_additive_checks_its_sizes():
    q, k, v = _inputs(d_q=3)
    with pytest.raises(ValueError, match="same size d"):
        dot_product_attention(q, k, v)
    with pytest.raises(ValueError, match="queries of size 4"):
        AdditiveAttention(4, 5, 6).double()(q, k, v)
    with pytest.raises(ValueError, match="hidden_size"):
        AdditiveAttention(4, 5, 0)


# -- the encoder–decoder ---------------------------------------------------------------------------------------------

def _date_model(attention="additive", seed=0):
    torch.manual_seed(seed)
    pairs = data.date_task(40, seed=seed)
    src_vocab = s2s.Vocab.from_texts(t for t, _ in data.date_task(2000, seed=9))
    tgt_vocab = s2s.Vocab(list("0123456789-"))
    model = s2s.Seq2Seq(s2s.Seq2SeqConfig(len(src_vocab), len(tgt_vocab), emb=8, hidden=16, attention=attention))
    src, tgt = s2s.encode_pairs(pairs, src_vocab, tgt_vocab)
    return model, src, tgt, src_vocab, tgt_vocab


@pytest.mark.parametrize("attention", ["additive", "dot"])
def test_greedy_decoding_gives_one_attention_row_per_output_token(attention):
    model, src, tgt, *_ = _date_model(attention)
    tokens, weights = model.greedy_decode(src, max_len=12)
    assert weights.shape == (*tokens.shape, src.shape[1])
    produced = tokens != s2s.PAD  # each row's tokens up to and including its first </s>
    sums = weights.sum(-1)
    assert torch.allclose(sums[produced], torch.ones(int(produced.sum())), atol=1e-6)
    assert torch.all(sums[~produced] == 0)
    padding = (src == s2s.PAD)[:, None, :].expand_as(weights)
    assert torch.all(weights[padding] == 0)  # no weight on padding
    uniform_tokens, uniform = model.greedy_decode(src, max_len=12, uniform_attention=True)
    lengths = (src != s2s.PAD).sum(1).float()
    first = uniform[:, 0]  # the first step always runs: 1/length on every real token
    assert torch.allclose(first.max(1).values, 1 / lengths) and torch.allclose(first.sum(1), torch.ones(len(src)))


def test_model_without_attention_has_no_weights_and_sees_a_fixed_context():
    model, src, tgt, *_ = _date_model(None)
    tokens, weights = model.greedy_decode(src, max_len=12)
    assert weights is None and tokens.shape[0] == src.shape[0]
    assert model.attention is None


def test_teacher_forcing_feeds_the_true_previous_token():
    model, src, tgt, *_ = _date_model()
    logits = model(src, tgt)
    assert logits.shape == (*tgt.shape, model.config.tgt_vocab_size)
    changed = tgt.clone()
    changed[:, 3] = (changed[:, 3] % 5) + 3  # another digit
    logits2 = model(src, changed)
    assert torch.allclose(logits[:, :4], logits2[:, :4])  # steps 0..3 do not see tgt[:, 3]
    assert not torch.allclose(logits[:, 4], logits2[:, 4])  # step 4 reads it as its input


def test_padding_does_not_change_a_sequence_result():
    model, src, tgt, src_vocab, tgt_vocab = _date_model()
    model.eval()
    short = min(range(len(src)), key=lambda i: int((src[i] != 0).sum()))
    alone = src[short : short + 1, : int((src[short] != 0).sum())]
    with torch.no_grad():
        batch_logits = model(src, tgt)[short]
        alone_logits = model(alone, tgt[short : short + 1])[0]
    assert (batch_logits - alone_logits).abs().max() < 1e-5


def test_loss_metrics_and_translate():
    model, src, tgt, src_vocab, tgt_vocab = _date_model()
    logits = model(src, tgt)
    loss = s2s.sequence_loss(logits, tgt)
    real = tgt != s2s.PAD
    manual = F.cross_entropy(logits[real], tgt[real])
    assert torch.allclose(loss, manual)
    perfect = F.one_hot(tgt, logits.shape[-1]).float() * 10
    assert float(s2s.token_accuracy(perfect, tgt)) == 1.0
    scores = s2s.decode_accuracy(model, src, tgt)
    assert 0 <= scores["exact"] <= scores["token"] <= 1
    text, labels, weights = s2s.translate(model, "Mon 23 Nov 2026", src_vocab, tgt_vocab)
    assert weights.shape == (len(labels), len("Mon 23 Nov 2026"))
    assert torch.allclose(weights.sum(1), torch.ones(len(labels)), atol=1e-6)
    with pytest.raises(ValueError, match="never saw"):
        s2s.translate(model, "Mon 23 Nov 2026 ☃", src_vocab, tgt_vocab)
    with pytest.raises(ValueError, match="empty"):
        s2s.translate(model, "", src_vocab, tgt_vocab)


def test_seq2seq_bad_inputs():
    model, src, tgt, *_ = _date_model()
    with pytest.raises(TypeError, match="int64"):
        model(src.float(), tgt)
    with pytest.raises(ValueError, match="outside"):
        model(src + 100, tgt)
    with pytest.raises(ValueError, match="padding only"):
        model(torch.zeros_like(src), tgt)
    with pytest.raises(ValueError, match="right only"):
        model(torch.cat([torch.zeros_like(src[:, :1]), src], 1), tgt)
    with pytest.raises(ValueError, match="batch sizes"):
        model(src, tgt[:3])
    with pytest.raises(ValueError, match="max_len"):
        model.greedy_decode(src, max_len=0)
    with pytest.raises(ValueError, match="attention must be"):
        s2s.Seq2Seq(s2s.Seq2SeqConfig(10, 10, attention="luong"))
    with pytest.raises(ValueError, match="not in the vocabulary"):
        s2s.Vocab(list("abc")).encode("abd")
    model.train()
    model.greedy_decode(src, max_len=3)
    assert model.training  # decoding restores the mode it found


# -- dates -----------------------------------------------------------------------------------------------------------

def test_date_task_formats_and_held_out_dates():
    pairs = data.date_task(3000, seed=0)
    for text, iso in pairs:
        assert data.parse_date(text) == iso  # every generated input reads back to its answer
    train = {iso for _, iso in data.date_task(5000, seed=0, split="train")}
    val = {iso for _, iso in data.date_task(2000, seed=1, split="val")}
    test = {iso for _, iso in data.date_task(2000, seed=2, split="test")}
    assert not train & val and not train & test  # no held-out date is ever trained on, in any format
    assert not val & test  # the days that choose settings are not the days we report on
    assert len(val) > 1000 and len(test) > 1000  # and each half is large (about 1,826 days each)
    styles = {example for example, _ in data.DATE_FORMATS}
    assert len(styles) == 7


@pytest.mark.parametrize("text, iso", [("Mon 23 Nov 2026", "2026-11-23"), ("Monday, 23 November 2026", "2026-11-23"),
                                       ("23 November 2026", "2026-11-23"), ("November 23, 2026", "2026-11-23"),
                                       ("Nov 23 2026", "2026-11-23"), ("23/11/2026", "2026-11-23"),
                                       ("23.11.26", "2026-11-23"), ("7.3.94", "1994-03-07"),
                                       ("29 February 2024", "2024-02-29")])
def test_parse_date_reads_every_format(text, iso):
    assert data.parse_date(text) == iso


@pytest.mark.parametrize("text, message", [("", "empty"), ("   ", "empty"), ("11/23/26", "not in a supported format"),
                                           ("23/11/26", "not in a supported format"),
                                           ("31 April 2001", "not a real date"), ("29 February 2023", "not a real date"),
                                           ("Tue 23 Nov 2026", "is a Monday, not a Tuesday"),
                                           ("Blursday, 23 November 2026", "not a weekday"),
                                           ("23 Novembre 2026", "not a month name")])
def test_parse_date_explains_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message):
        data.parse_date(text)


def test_fit_trains_a_seq2seq_model_with_tuple_inputs():
    """train.fit passes an (src, tgt) tuple as model(src, tgt): teacher forcing through the shared loop."""
    torch.manual_seed(0)
    vocab = s2s.reversal_vocab()
    src, tgt = s2s.reversal_data(2000, 2, 5, seed=0)
    model = s2s.Seq2Seq(s2s.Seq2SeqConfig(len(vocab), len(vocab), emb=8, hidden=32, attention="dot"))
    held_out = [((src[:200], tgt[:200]), tgt[:200])]
    history = train.fit(model, s2s.random_batches(src, tgt, 50), s2s.sequence_loss,
                        torch.optim.Adam(model.parameters(), lr=1e-2), steps=150, eval_batches=held_out,
                        metric=s2s.token_accuracy, live=False)
    assert history.eval_loss[-1] < 0.5 * history.eval_loss[0]
    assert history.final_eval_metric > 0.6
    with pytest.raises(ValueError, match="same number of rows"):
        train.fit(model, [((src[:5], tgt[:4]), tgt[:5])], s2s.sequence_loss, torch.optim.Adam(model.parameters()),
                  steps=1, live=False)


# -- notebook 06: scaled dot-product and multi-head attention --------------------------------------------------------

def _mha_inputs(B=3, T_q=4, T_k=6, d_model=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(B, T, d_model, generator=g, dtype=torch.float64, requires_grad=True)
            for T in (T_q, T_k, T_k)]


@pytest.mark.parametrize("mask_name", ["none", "padding", "causal", "full"])
def test_scaled_dot_product_attention_equals_pytorch(mask_name):
    q, k, v = _inputs(d_v=5)
    mask = _masks()[mask_name]
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    # the definition, written out: softmax(q k^T / sqrt(d)) with -inf where masked
    scores = q @ k.transpose(1, 2) / q.shape[-1] ** 0.5
    if mask is not None:
        scores = scores.masked_fill(mask, float("-inf"))
    assert (weights - torch.softmax(scores, -1)).abs().max() <= TOL
    reference = F.scaled_dot_product_attention(q, k, v, attn_mask=None if mask is None else ~mask)
    assert (out - reference).abs().max() <= TOL
    grads = torch.autograd.grad((out * torch.arange(out.numel()).view(out.shape)).sum(), (q, k, v))
    ref_grads = torch.autograd.grad((reference * torch.arange(out.numel()).view(out.shape)).sum(), (q, k, v))
    for a, b in zip(grads, ref_grads):
        assert (a - b).abs().max() <= TOL


def test_scaled_attention_with_a_heads_axis_is_each_head_on_its_own():
    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(2, 3, 5, 4, generator=g, dtype=torch.float64) for _ in range(3))
    out, weights = scaled_dot_product_attention(q, k, v)
    assert out.shape == (2, 3, 5, 4) and weights.shape == (2, 3, 5, 5)
    for h in range(3):
        out_h, weights_h = scaled_dot_product_attention(q[:, h], k[:, h], v[:, h])
        assert (out[:, h] - out_h).abs().max() <= 1e-12 and (weights[:, h] - weights_h).abs().max() <= 1e-12
    assert torch.autograd.gradcheck(lambda a, b, c: scaled_dot_product_attention(a, b, c)[0],
                                    tuple(t[:1, :2, :3].clone().requires_grad_() for t in (q, k, v)))


@pytest.mark.parametrize("masks", ["none", "padding", "causal", "both"])
@pytest.mark.parametrize("bias", [True, False])
def test_multi_head_attention_equals_nn_multiheadattention(masks, bias):
    torch.manual_seed(0)
    reference = torch.nn.MultiheadAttention(8, 2, bias=bias, batch_first=True, dtype=torch.float64)
    ours = MultiHeadAttention.from_torch(reference)
    T = 5
    query, key, value = _mha_inputs(T_q=T, T_k=T)
    padding = torch.tensor([[0, 0, 0, 0, 0], [0, 0, 0, 1, 1], [0, 0, 0, 0, 1]], dtype=torch.bool)
    causal = torch.ones(T, T, dtype=torch.bool).triu(1)
    kw = {"key_padding_mask": padding if masks in ("padding", "both") else None,
          "attn_mask": causal if masks in ("causal", "both") else None}
    out, weights = ours(query, key, value, **kw)
    ref_out, ref_weights = reference(query, key, value, need_weights=True, average_attn_weights=False, **kw)
    assert weights.shape == (3, 2, T, T)
    assert (out - ref_out).abs().max() <= TOL and (weights - ref_weights).abs().max() <= TOL
    seed = torch.randn(out.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    ours_grads = torch.autograd.grad((out * seed).sum(), [query, key, value, *ours.parameters()])
    ref_grads = torch.autograd.grad((ref_out * seed).sum(), [query, key, value, *reference.parameters()])
    # our parameters: W_q, W_k, W_v, W_o (weight, bias each); PyTorch's: the stacked in_proj, then out_proj
    ours_flat = {"inputs": torch.cat([g.flatten() for g in ours_grads[:3]])}
    ref_flat = {"inputs": torch.cat([g.flatten() for g in ref_grads[:3]])}
    named_ours = dict(zip([n for n, _ in ours.named_parameters()], ours_grads[3:]))
    named_ref = dict(zip([n for n, _ in reference.named_parameters()], ref_grads[3:]))
    ours_flat["in_proj_weight"] = torch.cat([named_ours[f"W_{x}.weight"] for x in "qkv"]).flatten()
    ref_flat["in_proj_weight"] = named_ref["in_proj_weight"].flatten()
    ours_flat["out_proj.weight"], ref_flat["out_proj.weight"] = named_ours["W_o.weight"], named_ref["out_proj.weight"]
    if bias:
        ours_flat["in_proj_bias"] = torch.cat([named_ours[f"W_{x}.bias"] for x in "qkv"])
        ref_flat["in_proj_bias"] = named_ref["in_proj_bias"]
        ours_flat["out_proj.bias"], ref_flat["out_proj.bias"] = named_ours["W_o.bias"], named_ref["out_proj.bias"]
    for name in ref_flat:
        assert (ours_flat[name] - ref_flat[name]).abs().max() <= TOL, name


@pytest.mark.parametrize("masks", ["none", "padding", "causal", "both"])
def test_the_fused_kernel_gives_the_same_outputs_and_gradients(masks):
    """need_weights=False runs F.scaled_dot_product_attention (training's fast path): the same numbers, no weights."""
    torch.manual_seed(0)
    ours = MultiHeadAttention(8, 2).double()
    T = 5
    query, key, value = _mha_inputs(T_q=T, T_k=T)
    padding = torch.tensor([[0, 0, 0, 0, 0], [0, 0, 0, 1, 1], [0, 0, 0, 0, 1]], dtype=torch.bool)
    kw = {"key_padding_mask": padding if masks in ("padding", "both") else None,
          "attn_mask": torch.ones(T, T, dtype=torch.bool).triu(1) if masks in ("causal", "both") else None}
    out, weights = ours(query, key, value, **kw)
    fused, no_weights = ours(query, key, value, need_weights=False, **kw)
    assert no_weights is None and (out - fused).abs().max() <= TOL
    grads = torch.autograd.grad(out.sum(), [query, key, value, *ours.parameters()])
    fused_grads = torch.autograd.grad(fused.sum(), [query, key, value, *ours.parameters()])
    assert max((a - b).abs().max() for a, b in zip(grads, fused_grads)) <= TOL


def test_multi_head_attention_round_trip_and_parameter_count():
    ours = MultiHeadAttention(12, 3).double()
    assert sum(p.numel() for p in ours.parameters()) == 4 * 12 * 12 + 4 * 12  # the same as one full-width attention
    back = MultiHeadAttention.from_torch(ours.to_torch())
    query, key, value = _mha_inputs(d_model=12)
    assert (ours(query, key, value)[0] - back(query, key, value)[0]).abs().max() == 0
    torch_out, _ = ours.to_torch()(query, key, value)
    assert (ours(query, key, value)[0] - torch_out).abs().max() <= TOL


def test_multi_head_attention_cross_attention_and_gradcheck():
    ours = MultiHeadAttention(4, 2).double()
    query, key, value = _mha_inputs(B=2, T_q=2, T_k=3, d_model=4)
    out, weights = ours(query, key, value)
    assert out.shape == (2, 2, 4) and weights.shape == (2, 2, 2, 3)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 2, 2, dtype=torch.float64))
    assert torch.autograd.gradcheck(lambda a, b, c: ours(a, b, c)[0], (query, key, value))


def test_kv_cache_gives_the_same_outputs_one_token_at_a_time():
    torch.manual_seed(0)
    ours = MultiHeadAttention(8, 2).double()
    (x,) = _mha_inputs(B=2, T_q=6, d_model=8)[:1]
    causal = torch.ones(6, 6, dtype=torch.bool).triu(1)
    full, _ = ours(x, x, x, attn_mask=causal)
    cache = KVCache()
    steps = [ours(x[:, t : t + 1], x[:, t : t + 1], x[:, t : t + 1], cache=cache)[0] for t in range(6)]
    assert len(cache) == 6
    assert (torch.cat(steps, 1) - full).abs().max() <= TOL  # token t sees keys 0..t: the causal mask, for free
    with pytest.raises(ValueError, match="one cache per layer"):
        cache.extend(torch.zeros(3, 2, 1, 4, dtype=torch.float64), torch.zeros(3, 2, 1, 4, dtype=torch.float64))
