"""BERT (notebook 08): a Transformer *encoder* pre-trained by filling in masked words.

Devlin et al., 2019. 07's GPT predicts token t + 1 from tokens 1..t (a causal mask); BERT hides some tokens and
predicts each hidden one from **both sides**, with no mask on attention at all (only padding is hidden). The input
is one or two segments, ``[CLS] A [SEP]`` or ``[CLS] A [SEP] B [SEP]``, and every position's vector is the sum of three
embeddings (token, position, segment), normalised:

    x_t = LayerNorm(E_tok[id_t] + E_pos[t] + E_seg[segment_t])        (B, T, d_model)

then ``n_layers`` post-LN encoder layers of notebook 06 (``transformer.TransformerEncoderLayer``, GELU, LayerNorm eps
1e-12, as BERT). Two heads on top during pre-training:

* **masked LM**: at the masked positions, ``logits = LayerNorm(GELU(h W_t + b_t)) E_tok^T + b`` — the output matrix is
  the token embedding itself (*weight tying*, as 07's GPT);
* **next-sentence prediction** (NSP): from the ``[CLS]`` vector, ``tanh(h_CLS W_p + b_p)`` (the "pooler") then a
  linear map to 2 classes, "B follows A" or "B is a random sentence". RoBERTa (Liu et al., 2019) showed it does not
  help and dropped it; the course's model trains without it, the head is here so that BERT's layout is complete.

**Masking** (:func:`mask_tokens`): each ordinary token is selected with probability ``rate`` (15% in BERT); a selected
token becomes ``[MASK]`` 80% of the time, a random token 10%, and stays itself 10% — so the model cannot learn that
only ``[MASK]`` positions matter. The loss is computed at the selected positions only (``labels = -100`` elsewhere,
``F.cross_entropy``'s ``ignore_index``).

Masks follow ``transformers``' ``BertModel`` here, as ``forward`` mirrors its API: ``attention_mask`` 1 = a real
token, 0 = padding (the inverse of ``nn.MultiheadAttention``'s boolean masks used elsewhere in the course).
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from .checkpoint import _read_sidecar, _sha256
from .transformer import TransformerEncoderLayer

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")  # ids 0..4 in the course's tokenizer
PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID = range(5)
# the course checkpoint (notebook 08): made by ``.venv/bin/python benchmarks/bert.py --checkpoint``
PRETRAINED = Path(__file__).resolve().parent.parent / "data" / "pretrained" / "bert-tiny-shakespeare.safetensors"
PRETRAINED_LOG = PRETRAINED.with_name("bert-tiny-shakespeare.log.json")


# ----------------------------------------------------------------------------------------------------------------------
# The tokenizer: WordPiece trained on the Shakespeare training plays
# ----------------------------------------------------------------------------------------------------------------------

def wordpiece_tokenizer(vocab_size: int = 4096, folder: str | Path | None = None):
    """A lower-cased WordPiece tokenizer (HF ``tokenizers``) trained on the Shakespeare training split, with BERT's
    special tokens (ids 0..4: ``[PAD] [UNK] [CLS] [SEP] [MASK]``) and its ``[CLS] A [SEP] (B [SEP])`` template.

    Training takes a few seconds; the result is cached as ``data/bert/wordpiece-<vocab_size>.json`` with a sha256
    beside it, and retrained when the cache is missing or damaged. Returns a ``tokenizers.Tokenizer``.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    from .data import DATA_DIR, shakespeare

    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or not 100 <= vocab_size <= 50_000:
        raise ValueError(f"vocab_size must be an integer from 100 to 50,000, got {vocab_size!r}")
    folder = Path(folder) if folder is not None else DATA_DIR / "bert"
    path = folder / f"wordpiece-{vocab_size}.json"
    sidecar = Path(str(path) + ".sha256")
    if path.exists() and sidecar.exists() and _read_sidecar(sidecar) == _sha256(path):
        return Tokenizer.from_file(str(path))
    def bare(model):
        tokenizer = Tokenizer(model)
        tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        return tokenizer

    trained = bare(models.WordPiece(unk_token="[UNK]"))
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS),
                                        show_progress=False)
    trained.train_from_iterator(shakespeare("train").splitlines(), trainer)
    # The trainer finds the same pieces every time but numbers some of them differently from run to run; number them
    # in a fixed order (special tokens first, then alphabetical) so that a retrained tokenizer fits a saved model.
    pieces = sorted(set(trained.get_vocab()) - set(SPECIAL_TOKENS))
    vocab = {token: i for i, token in enumerate([*SPECIAL_TOKENS, *pieces])}
    tokenizer = bare(models.WordPiece(vocab, unk_token="[UNK]"))
    tokenizer.add_special_tokens(list(SPECIAL_TOKENS))  # "[MASK]" typed in a text stays one token; decode skips them
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", CLS_ID), ("[SEP]", SEP_ID)])
    tokenizer.decoder = decoders.WordPiece()
    assert [tokenizer.token_to_id(t) for t in SPECIAL_TOKENS] == list(range(5))
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(path))
    sidecar.write_text(_sha256(path) + "\n")
    return tokenizer


def vocab_sha256(tokenizer) -> str:
    """A fingerprint of a tokenizer's numbering (its tokens in id order): a saved model fits only the same numbering."""
    import hashlib

    vocab = tokenizer.get_vocab()
    return hashlib.sha256("\n".join(sorted(vocab, key=vocab.get)).encode()).hexdigest()


# ----------------------------------------------------------------------------------------------------------------------
# Masking
# ----------------------------------------------------------------------------------------------------------------------

def mask_tokens(ids: torch.Tensor, vocab_size: int, rate: float = 0.15, generator: torch.Generator | None = None,
                mask_id: int = MASK_ID, n_special: int = len(SPECIAL_TOKENS)) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking of a batch of token ids ``(B, T)`` (or one sequence ``(T,)``) -> ``(inputs, labels)``, same shape.

    Every token that is not special (ids ``0 .. n_special - 1`` are ``[PAD] [UNK] [CLS] [SEP] [MASK]``) is selected
    with probability ``rate``; a selected token becomes ``mask_id`` (80%), a random ordinary token (10%) or stays itself
    (10%). ``labels`` holds the original id at the selected positions and -100 elsewhere (ignored by the loss).
    ``generator`` makes the choice reproducible.
    """
    if not isinstance(ids, torch.Tensor) or ids.dtype not in (torch.int32, torch.int64) or ids.dim() not in (1, 2):
        shape = tuple(ids.shape) if isinstance(ids, torch.Tensor) else type(ids).__name__
        raise ValueError(f"ids must be an integer tensor of token ids, (B, T) or (T,), got {shape}")
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size <= n_special:
        raise ValueError(f"vocab_size must be an integer larger than the {n_special} special tokens, got {vocab_size!r}")
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate <= 1:
        raise ValueError(f"rate must be a number in (0, 1], the share of tokens selected (BERT: 0.15), got {rate!r}")
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= vocab_size):
        raise ValueError(f"ids must lie in 0 .. {vocab_size - 1} (the vocabulary), got {int(ids.min())} .. "
                         f"{int(ids.max())}")
    ordinary = ids >= n_special  # special tokens are never selected
    selected = (torch.rand(ids.shape, generator=generator) < rate) & ordinary
    how = torch.rand(ids.shape, generator=generator)  # < 0.8: [MASK]; 0.8 .. 0.9: random token; >= 0.9: unchanged
    random_ids = torch.randint(n_special, vocab_size, ids.shape, generator=generator, dtype=ids.dtype)
    inputs = torch.where(selected & (how < 0.8), torch.full_like(ids, mask_id), ids)
    inputs = torch.where(selected & (how >= 0.8) & (how < 0.9), random_ids, inputs)
    labels = torch.where(selected, ids, torch.full_like(ids, -100))
    return inputs, labels


# ----------------------------------------------------------------------------------------------------------------------
# The encoder and its pre-training heads
# ----------------------------------------------------------------------------------------------------------------------

def _check_ids(name: str, ids, shape: tuple[int, int] | None, high: int) -> None:
    if not isinstance(ids, torch.Tensor) or ids.dtype not in (torch.int32, torch.int64) or ids.dim() != 2:
        got = tuple(ids.shape) if isinstance(ids, torch.Tensor) else type(ids).__name__
        raise ValueError(f"{name} must be an integer tensor of shape (B, T), got {got}: one sequence x needs x[None]")
    if shape is not None and tuple(ids.shape) != shape:
        raise ValueError(f"{name} must have the shape of input_ids {shape}, got {tuple(ids.shape)}")
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= high):
        raise ValueError(f"{name} must lie in 0 .. {high - 1}, got values {int(ids.min())} .. {int(ids.max())}")


def _init_weights(module: nn.Module) -> None:
    """BERT's initialisation: every weight matrix and embedding N(0, 0.02^2), biases 0, LayerNorms 1 and 0. (PyTorch's
    default N(0, 1) embeddings would make the tied output layer's logits about sqrt(d_model) times too large.)"""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)
    if isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class BertEncoder(nn.Module):
    """``transformers``' ``BertModel`` without its pooler: embeddings, then post-LN GELU encoder layers
    (``norm_first=True``: pre-LN layers and a final LayerNorm, which train more easily from scratch).

    ``forward(input_ids (B, T), attention_mask=None, token_type_ids=None)`` -> ``(last_hidden_state (B, T, d_model),
    attentions)``, a list of one ``(B, heads, T, T)`` tensor per layer. ``attention_mask`` (B, T): 1 = real token,
    0 = padding (``transformers``' meaning); ``token_type_ids`` (B, T): 0 for segment A, 1 for B (default all 0).
    :meth:`from_hf` copies a ``transformers.BertModel``'s weights.
    """

    def __init__(self, vocab_size: int, d_model: int = 128, n_layers: int = 2, n_heads: int = 2,
                 d_ff: int | None = None, max_len: int = 512, type_vocab_size: int = 2, layer_norm_eps: float = 1e-12,
                 norm_first: bool = False):
        super().__init__()
        self.vocab_size, self.d_model, self.max_len = vocab_size, d_model, max_len
        self.tok_emb = nn.Embedding(vocab_size, d_model)  # E_tok (V, d_model)
        self.pos_emb = nn.Embedding(max_len, d_model)  # E_pos (max_len, d_model), learned
        self.seg_emb = nn.Embedding(type_vocab_size, d_model)  # E_seg (2, d_model)
        self.emb_norm = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.layers = nn.ModuleList(
            TransformerEncoderLayer(d_model, n_heads, d_ff or 4 * d_model, norm_first=norm_first, activation="gelu",
                                    layer_norm_eps=layer_norm_eps) for _ in range(n_layers))
        # pre-LN (norm_first=True, as GPT-2; easier to train from scratch) ends with one more LayerNorm
        self.final_norm = nn.LayerNorm(d_model, eps=layer_norm_eps) if norm_first else None
        self.apply(_init_weights)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None,
                output_attentions: bool = True) -> tuple[torch.Tensor, list[torch.Tensor]]:
        _check_ids("input_ids", input_ids, None, self.vocab_size)
        B, T = input_ids.shape
        if T > self.max_len:
            raise ValueError(f"the input has {T} tokens, more than the model's {self.max_len} positions: shorten it "
                             f"(or split it into pieces of at most {self.max_len})")
        if T == 0:
            raise ValueError("the input is empty (0 tokens): give at least one token")
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        _check_ids("token_type_ids", token_type_ids, (B, T), self.seg_emb.num_embeddings)
        padding = None
        if attention_mask is not None:
            _check_ids("attention_mask", attention_mask, (B, T), 2)
            padding = attention_mask == 0  # True = may not attend (nn.MultiheadAttention's meaning)
            if bool(padding.all(dim=1).any()):
                raise ValueError("attention_mask has a row of zeros: every sequence needs at least one real token")
        positions = torch.arange(T, device=input_ids.device)
        x = self.emb_norm(self.tok_emb(input_ids) + self.pos_emb(positions) + self.seg_emb(token_type_ids))
        attentions = []
        for layer in self.layers:  # output_attentions=False (training): fused attention, no weights kept
            x, weights = layer(x, key_padding_mask=padding, need_weights=output_attentions)  # (B, T, d), (B, h, T, T)
            if output_attentions:
                attentions.append(weights)
        if self.final_norm is not None:
            x = self.final_norm(x)
        return x, attentions

    @classmethod
    def from_hf(cls, model) -> "BertEncoder":
        """A copy of a ``transformers.BertModel``'s weights (its pooler is not used), same dtype."""
        config = getattr(model, "config", None)
        if config is None or not hasattr(model, "embeddings") or not hasattr(model, "encoder"):
            raise TypeError(f"BertEncoder.from_hf needs a transformers BertModel, got {type(model).__name__}")
        if config.hidden_act != "gelu":
            raise ValueError(f"only the exact GELU is supported, the model uses {config.hidden_act!r}")
        dtype = model.embeddings.word_embeddings.weight.dtype
        ours = cls(config.vocab_size, config.hidden_size, config.num_hidden_layers, config.num_attention_heads,
                   config.intermediate_size, config.max_position_embeddings, config.type_vocab_size,
                   config.layer_norm_eps).to(dtype)
        e = model.embeddings
        with torch.no_grad():
            ours.tok_emb.weight.copy_(e.word_embeddings.weight)
            ours.pos_emb.weight.copy_(e.position_embeddings.weight)
            ours.seg_emb.weight.copy_(e.token_type_embeddings.weight)
            ours.emb_norm.load_state_dict(e.LayerNorm.state_dict())
            for layer, theirs in zip(ours.layers, model.encoder.layer):
                attention = theirs.attention
                for mine, hf in [(layer.self_attn.W_q, attention.self.query), (layer.self_attn.W_k, attention.self.key),
                                 (layer.self_attn.W_v, attention.self.value), (layer.self_attn.W_o, attention.output.dense),
                                 (layer.linear1, theirs.intermediate.dense), (layer.linear2, theirs.output.dense)]:
                    mine.load_state_dict(hf.state_dict())
                layer.norm1.load_state_dict(attention.output.LayerNorm.state_dict())
                layer.norm2.load_state_dict(theirs.output.LayerNorm.state_dict())
        return ours


class BertForPreTraining(nn.Module):
    """A :class:`BertEncoder` with BERT's two pre-training heads.

    ``forward(input_ids, attention_mask=None, token_type_ids=None)`` -> ``(mlm_logits (B, T, V), nsp_logits (B, 2),
    attentions)``. The masked-LM output layer is the token embedding (tied) plus a bias.
    """

    def __init__(self, vocab_size: int, d_model: int = 128, n_layers: int = 2, n_heads: int = 2,
                 d_ff: int | None = None, max_len: int = 512, layer_norm_eps: float = 1e-12, norm_first: bool = False):
        super().__init__()
        self.encoder = BertEncoder(vocab_size, d_model, n_layers, n_heads, d_ff, max_len,
                                   layer_norm_eps=layer_norm_eps, norm_first=norm_first)
        self.mlm_transform = nn.Linear(d_model, d_model)  # W_t, b_t
        self.mlm_norm = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.mlm_bias = nn.Parameter(torch.zeros(vocab_size))  # b; the weight is encoder.tok_emb.weight
        self.pooler = nn.Linear(d_model, d_model)  # W_p, b_p on [CLS]
        self.nsp = nn.Linear(d_model, 2)
        self.apply(_init_weights)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, output_attentions: bool = True):
        h, attentions = self.encoder(input_ids, attention_mask, token_type_ids, output_attentions)  # (B, T, d_model)
        mlm_logits = self.mlm_head(h)  # (B, T, V)
        nsp_logits = self.nsp(torch.tanh(self.pooler(h[:, 0])))  # (B, 2) from [CLS]
        return mlm_logits, nsp_logits, attentions

    def mlm_head(self, h: torch.Tensor) -> torch.Tensor:
        """Masked-LM logits ``(..., V)`` from hidden states ``(..., d_model)``. Training computes it at the selected
        positions only (``model.mlm_head(h[labels != -100])``): most positions need no prediction, and the output
        layer, V wide, is the costliest step."""
        t = self.mlm_norm(F.gelu(self.mlm_transform(h)))
        return t @ self.encoder.tok_emb.weight.T + self.mlm_bias  # tied to the token embedding


def mlm_loss(mlm_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy at the selected positions only (``labels`` -100 elsewhere), averaged over them."""
    if not bool((labels != -100).any()):
        raise ValueError("no position is selected in labels (all -100): nothing to predict; mask some tokens")
    return F.cross_entropy(mlm_logits.flatten(0, 1), labels.flatten(), ignore_index=-100)


# ----------------------------------------------------------------------------------------------------------------------
# Pre-training data, baselines and the held-out score (notebook 08 and benchmarks/bert.py)
# ----------------------------------------------------------------------------------------------------------------------

def token_stream(tokenizer, text: str) -> torch.Tensor:
    """The whole text as one stream of token ids ``(N,)``, line by line, without ``[CLS]``/``[SEP]`` (training windows
    are cut from it anywhere, across line ends, as BERT cut its 512-token windows across sentences)."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}")
    ids = [i for line in text.splitlines() if line.strip() for i in tokenizer.encode(line, add_special_tokens=False).ids]
    if not ids:
        raise ValueError("the text has no tokens: give a non-empty text")
    return torch.tensor(ids, dtype=torch.long)


def windows(stream: torch.Tensor, T: int) -> torch.Tensor:
    """Side-by-side windows of ``T`` tokens from a stream ``(N,)``: ``(N // T, T)`` (the remainder is dropped)."""
    if not isinstance(stream, torch.Tensor) or stream.dtype != torch.long or stream.dim() != 1:
        got = f"{stream.dtype} {tuple(stream.shape)}" if isinstance(stream, torch.Tensor) else type(stream).__name__
        raise ValueError(f"stream must be a 1-D tensor of token ids (torch.long), got {got}")
    if isinstance(T, bool) or not isinstance(T, int) or not 1 <= T <= len(stream):
        raise ValueError(f"T must be an integer from 1 to the stream's length {len(stream)}, got {T!r}")
    n = len(stream) // T
    return stream[: n * T].view(n, T)


def mlm_batch(stream: torch.Tensor, batch_size: int, T: int, vocab_size: int, rate: float = 0.15,
              generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A training batch: ``batch_size`` windows of ``T`` tokens cut at random offsets, masked by :func:`mask_tokens`.
    Returns ``(inputs, labels)``, each ``(batch_size, T)``."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if isinstance(T, bool) or not isinstance(T, int) or not 1 <= T < len(stream):
        raise ValueError(f"T must be an integer from 1 to {len(stream) - 1} (the stream's length - 1), got {T!r}")
    offsets = torch.randint(0, len(stream) - T, (batch_size,), generator=generator)
    batch = stream[offsets[:, None] + torch.arange(T)]  # (batch_size, T)
    return mask_tokens(batch, vocab_size, rate=rate, generator=generator)


def heldout_blanks(windows: torch.Tensor, vocab_size: int, rate: float = 0.15,
                   seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The held-out test: BERT's selection (``rate``) with a fixed seed, and **every** selected token shown as
    ``[MASK]`` — in training 10% of the selected tokens stay visible, which would hand the model those answers.
    Returns ``(inputs, labels)`` like :func:`mask_tokens`."""
    _, labels = mask_tokens(windows, vocab_size, rate=rate, generator=torch.Generator().manual_seed(seed))
    inputs = torch.where(labels != -100, torch.full_like(windows, MASK_ID), windows)
    return inputs, labels


def baselines(train_stream: torch.Tensor, inputs: torch.Tensor, labels: torch.Tensor, vocab_size: int) -> dict:
    """Two guesses that ignore almost all of the context, scored on the blanks of ``(inputs, labels)``:

    * ``"unigram"``: always the most frequent training token;
    * ``"bigram"``: the most frequent follower (in training) of the token to the left of the blank, as the model sees
      it — a ``[MASK]`` or ``[CLS]`` to the left, or a token never seen, falls back to the unigram guess.

    Returns ``{"unigram": accuracy, "bigram": accuracy, "unigram_token": id}``.
    """
    V = vocab_size
    chosen = labels != -100
    if not bool(chosen.any()):
        raise ValueError("labels selects no position (all -100): there is nothing to score")
    counts = torch.bincount(train_stream, minlength=V)
    unigram_token = int(counts.argmax())
    pairs = torch.zeros(V, V, dtype=torch.long)  # pairs[a, b]: how often b follows a in training
    pairs.index_put_((train_stream[:-1], train_stream[1:]), torch.ones(len(train_stream) - 1, dtype=torch.long),
                     accumulate=True)
    follower = pairs.argmax(1)  # (V,) the most frequent next token after each token
    left = torch.cat([torch.full((len(inputs), 1), CLS_ID), inputs[:, :-1]], 1)  # the token left of each position
    known = (left >= len(SPECIAL_TOKENS)) & (pairs[left].sum(-1) > 0)
    guess = torch.where(known, follower[left], torch.full_like(left, unigram_token))
    return {"unigram": (labels[chosen] == unigram_token).double().mean().item(),
            "bigram": (guess[chosen] == labels[chosen]).double().mean().item(), "unigram_token": unigram_token}


def masked_accuracy(model: "BertForPreTraining", inputs: torch.Tensor, labels: torch.Tensor, batch: int = 512) -> float:
    """The fraction of blanks (``labels != -100``) whose most probable token is the hidden one, in eval mode."""
    from .train import eval_mode

    correct = total = 0
    with torch.no_grad(), eval_mode(model):
        for k in range(0, len(inputs), batch):
            h, _ = model.encoder(inputs[k : k + batch], output_attentions=False)  # (b, T, d_model)
            chosen = labels[k : k + batch] != -100
            correct += (model.mlm_head(h[chosen]).argmax(-1) == labels[k : k + batch][chosen]).sum().item()
            total += chosen.sum().item()
    if total == 0:
        raise ValueError("labels selects no position (all -100): there is nothing to score")
    return correct / total


class AtBlanks(nn.Module):
    """Training view of a :class:`BertForPreTraining` for ``train.fit``: ``(inputs, labels) -> logits (N, V)`` at the
    N selected positions only (``labels != -100``); :func:`loss_at_blanks` is the masked-LM loss on them. The V-wide
    output layer, the costliest step, runs on the blanks only. With ``train.fit``: batches ``((inputs, labels),
    labels)`` and ``loss_fn=bert.loss_at_blanks``."""

    def __init__(self, model: "BertForPreTraining"):
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h, _ = self.model.encoder(inputs, output_attentions=False)  # (B, T, d_model)
        return self.model.mlm_head(h[labels != -100])  # (N, V)


def loss_at_blanks(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The masked-LM loss from :class:`AtBlanks`' output: cross-entropy of ``logits (N, V)`` against the ``N`` labels
    that are not -100 in ``labels (B, T)``."""
    targets = labels[labels != -100]
    if logits.dim() != 2 or len(logits) != len(targets):
        raise ValueError(f"logits must be (N, V) with one row per selected label: got {tuple(logits.shape)} for "
                         f"{len(targets)} selected labels (use bert.AtBlanks(model) as the model)")
    return F.cross_entropy(logits, targets)


# The course checkpoint's model (benchmarks/bert.py --checkpoint): pre-LN, width 128, 4 layers, 2 heads, 32 positions
PRETRAINED_CONFIG = {"d_model": 128, "n_layers": 4, "n_heads": 2, "max_len": 32, "norm_first": True}
PRETRAINED_FIX = "re-make it with `.venv/bin/python benchmarks/bert.py --checkpoint` (about 70 minutes on 2 cores)"


def load_pretrained(tokenizer, path: str | Path | None = None) -> "BertForPreTraining":
    """The course's pre-trained tiny BERT (``data/pretrained/bert-tiny-shakespeare.safetensors``), checked against its
    sha256 and against ``tokenizer``'s numbering (recorded in the training log). Raises ``checkpoint.CheckpointError``
    with the command that re-makes it when the file is missing, damaged, or made with another tokenizer."""
    from .checkpoint import CheckpointError, load

    path = Path(path) if path is not None else PRETRAINED
    log = path.with_name(path.name.replace(".safetensors", ".log.json"))
    model = BertForPreTraining(tokenizer.get_vocab_size(), **PRETRAINED_CONFIG)
    load(model, path, fix=PRETRAINED_FIX)
    if log.exists():
        import json

        made_with = json.loads(log.read_text()).get("vocab_sha256")
        if made_with is not None and made_with != vocab_sha256(tokenizer):
            raise CheckpointError(f"checkpoint {path} was trained with another tokenizer (its vocabulary's sha256 in "
                                  f"{log.name} differs from this tokenizer's).\nFix: {PRETRAINED_FIX}.")
    return model.eval()
