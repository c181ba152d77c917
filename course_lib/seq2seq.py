"""A GRU encoder–decoder, with and without attention (notebook 05).

The **encoder** reads the source ``x_1..x_S`` with a GRU and keeps every output ``h_1..h_S`` (the keys and values).
The **decoder** writes the target one token at a time. At step ``t``, with previous state ``s_{t-1}`` and previous
token ``y_{t-1}``:

    c_t = attention(query=s_{t-1}, keys=h_1..h_S, values=h_1..h_S)    with attention (Bahdanau et al., 2015)
    c_t = h_S                                                          without: one fixed vector (Cho et al., 2014)
    s_t = GRUCell([embed(y_{t-1}); c_t], s_{t-1})
    p(y_t | y_<t, x) = softmax(W_out [s_t; c_t] + b_out)

Both models start the decoder from the encoder's final state ``s_0 = h_S`` and see a context at every step; the only
difference is whether that context is re-computed from all of ``h_1..h_S`` per step or is the same ``h_S`` throughout
(the "bottleneck": a whole sequence squeezed into one vector of size H).

**Training** uses teacher forcing: the decoder's input at step t is the *true* previous token (``forward``), so one
pass gives every step's logits. **Decoding** feeds back the model's own greedy choice (``greedy_decode``) and can
return every step's attention row.

Tokens: id 0 is padding ``<pad>``, 1 the start ``<s>`` (the decoder's first input), 2 the end ``</s>``.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass

import torch
from torch import nn

from . import train
from .attention import AdditiveAttention, dot_product_attention

PAD, BOS, EOS = 0, 1, 2
SPECIALS = ("<pad>", "<s>", "</s>")
MAX_LEN = 200  # longest source or target a course model reads or writes


class Vocab:
    """Symbols (usually characters) plus the three special tokens. ``encode`` gives ids, ``decode`` text."""

    def __init__(self, symbols):
        symbols = list(symbols)
        if not symbols:
            raise ValueError("a vocabulary needs at least one symbol")
        if len(set(symbols)) != len(symbols):
            raise ValueError("symbols must not repeat")
        clash = [s for s in symbols if s in SPECIALS]
        if clash:
            raise ValueError(f"{clash} are reserved for the special tokens")
        self.symbols = list(SPECIALS) + symbols
        self.stoi = {s: i for i, s in enumerate(self.symbols)}

    @classmethod
    def from_texts(cls, texts) -> "Vocab":
        """Every character that occurs in ``texts``, sorted."""
        return cls(sorted(set("".join(texts))))

    def __len__(self) -> int:
        return len(self.symbols)

    def unseen(self, text: str) -> list[str]:
        """Characters of ``text`` the vocabulary does not have, each once."""
        return list(dict.fromkeys(c for c in text if c not in self.stoi or c in SPECIALS))

    def encode(self, text, eos: bool = False) -> list[int]:
        """A string (or a list of symbols) -> ids, optionally followed by ``</s>``."""
        missing = self.unseen(text) if isinstance(text, str) else [s for s in text if s not in self.stoi]
        if missing:
            raise ValueError(f"symbols not in the vocabulary: {missing!r}")
        return [self.stoi[s] for s in text] + ([EOS] if eos else [])

    def decode(self, ids) -> str:
        """Ids -> text, stopping at the first ``</s>``; padding and ``<s>`` are skipped."""
        out = []
        for i in torch.as_tensor(ids).tolist():
            if i == EOS:
                break
            if not 0 <= i < len(self.symbols):
                raise ValueError(f"id {i} out of range 0..{len(self.symbols) - 1}")
            if i > EOS:
                out.append(self.symbols[i])
        return "".join(out)


def date_vocabs() -> tuple[Vocab, Vocab]:
    """The vocabularies of the date task: every character any of ``data.DATE_FORMATS`` can write, and ISO's."""
    from .data import _MONTHS, _WEEKDAYS

    return Vocab.from_texts([*_MONTHS, *_WEEKDAYS, "0123456789 ,/."]), Vocab(list("0123456789-"))


def reversal_vocab() -> Vocab:
    """The reversal task's symbols ``"0"``…``"9"`` (ids 3..12), the same on both sides."""
    return Vocab([str(k) for k in range(10)])


def reversal_data(n: int, min_len: int, max_len: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` reversal pairs with lengths drawn uniformly from ``min_len..max_len``, as padded ``src (n, S)`` and
    ``tgt (n, S + 1)`` id tensors of :func:`reversal_vocab` (the target ends in ``</s>``). Built on
    ``data.reversal_task``."""
    from .data import reversal_task

    if not (isinstance(min_len, int) and isinstance(max_len, int) and 1 <= min_len <= max_len <= MAX_LEN - 1):
        raise ValueError(f"need 1 <= min_len <= max_len <= {MAX_LEN - 1}, got {min_len!r} and {max_len!r}")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(min_len, max_len + 1, (n,), generator=g)
    src = torch.full((n, max_len), PAD, dtype=torch.long)
    tgt = torch.full((n, max_len + 1), PAD, dtype=torch.long)
    for length in lengths.unique().tolist():
        rows = (lengths == length).nonzero()[:, 0]
        x, y = reversal_task(len(rows), length, seed=seed * 1000 + length)  # symbols 0..9
        src[rows, :length] = x + 3  # ids 3..12: the special tokens come first
        tgt[rows, :length] = y + 3
        tgt[rows, length] = EOS
    return src, tgt


def pad_batch(sequences: list[list[int]]) -> torch.Tensor:
    """Lists of ids of different lengths -> one int64 tensor ``(N, longest)``, padded with ``PAD`` (0) on the right."""
    if not sequences:
        raise ValueError("no sequences to pad")
    longest = max(len(s) for s in sequences)
    if longest == 0:
        raise ValueError("every sequence is empty")
    out = torch.full((len(sequences), longest), PAD, dtype=torch.long)
    for row, seq in enumerate(sequences):
        out[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
    return out


def encode_pairs(pairs, src_vocab: Vocab, tgt_vocab: Vocab) -> tuple[torch.Tensor, torch.Tensor]:
    """``[(source, target), ...]`` -> ``src (N, S)`` and ``tgt (N, T)`` padded id tensors; each target ends in ``</s>``."""
    if not pairs:
        raise ValueError("pairs is empty")
    src = pad_batch([src_vocab.encode(s) for s, _ in pairs])
    tgt = pad_batch([tgt_vocab.encode(t, eos=True) for _, t in pairs])
    return src, tgt


@dataclass
class Seq2SeqConfig:
    src_vocab_size: int
    tgt_vocab_size: int
    emb: int = 32  # embedding size of source and target tokens
    hidden: int = 128  # H: encoder and decoder state size
    attention: str | None = "additive"  # "additive" (Bahdanau), "dot" (Luong's score) or None (the bottleneck)


class Seq2Seq(nn.Module):
    """GRU encoder–decoder; ``config.attention`` chooses additive, dot-product or no attention (see the module doc)."""

    def __init__(self, config: Seq2SeqConfig):
        super().__init__()
        if config.attention not in ("additive", "dot", None):
            raise ValueError(f"attention must be 'additive', 'dot' or None, got {config.attention!r}")
        for name in ("src_vocab_size", "tgt_vocab_size", "emb", "hidden"):
            value = getattr(config, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"config.{name} must be a positive integer, got {value!r}")
        self.config = config
        H = config.hidden
        self.src_embed = nn.Embedding(config.src_vocab_size, config.emb, padding_idx=PAD)
        self.encoder = nn.GRU(config.emb, H, batch_first=True)
        self.tgt_embed = nn.Embedding(config.tgt_vocab_size, config.emb, padding_idx=PAD)
        self.attention = AdditiveAttention(H, H, H) if config.attention == "additive" else None
        self.decoder = nn.GRUCell(config.emb + H, H)
        self.out = nn.Linear(2 * H, config.tgt_vocab_size)

    # -- the two halves --------------------------------------------------------------------------------------------
    def encode(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``src (B, S)`` ids -> ``outputs (B, S, H)``, ``final (B, H)`` (the state after each row's last real token),
        and the padding mask ``(B, 1, S)`` (True = padding, may not attend)."""
        self._check_ids(src, "src", self.config.src_vocab_size)
        lengths = (src != PAD).sum(1)  # (B,)
        if bool((lengths == 0).any()):
            raise ValueError("src has a row of padding only: every source needs at least one token")
        if bool((src[:, 0] == PAD).any()) or bool(((src[:, 1:] != PAD) & (src[:, :-1] == PAD)).any()):
            raise ValueError("src must be padded on the right only (use seq2seq.pad_batch)")
        packed = nn.utils.rnn.pack_padded_sequence(self.src_embed(src), lengths.cpu(), batch_first=True,
                                                   enforce_sorted=False)
        out, h_n = self.encoder(packed)  # h_n (1, B, H): the state after each row's own last token
        outputs, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])  # (B, S, H)
        return outputs, h_n[0], (src == PAD)[:, None, :]

    def project_keys(self, outputs: torch.Tensor) -> torch.Tensor | None:
        """``W_k h_j`` for the additive score, computed once per input and read by every decoder step (None
        otherwise). See ``AdditiveAttention.project_keys``."""
        return self.attention.project_keys(outputs) if self.config.attention == "additive" else None

    def context(self, s_prev: torch.Tensor, outputs: torch.Tensor, final: torch.Tensor, pad_mask: torch.Tensor,
                uniform: bool = False, projected: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``c_t (B, H)`` and the weights ``(B, S)`` (None without attention). ``uniform=True`` replaces the learned
        weights by equal weights on every real source token (an experiment: does the model use its weights?).
        ``projected``: :meth:`project_keys` of ``outputs``, to skip recomputing it at every step."""
        if self.config.attention is None:
            return final, None
        if uniform:
            weights = (~pad_mask[:, 0]).to(outputs.dtype)  # (B, S): 1 on real tokens
            weights = weights / weights.sum(1, keepdim=True)
            return (weights[:, None, :] @ outputs)[:, 0], weights
        query = s_prev[:, None, :]  # (B, 1, H): one query per step
        if self.config.attention == "additive":
            ctx, weights = self.attention(query, outputs, outputs, pad_mask, projected_keys=projected)
        else:
            ctx, weights = dot_product_attention(query, outputs, outputs, pad_mask)
        return ctx[:, 0], weights[:, 0]  # (B, H), (B, S)

    def step(self, y_prev: torch.Tensor, s_prev: torch.Tensor, outputs, final, pad_mask, uniform: bool = False,
             projected: torch.Tensor | None = None):
        """One decoder step: ``y_prev (B,)`` ids, ``s_prev (B, H)`` -> ``logits (B, V)``, ``s_t (B, H)``, weights."""
        c_t, weights = self.context(s_prev, outputs, final, pad_mask, uniform, projected)
        s_t = self.decoder(torch.cat([self.tgt_embed(y_prev), c_t], dim=-1), s_prev)  # (B, H)
        logits = self.out(torch.cat([s_t, c_t], dim=-1))  # (B, V)
        return logits, s_t, weights

    # -- training and decoding -------------------------------------------------------------------------------------
    def forward(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: ``src (B, S)``, ``tgt (B, T)`` (ending in ``</s>``, padded) -> ``logits (B, T, V)``.

        The decoder's input at step t is ``<s>`` for t = 0 and the true ``tgt[:, t-1]`` after that.
        """
        self._check_ids(src, "src", self.config.src_vocab_size)
        self._check_ids(tgt, "tgt", self.config.tgt_vocab_size)
        if tgt.shape[0] != src.shape[0]:
            raise ValueError(f"src and tgt batch sizes differ: {src.shape[0]} and {tgt.shape[0]}")
        outputs, s, pad_mask = self.encode(src)
        final = s  # h_S, the context of the model without attention
        projected = self.project_keys(outputs)
        y_prev = torch.full((src.shape[0],), BOS, dtype=torch.long, device=src.device)
        logits = []
        for t in range(tgt.shape[1]):
            step_logits, s, _ = self.step(y_prev, s, outputs, final, pad_mask, projected=projected)
            logits.append(step_logits)
            y_prev = tgt[:, t]
        return torch.stack(logits, dim=1)  # (B, T, V)

    @torch.no_grad()
    def greedy_decode(self, src: torch.Tensor, max_len: int, uniform_attention: bool = False):
        """Decode ``src (B, S)`` feeding back the most likely token, for ``max_len`` steps at most.

        Returns ``tokens (B, T)`` (each row ends at its first ``</s>``, later positions are ``PAD``) and
        ``weights (B, T, S)``: the attention row that produced each output token (each sums to 1 over the source),
        zeros after a row's end; ``weights`` is ``None`` for a model without attention.
        """
        if not isinstance(max_len, int) or isinstance(max_len, bool) or not 1 <= max_len <= MAX_LEN:
            raise ValueError(f"max_len must be an integer in [1, {MAX_LEN}], got {max_len!r}")
        with train.eval_mode(self):
            outputs, s, pad_mask = self.encode(src)
            final, projected = s, self.project_keys(outputs)
            B = src.shape[0]
            y = torch.full((B,), BOS, dtype=torch.long, device=src.device)
            done = torch.zeros(B, dtype=torch.bool, device=src.device)
            tokens, rows = [], []
            for _ in range(max_len):
                logits, s, weights = self.step(y, s, outputs, final, pad_mask, uniform_attention, projected)
                logits[:, :EOS] = float("-inf")  # <pad> and <s> are never outputs
                y = logits.argmax(-1)  # (B,)
                tokens.append(torch.where(done, torch.full_like(y, PAD), y))
                if weights is not None:
                    rows.append(torch.where(done[:, None], torch.zeros_like(weights), weights))
                done = done | (y == EOS)
                if bool(done.all()):
                    break
        return torch.stack(tokens, 1), (torch.stack(rows, 1) if rows else None)

    @staticmethod
    def _check_ids(ids, name: str, vocab_size: int) -> None:
        if not isinstance(ids, torch.Tensor) or ids.dtype != torch.long or ids.dim() != 2:
            got = f"{ids.dtype} of shape {tuple(ids.shape)}" if isinstance(ids, torch.Tensor) else type(ids).__name__
            raise TypeError(f"{name} must be an int64 tensor of ids of shape (B, length), got {got}")
        if ids.shape[0] == 0 or ids.shape[1] == 0:
            raise ValueError(f"{name} is empty: shape {tuple(ids.shape)}")
        if ids.shape[1] > MAX_LEN:
            raise ValueError(f"{name} has length {ids.shape[1]}; the course's models read at most {MAX_LEN} tokens")
        if bool((ids < 0).any()) or bool((ids >= vocab_size).any()):
            raise ValueError(f"{name} has ids outside 0..{vocab_size - 1} (is it encoded with the right vocabulary?)")


# -- loss, metrics and one-sentence translation ----------------------------------------------------------------------

def sequence_loss(logits: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the real target tokens (``</s>`` included, padding excluded).

    ``logits (B, T, V)``, ``tgt (B, T)``.
    """
    if logits.dim() != 3 or logits.shape[:2] != tgt.shape:
        raise ValueError(f"logits must be (B, T, V) and tgt (B, T), got {tuple(logits.shape)} and {tuple(tgt.shape)}")
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1), ignore_index=PAD)


def token_accuracy(logits: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
    """Fraction of real target tokens whose highest logit is right (under teacher forcing: the true prefix is given)."""
    if logits.dim() != 3 or logits.shape[:2] != tgt.shape:
        raise ValueError(f"logits must be (B, T, V) and tgt (B, T), got {tuple(logits.shape)} and {tuple(tgt.shape)}")
    real = tgt != PAD
    return ((logits.argmax(-1) == tgt) & real).sum() / real.sum()


@torch.no_grad()
def decode_accuracy(model: Seq2Seq, src: torch.Tensor, tgt: torch.Tensor, uniform_attention: bool = False,
                    batch_size: int = 500) -> dict[str, float]:
    """Greedy decoding (the model's own outputs fed back) scored against ``tgt``:

    ``exact``: fraction of sequences entirely right (up to and including ``</s>``); ``token``: fraction of real target
    positions whose decoded token is right.
    """
    if src.shape[0] != tgt.shape[0]:
        raise ValueError(f"src and tgt have {src.shape[0]} and {tgt.shape[0]} rows")
    exact = token = 0.0
    for start in range(0, src.shape[0], batch_size):
        s, t = src[start : start + batch_size], tgt[start : start + batch_size]
        tokens, _ = model.greedy_decode(s, max_len=t.shape[1], uniform_attention=uniform_attention)
        out = torch.full_like(t, PAD)
        out[:, : tokens.shape[1]] = tokens
        real = t != PAD
        exact += float(((out == t) | ~real).all(1).sum())
        token += float(((out == t) & real).sum() / real.sum()) * len(t)
    return {"exact": exact / len(src), "token": token / len(src)}


@torch.no_grad()
def translate(model: Seq2Seq, text, src_vocab: Vocab, tgt_vocab: Vocab, max_len: int = 30,
              uniform_attention: bool = False) -> tuple[str, list[str], torch.Tensor | None]:
    """Decode one input: ``(output text, output tokens with "</s>" if produced, weights or None)``.

    ``weights`` are the attention rows of the output tokens: ``(T_out, S)`` for :class:`Seq2Seq`, ``(layers, heads,
    T_out, S)`` for ``transformer.Seq2SeqTransformer`` (the time axis is the second to last for both).
    """
    if isinstance(text, str) and not text:
        raise ValueError("the input is empty")
    missing = src_vocab.unseen(text) if isinstance(text, str) else []
    if missing:
        raise ValueError(f"characters the model never saw in training: {''.join(missing)!r}")
    src = torch.tensor([src_vocab.encode(text)], device=next(model.parameters()).device)
    tokens, weights = model.greedy_decode(src, max_len=max_len, uniform_attention=uniform_attention)
    ids = [i for i in tokens[0].tolist() if i != PAD]
    labels = [tgt_vocab.symbols[i] for i in ids]
    return tgt_vocab.decode(ids), labels, (weights[0][..., : len(ids), :].cpu() if weights is not None else None)


def trim(src: torch.Tensor, tgt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Drop the padding columns that no row of this batch uses (shorter batches train faster)."""
    s = int((src != PAD).sum(1).max())
    t = int((tgt != PAD).sum(1).max())
    return src[:, :s], tgt[:, :t]


def random_batches(src: torch.Tensor, tgt: torch.Tensor, batch_size: int, seed: int = 0):
    """A function for ``train.fit``: each call returns a random batch ``((src, tgt), tgt)`` — the model reads both
    (teacher forcing), the loss compares with ``tgt``. Seeded, so two runs see the same batches."""
    if src.shape[0] != tgt.shape[0]:
        raise ValueError(f"src and tgt have {src.shape[0]} and {tgt.shape[0]} rows")
    if not isinstance(batch_size, int) or not 1 <= batch_size <= src.shape[0]:
        raise ValueError(f"batch_size must be an integer in [1, {src.shape[0]}], got {batch_size!r}")
    g = torch.Generator().manual_seed(seed)

    def next_batch():
        rows = torch.randint(src.shape[0], (batch_size,), generator=g)
        s, t = trim(src[rows], tgt[rows])
        return (s, t), t

    return next_batch


def fit_model(model: nn.Module, src: torch.Tensor, tgt: torch.Tensor, val_src: torch.Tensor, val_tgt: torch.Tensor,
              steps: int, *, lr: float, batch_size: int = 100, seed: int = 0, live: bool = True,
              desc: str = "training"):
    """Notebook 05's one recipe, for any model that reads ``(src, tgt)`` and returns ``logits (B, T, V)`` (a
    :class:`Seq2Seq`, or notebook 06's ``transformer.Seq2SeqTransformer``):

    Adam at ``lr`` with a one-cycle schedule (10% warm-up), gradient clipping at 1, random batches of ``batch_size``
    (seeded by ``seed``), the loss on every real target token, held-out loss and teacher-forced token accuracy on the
    first 500 validation pairs five times during training. Returns the ``train.History``.

    The global random generator is not touched: seed it before building the model (as :func:`fit_seq2seq` does), so
    that the initial weights are reproducible.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module that reads (src, tgt) and returns logits, e.g. a Seq2Seq, got "
                        f"{type(model).__name__}")
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 1:
        raise ValueError(f"steps must be a positive integer (the number of optimizer steps), got {steps!r}")
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not lr > 0:
        raise ValueError(f"lr must be a number > 0 (the peak learning rate, e.g. 3e-3), got {lr!r}")
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    # warm-up: 10% of the steps, and at least 2 (OneCycleLR cannot make a warm-up of less than one step); a run of
    # one or two steps has no room for a cycle and keeps lr constant
    schedule = None if steps < 3 else torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=lr, total_steps=steps, pct_start=min(0.5, max(0.1, 2 / steps)))
    held_out = [((val_src[:500], val_tgt[:500]), val_tgt[:500])]
    return train.fit(model, random_batches(src, tgt, batch_size, seed=seed), sequence_loss, optimizer,
                     steps=steps, eval_batches=held_out, eval_every=max(1, steps // 5), metric=token_accuracy,
                     metric_name="token accuracy (teacher-forced)", clip_grad_norm=1.0, scheduler=schedule,
                     live=live, desc=desc)


def fit_seq2seq(attention: str | None, src: torch.Tensor, tgt: torch.Tensor, val_src: torch.Tensor,
                val_tgt: torch.Tensor, steps: int, src_vocab_size: int, tgt_vocab_size: int, *, lr: float = 3e-3,
                hidden: int = 128, emb: int = 16, batch_size: int = 100, seed: int = 0, live: bool = True,
                desc: str = "training"):
    """Build a :class:`Seq2Seq` (seeded with ``seed``) and train it with :func:`fit_model`, notebook 05's one recipe
    for every model it compares (also used by ``benchmarks/attention.py``). Returns ``(model, history)``.
    """
    torch.manual_seed(seed)
    model = Seq2Seq(Seq2SeqConfig(src_vocab_size, tgt_vocab_size, emb=emb, hidden=hidden, attention=attention))
    history = fit_model(model, src, tgt, val_src, val_tgt, steps, lr=lr, batch_size=batch_size, seed=seed, live=live,
                        desc=desc)
    return model, history
