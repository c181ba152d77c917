"""Bad and edge-case inputs to notebook 05's library: attention functions, the encoder–decoder, dates, the widget.

Each row is one call a learner might make and its exact outcome (see tests/badinput.py).
"""
import numpy as np
import pytest
import torch

from badinput import Case, ids, model_state, run_case
from course_lib import data
from course_lib import seq2seq as s2s
from course_lib.attention import (AdditiveAttention, KVCache, MultiHeadAttention, dot_product_attention,
                                  scaled_dot_product_attention)
from course_lib.widgets.attention import AttentionMap, attention_explorer, check_weights, head_summary

g = torch.Generator().manual_seed(0)
Q, K, V = torch.randn(2, 3, 4, generator=g), torch.randn(2, 5, 4, generator=g), torch.randn(2, 5, 6, generator=g)
ATT = AdditiveAttention(4, 4, 8)
NO_MASK = torch.zeros(2, 1, 5, dtype=torch.bool)
SRC_VOCAB, TGT_VOCAB = s2s.date_vocabs()
torch.manual_seed(0)
MODEL = s2s.Seq2Seq(s2s.Seq2SeqConfig(len(SRC_VOCAB), len(TGT_VOCAB), emb=8, hidden=16))
SRC, TGT = s2s.encode_pairs(data.date_task(6, seed=1), SRC_VOCAB, TGT_VOCAB)
W = torch.softmax(torch.randn(4, 6, generator=g), -1)
LABELS_Q, LABELS_K = list("abcd"), list("uvwxyz")
Q4, K4 = torch.randn(2, 3, 5, 4, generator=g), torch.randn(2, 3, 6, 4, generator=g)  # (B, heads, T, d)
MHA = MultiHeadAttention(8, 2)
X = torch.randn(2, 5, 8, generator=g)
PAD_MASK = torch.tensor([[False] * 5, [False, False, False, True, True]])


def _fresh_model():
    torch.manual_seed(0)
    return s2s.Seq2Seq(s2s.Seq2SeqConfig(len(SRC_VOCAB), len(TGT_VOCAB), emb=8, hidden=16))


def _filled_cache():
    cache = KVCache()
    MHA(X, X, X, cache=cache)  # batch of 2
    return cache


def _map(**kwargs):
    return AttentionMap(LABELS_Q, LABELS_K, W, **kwargs)


def _date_compute(text):
    """As notebook 05's: refuse what parse_date refuses; weights of the right shape (an untrained model would stop at
    once, so they are made up here: the widget is under test, not the model)."""
    iso = data.parse_date(text)
    labels = [*iso, "</s>"]
    return labels, list(text), torch.softmax(torch.randn(len(labels), len(text), generator=g), -1)


EXPLORER = attention_explorer(*_date_compute("7 March 1994"), reveal=True, compute=_date_compute, text="7 March 1994")
MAP = EXPLORER.controller


def _map_state():
    return {"state": dict(MAP.state), "png": MAP.png()}


def _set_then_valid(**bad):
    """A refused value, then a valid one: the valid one must be drawn."""
    try:
        MAP.set(**bad)
    except (ValueError, TypeError):
        pass
    MAP.set(step=1)
    shown = MAP.state["step"] == 1 and MAP.frame.get_y() == 0.5
    MAP.set(step=0)
    return shown


CASES = [
    # -- scaled_dot_product_attention and MultiHeadAttention (notebook 06) --------------------------------------------
    Case("scaled: 2-D q", lambda: scaled_dot_product_attention(Q[0], K, V), raises=ValueError,
         match=r"\(B, T, d\) or \(B, heads, T, d\)"),
    Case("scaled: 3-D and 4-D mixed", lambda: scaled_dot_product_attention(Q4, K, V), raises=ValueError,
         match="same number of dimensions"),
    Case("scaled: int q", lambda: scaled_dot_product_attention(Q.long(), K.long(), V.long()), raises=TypeError,
         match="floating-point"),
    Case("scaled: d_k differ", lambda: scaled_dot_product_attention(Q, K[..., :3], V), raises=ValueError,
         match="same size d_k"),
    Case("scaled: heads differ", lambda: scaled_dot_product_attention(Q4, K4[:, :2], K4[:, :2]), raises=ValueError,
         match=r"agree on \(B, \[heads\]\)"),
    Case("scaled: no keys", lambda: scaled_dot_product_attention(Q, K[:, :0], V[:, :0]), raises=ValueError,
         match="no keys"),
    Case("scaled: mask as float", lambda: scaled_dot_product_attention(Q, K, V, NO_MASK.float()), raises=TypeError,
         match="torch.bool"),
    Case("scaled: fully masked row", lambda: scaled_dot_product_attention(Q, K, V, ~NO_MASK), raises=ValueError,
         match="hides every key"),
    Case("scaled: 4-D mask of wrong heads", lambda: scaled_dot_product_attention(
        Q4, K4, K4, torch.zeros(2, 2, 5, 6, dtype=torch.bool)), raises=ValueError,
         match=r"does not broadcast to \(B, heads, T_q, T_k\)"),
    Case("scaled: heads axis result", lambda: scaled_dot_product_attention(Q4, K4, K4)[1].sum(-1),
         returns=lambda w: w.shape == (2, 3, 5) and torch.allclose(w, torch.ones(2, 3, 5))),
    Case("mha: d_model not divisible", lambda: MultiHeadAttention(10, 3), raises=ValueError,
         match=r"d_model \(10\) must be divisible by num_heads \(3\)"),
    Case("mha: zero heads", lambda: MultiHeadAttention(8, 0), raises=ValueError, match="num_heads must be a positive"),
    Case("mha: float d_model", lambda: MultiHeadAttention(8.0, 2), raises=ValueError, match="d_model must be"),
    Case("mha: wrong width", lambda: MHA(X[..., :6], X, X), raises=ValueError, match=r"d_model=8"),
    Case("mha: batch not first", lambda: MHA(X[0], X[0], X[0]), raises=ValueError, match="batch first"),
    Case("mha: float64 input", lambda: MHA(X.double(), X.double(), X.double()), raises=TypeError,
         match=r"attention.to\(torch.float64\)"),
    Case("mha: key/value lengths", lambda: MHA(X, X, X[:, :4]), raises=ValueError, match="same length T_k"),
    Case("mha: padding mask (B, 1, T_k)", lambda: MHA(X, X, X, key_padding_mask=PAD_MASK[:, None]),
         raises=ValueError, match=r"key_padding_mask must be \(B, T_k\)"),
    Case("mha: padding mask as 0/1", lambda: MHA(X, X, X, key_padding_mask=PAD_MASK.long()), raises=TypeError,
         match="torch.bool"),
    Case("mha: causal mask wrong size", lambda: MHA(X, X, X, attn_mask=torch.ones(4, 4, dtype=torch.bool).triu(1)),
         raises=ValueError, match="does not broadcast"),
    Case("mha: every key padded", lambda: MHA(X, X, X, key_padding_mask=torch.ones(2, 5, dtype=torch.bool)),
         raises=ValueError, match="hides every key"),
    Case("mha: padding and causal together", lambda: MHA(X, X, X, key_padding_mask=PAD_MASK,
                                                        attn_mask=torch.ones(5, 5, dtype=torch.bool).triu(1))[1],
         returns=lambda w: w.shape == (2, 2, 5, 5) and bool((w[1, :, :, 3:] == 0).all())
         and bool((w.triu(1) == 0).all())),
    Case("mha: fused kernel, every key padded", lambda: MHA(X, X, X, key_padding_mask=torch.ones(2, 5, dtype=torch.bool),
                                                            need_weights=False), raises=ValueError, match="fully masked"),
    Case("mha: need_weights as a string", lambda: MHA(X, X, X, need_weights="no"), raises=TypeError,
         match="need_weights must be True or False"),
    Case("mha: from_torch of a Linear", lambda: MultiHeadAttention.from_torch(torch.nn.Linear(8, 8)),
         raises=TypeError, match="nn.MultiheadAttention"),
    Case("mha: from_torch with kdim", lambda: MultiHeadAttention.from_torch(torch.nn.MultiheadAttention(8, 2, kdim=4)),
         raises=ValueError, match="kdim = vdim = d_model"),
    Case("mha: cache of another batch", lambda: MHA(X[:1, :1], X[:1, :1], X[:1, :1], cache=_filled_cache()),
         raises=ValueError, match="one cache per layer and per batch"),
    # -- dot_product_attention ---------------------------------------------------------------------------------------
    Case("dot: 2-D query", lambda: dot_product_attention(Q[:, 0], K, V), raises=ValueError, match=r"query\[:, None, :\]"),
    Case("dot: numpy input", lambda: dot_product_attention(Q.numpy(), K, V), raises=TypeError, match="query must be"),
    Case("dot: integer keys", lambda: dot_product_attention(Q, K.long(), V), raises=TypeError, match="keys must be a floating"),
    Case("dot: mixed dtypes", lambda: dot_product_attention(Q.double(), K, V), raises=TypeError, match="share a dtype"),
    Case("dot: batch mismatch", lambda: dot_product_attention(Q[:1], K, V), raises=ValueError, match="batch sizes"),
    Case("dot: values of another length", lambda: dot_product_attention(Q, K, V[:, :4]), raises=ValueError,
         match="same length T_k"),
    Case("dot: no keys", lambda: dot_product_attention(Q, K[:, :0], V[:, :0]), raises=ValueError, match="T_k = 0"),
    Case("dot: d mismatch", lambda: dot_product_attention(Q, K[..., :3], V), raises=ValueError, match="same size d"),
    Case("dot: float mask", lambda: dot_product_attention(Q, K, V, NO_MASK.float()), raises=TypeError, match="torch.bool"),
    Case("dot: list mask", lambda: dot_product_attention(Q, K, V, [[True]]), raises=TypeError, match="mask must be"),
    Case("dot: padding mask without query axis", lambda: dot_product_attention(Q, K, V, NO_MASK[:, 0]),
         raises=ValueError, match=r"mask\[:, None, :\]"),
    Case("dot: 4-D mask", lambda: dot_product_attention(Q, K, V, NO_MASK[None]), raises=ValueError,
         match="does not broadcast"),
    Case("dot: fully masked row", lambda: dot_product_attention(Q, K, V, torch.ones(5, dtype=torch.bool)),
         raises=ValueError, match="hides every key"),
    Case("dot: all-False mask = no mask", lambda: torch.equal(dot_product_attention(Q, K, V, NO_MASK)[0],
                                                              dot_product_attention(Q, K, V)[0]), returns=bool),
    Case("dot: one key gets weight 1", lambda: dot_product_attention(Q, K[:, :1], V[:, :1])[1],
         returns=lambda w: torch.equal(w, torch.ones(2, 3, 1))),
    Case("dot: huge scores stay finite", lambda: dot_product_attention(Q * 1e4, K * 1e4, V)[0],
         returns=lambda c: bool(torch.isfinite(c).all())),
    Case("dot: causal (T_q, T_k) mask broadcasts",
         lambda: dot_product_attention(Q, K[:, :3], V[:, :3], torch.ones(3, 3, dtype=torch.bool).triu(1))[1],
         returns=lambda w: bool((w[:, 0, 1:] == 0).all()) and torch.allclose(w.sum(-1), torch.ones(2, 3))),
    # -- AdditiveAttention -------------------------------------------------------------------------------------------
    Case("additive: hidden 0", lambda: AdditiveAttention(4, 4, 0), raises=ValueError, match="hidden_size"),
    Case("additive: float size", lambda: AdditiveAttention(4.0, 4, 8), raises=ValueError, match="query_size"),
    Case("additive: bool size", lambda: AdditiveAttention(True, 4, 8), raises=ValueError, match="query_size"),
    Case("additive: wrong query size", lambda: ATT(torch.randn(2, 3, 5), K, V), raises=ValueError,
         match="queries of size 4"),
    Case("additive: float64 input, float32 weights", lambda: ATT(Q.double(), K.double(), V.double()), raises=TypeError,
         match=r"attention.to\(torch.float64\)"),
    Case("additive: fully masked row", lambda: ATT(Q, K, V, torch.ones(2, 3, 5, dtype=torch.bool)), raises=ValueError,
         match="hides every key"),
    Case("additive: leaves parameters unchanged", lambda: ATT(Q, K, V)[1].shape, returns=lambda s: s == (2, 3, 5),
         state=lambda: model_state(ATT)),
    # -- seq2seq -----------------------------------------------------------------------------------------------------
    Case("seq2seq: attention name typo", lambda: s2s.Seq2Seq(s2s.Seq2SeqConfig(5, 5, attention="Additive")),
         raises=ValueError, match="attention must be"),
    Case("seq2seq: zero hidden", lambda: s2s.Seq2Seq(s2s.Seq2SeqConfig(5, 5, hidden=0)), raises=ValueError,
         match="config.hidden"),
    Case("seq2seq: float src", lambda: MODEL(SRC.float(), TGT), raises=TypeError, match="src must be an int64"),
    Case("seq2seq: 1-D src", lambda: MODEL(SRC[0], TGT), raises=TypeError, match=r"shape \(B, length\)"),
    Case("seq2seq: ids out of range", lambda: MODEL(SRC, TGT + 50), raises=ValueError, match="tgt has ids outside"),
    Case("seq2seq: left padding", lambda: MODEL(torch.cat([SRC[:, -1:] * 0, SRC], 1), TGT), raises=ValueError,
         match="right only"),
    Case("seq2seq: empty src", lambda: MODEL(SRC[:, :0], TGT), raises=ValueError, match="src is empty"),
    Case("seq2seq: too long", lambda: MODEL(SRC.repeat(1, 20), TGT), raises=ValueError, match="at most 200"),
    Case("seq2seq: max_len huge", lambda: MODEL.greedy_decode(SRC, max_len=10**9), raises=ValueError, match="max_len"),
    Case("seq2seq: max_len float", lambda: MODEL.greedy_decode(SRC, max_len=12.0), raises=ValueError, match="max_len"),
    Case("seq2seq: decode keeps train mode", lambda: MODEL.greedy_decode(SRC, max_len=3)[0].shape[0],
         returns=lambda n: n == 6, state=lambda: model_state(MODEL)),
    Case("seq2seq: decode error keeps mode", lambda: MODEL.greedy_decode(SRC + 100, max_len=3), raises=ValueError,
         match="outside", state=lambda: model_state(MODEL)),
    Case("seq2seq: loss shapes", lambda: s2s.sequence_loss(torch.zeros(6, 3, 14), TGT), raises=ValueError,
         match=r"logits must be \(B, T, V\)"),
    Case("seq2seq: translate unseen", lambda: s2s.translate(MODEL, "7 März 1994", SRC_VOCAB, TGT_VOCAB),
         raises=ValueError, match="never saw"),
    Case("seq2seq: translate empty", lambda: s2s.translate(MODEL, "", SRC_VOCAB, TGT_VOCAB), raises=ValueError,
         match="empty"),
    Case("seq2seq: vocab clash", lambda: s2s.Vocab(["a", "</s>"]), raises=ValueError, match="reserved"),
    Case("seq2seq: vocab repeat", lambda: s2s.Vocab(["a", "a"]), raises=ValueError, match="repeat"),
    Case("seq2seq: decode stops at </s>", lambda: TGT_VOCAB.decode([5, 6, s2s.EOS, 7]), returns=lambda t: t == "23"),
    Case("seq2seq: pad nothing", lambda: s2s.pad_batch([]), raises=ValueError, match="no sequences"),
    Case("seq2seq: reversal lengths reversed", lambda: s2s.reversal_data(5, 9, 3), raises=ValueError,
         match="min_len <= max_len"),
    Case("seq2seq: batch larger than data", lambda: s2s.random_batches(SRC, TGT, 100), raises=ValueError,
         match="batch_size"),
    Case("seq2seq: rows differ", lambda: s2s.random_batches(SRC, TGT[:3], 2), raises=ValueError, match="rows"),
    Case("fit_model: a class, not a model", lambda: s2s.fit_model(s2s.Seq2Seq, SRC, TGT, SRC, TGT, 2, lr=1e-3,
                                                                   live=False),
         raises=TypeError, match="model must be an nn.Module"),
    Case("fit_model: zero steps", lambda: s2s.fit_model(MODEL, SRC, TGT, SRC, TGT, 0, lr=1e-3, live=False),
         raises=ValueError, match="steps must be a positive integer", state=lambda: model_state(MODEL)),
    Case("fit_model: steps as float", lambda: s2s.fit_model(MODEL, SRC, TGT, SRC, TGT, 2.0, lr=1e-3, live=False),
         raises=ValueError, match="steps must be a positive integer", state=lambda: model_state(MODEL)),
    Case("fit_model: negative lr", lambda: s2s.fit_model(MODEL, SRC, TGT, SRC, TGT, 2, lr=-1e-3, live=False),
         raises=ValueError, match="lr must be a number > 0", state=lambda: model_state(MODEL)),
    Case("fit_model: lr as string", lambda: s2s.fit_model(MODEL, SRC, TGT, SRC, TGT, 2, lr="3e-3", live=False),
         raises=ValueError, match="lr must be a number > 0", state=lambda: model_state(MODEL)),
    Case("fit_model: batch larger than data", lambda: s2s.fit_model(MODEL, SRC, TGT, SRC, TGT, 2, lr=1e-3,
                                                                     batch_size=100, live=False),
         raises=ValueError, match="batch_size must be an integer in", state=lambda: model_state(MODEL)),
    Case("fit_model: two steps train", lambda: s2s.fit_model(_fresh_model(), SRC, TGT, SRC, TGT, 2, lr=1e-3,
                                                              batch_size=3, live=False).steps,
         returns=lambda steps: list(steps) == [1, 2]),
    # -- dates -------------------------------------------------------------------------------------------------------
    Case("dates: bytes", lambda: data.parse_date(b"7 March 1994"), raises=TypeError, match="string"),
    Case("dates: None", lambda: data.parse_date(None), raises=TypeError, match="string"),
    Case("dates: surrounding spaces", lambda: data.parse_date("  7 March 1994 "), returns=lambda d: d == "1994-03-07"),
    Case("dates: lower case", lambda: data.parse_date("monday, 7 march 1994"), returns=lambda d: d == "1994-03-07"),
    Case("dates: month 13", lambda: data.parse_date("7.13.94"), raises=ValueError, match="not a real date"),
    Case("dates: unknown split", lambda: data.date_task(5, split="valid"), raises=ValueError, match="split"),
    # -- the widget --------------------------------------------------------------------------------------------------
    Case("widget: weights not summing to 1", lambda: AttentionMap(LABELS_Q, LABELS_K, W * 2),
         raises=ValueError, match="sum to 1"),
    Case("widget: scores instead of weights", lambda: AttentionMap(LABELS_Q, LABELS_K, torch.randn(4, 6)),
         raises=ValueError, match="non-negative|sum to 1"),
    Case("widget: NaN weights", lambda: AttentionMap(LABELS_Q, LABELS_K, W * float("nan")), raises=ValueError,
         match="finite"),
    Case("widget: labels do not match", lambda: AttentionMap(LABELS_Q[:3], LABELS_K, W), raises=ValueError,
         match="3 query and 6 key labels"),
    Case("widget: 3-D weights", lambda: AttentionMap(LABELS_Q, LABELS_K, W[None]), raises=ValueError,
         match=r"\(layers, heads, T_q, T_k\)"),
    Case("widget: empty weights", lambda: check_weights([], [], np.zeros((0, 0))), raises=ValueError, match="empty"),
    Case("widget: strings as weights", lambda: check_weights(["a"], ["b"], "x"), raises=TypeError, match="numeric"),
    Case("widget: too many tokens", lambda: check_weights(list(range(70)), ["k"], np.ones((70, 1))), raises=ValueError,
         match="at most 64"),
    Case("widget: numpy weights accepted", lambda: check_weights(LABELS_Q, LABELS_K, W.numpy()).shape,
         returns=lambda s: s == (1, 1, 4, 6)),
    Case("widget: step too large", lambda: MAP.set(step=99), raises=ValueError, match=r"step must be in \[0, ",
         state=_map_state),
    Case("widget: step negative", lambda: MAP.set(step=-1), raises=ValueError, match="step must be", state=_map_state),
    Case("widget: step float", lambda: MAP.set(step=1.0), raises=TypeError, match="step must be an integer",
         state=_map_state),
    Case("widget: step tensor", lambda: MAP.set(step=torch.tensor(1)), raises=TypeError, match="step must be an integer",
         state=_map_state),
    Case("widget: layer 1 of 1", lambda: MAP.set(layer=1), raises=ValueError, match=r"layer must be in \[0, 0\]",
         state=_map_state),
    Case("widget: unknown setting", lambda: MAP.set(query=1), raises=TypeError, match="unknown setting",
         state=_map_state),
    Case("widget: empty date", lambda: MAP.set(text=""), raises=ValueError, match="the date is empty",
         state=_map_state),
    Case("widget: unparseable date", lambda: MAP.set(text="11/23/26"), raises=ValueError,
         match="not in a supported format", state=_map_state),
    Case("widget: date that does not exist", lambda: MAP.set(text="31 April 2001"), raises=ValueError,
         match="not a real date", state=_map_state),
    Case("widget: wrong weekday", lambda: MAP.set(text="Tue 23 Nov 2026"), raises=ValueError, match="is a Monday",
         state=_map_state),
    Case("widget: text as number", lambda: MAP.set(text=5), raises=TypeError, match="text must be a string",
         state=_map_state),
    Case("widget: valid after refused step", lambda: _set_then_valid(step=99), returns=bool),
    Case("widget: valid after refused date", lambda: _set_then_valid(text="hello"), returns=bool),
    Case("widget: fixed input has no text box", lambda: _map().set(text="x"), raises=ValueError,
         match="no model to run"),
    Case("widget: view shows a refused date as a message",
         lambda: (EXPLORER.update(text="31 April 2001"), EXPLORER.message.value),
         returns=lambda r: r[0] is False and "not a real date" in r[1]),
    Case("widget: a new date resets the step", lambda: (MAP.set(step=3), MAP.set(text="Mar 7 1994"),
                                                        MAP.state["step"], MAP.set(text="7 March 1994"))[2],
         returns=lambda step: step == 0),
]

# -- the explorer over layers and heads, and head_summary (notebooks 06–08) -------------------------------------------
W_GRID = torch.softmax(torch.randn(2, 3, 5, 5, generator=g), -1)  # 2 layers, 3 heads, self-attention over 5 positions
GRID_VIEW = attention_explorer(list("abcde"), list("abcde"), W_GRID)
GRID_MAP = GRID_VIEW.controller


def _grid_state():
    return {"state": dict(GRID_MAP.state), "frame": GRID_MAP.grid_frame.get_bbox().bounds,
            "image": np.array(GRID_MAP.image.get_array()), "png": GRID_MAP.png()}


def _grid_then_valid(**bad):
    """A refused selection, then a valid one: the valid one must be drawn (big map and frame)."""
    try:
        GRID_MAP.set(**bad)
    except (ValueError, TypeError):
        pass
    GRID_MAP.set(layer=1, head=2)
    box = GRID_MAP.grid_axes[1][2].get_position()
    frame = GRID_MAP.grid_frame.get_bbox()
    shown = (np.array_equal(GRID_MAP.image.get_array(), W_GRID[1, 2].numpy())
             and frame.x0 < box.x0 and box.x1 < frame.x1 and frame.y0 < box.y0 and box.y1 < frame.y1)
    GRID_MAP.set(layer=0, head=0)
    return shown


def _compute_other_heads(text):
    return list(text), list(text), torch.softmax(torch.randn(1, 2, len(text), len(text), generator=g), -1)


SELF_W = np.stack([np.eye(4), np.full((4, 4), 0.25)])[None]  # (1 layer, 2 heads, 4, 4)

CASES += [
    Case("grid: layer out of range", lambda: GRID_MAP.set(layer=2), raises=ValueError,
         match=r"layer must be in \[0, 1\], got 2", state=_grid_state),
    Case("grid: head out of range", lambda: GRID_MAP.set(head=3), raises=ValueError,
         match=r"head must be in \[0, 2\], got 3", state=_grid_state),
    Case("grid: head negative", lambda: GRID_MAP.set(head=-1), raises=ValueError, match=r"head must be in \[0, 2\]",
         state=_grid_state),
    Case("grid: layer float", lambda: GRID_MAP.set(layer=1.0), raises=TypeError, match="layer must be an integer",
         state=_grid_state),
    Case("grid: head as string", lambda: GRID_MAP.set(head="1"), raises=TypeError, match="head must be an integer",
         state=_grid_state),
    Case("grid: layer as bool", lambda: GRID_MAP.set(layer=True), raises=TypeError, match="layer must be an integer",
         state=_grid_state),
    Case("grid: numpy integer head accepted", lambda: (GRID_MAP.set(head=np.int64(2)), GRID_MAP.state["head"],
                                                      GRID_MAP.set(head=0))[1], returns=lambda head: head == 2),
    Case("grid: valid after refused layer", lambda: _grid_then_valid(layer=7), returns=bool),
    Case("grid: valid after refused head type", lambda: _grid_then_valid(head=1.5), returns=bool),
    Case("grid: view shows a refused head as a message", lambda: (GRID_VIEW.update(head=9), GRID_VIEW.message.value),
         returns=lambda r: r[0] is False and "head must be in [0, 2]" in r[1], state=_grid_state),
    Case("grid: too many maps", lambda: check_weights(["a"], ["b"], np.ones((10, 8, 1, 1))), raises=ValueError,
         match="80 maps.*at most 72 maps"),
    Case("grid: too many heads in a row", lambda: check_weights(["a"], ["b"], np.ones((1, 17, 1, 1))),
         raises=ValueError, match=r"at most 16 layers or heads.*weights\[:, :8\]"),
    Case("grid: 8 x 8 maps accepted", lambda: check_weights(["a"], ["b"], np.ones((8, 8, 1, 1))).shape,
         returns=lambda s: s == (8, 8, 1, 1)),
    Case("grid: a batch of maps", lambda: check_weights(LABELS_Q, LABELS_K, W[None, None, None]), raises=ValueError,
         match=r"one example: weights\[0\]"),
    Case("grid: compute changes the number of heads",
         lambda: AttentionMap(list("ab"), list("ab"), W_GRID[:, :, :2, :2] / W_GRID[:, :, :2, :2].sum(-1, keepdim=True),
                              compute=_compute_other_heads, text="ab").set(text="abc"),
         raises=ValueError, match=r"compute returned weights for 1 layers × 2 heads; this explorer shows 2 × 3"),
    Case("summary: cross-attention", lambda: head_summary(W), raises=ValueError, match=r"T_q == T_k.*T_q = 4, T_k = 6"),
    Case("summary: one position", lambda: head_summary(np.ones((1, 1))), raises=ValueError,
         match="at least 2 positions"),
    Case("summary: a batch", lambda: head_summary(W_GRID[None]), raises=ValueError, match=r"weights\[0\]"),
    Case("summary: (heads, T, T) without the layer axis", lambda: head_summary(W_GRID[0]), raises=ValueError,
         match=r"\(layers, heads, T_q, T_k\) or \(T_q, T_k\)"),
    Case("summary: scores instead of weights", lambda: head_summary(torch.randn(4, 4, generator=g)),
         raises=ValueError, match="non-negative|sum to 1"),
    Case("summary: strings", lambda: head_summary([["a", "b"], ["c", "d"]]), raises=TypeError, match="numeric"),
    Case("summary: NaN", lambda: head_summary(np.full((3, 3), np.nan)), raises=ValueError, match="finite"),
    Case("summary: known heads", lambda: head_summary(SELF_W),
         returns=lambda s: np.allclose(s["same"], [[1, 0.25]]) and np.allclose(s["previous"], [[0, 0.25]])
         and np.allclose(s["entropy"], [[0, np.log(4)]])),
    Case("summary: leaves the weights unchanged", lambda: head_summary(SELF_W)["entropy"].shape,
         returns=lambda shape: shape == (1, 2), state=lambda: SELF_W.copy()),
]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_bad_input(case):
    run_case(case)
