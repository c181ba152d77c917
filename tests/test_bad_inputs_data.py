"""Bad and edge-case inputs of course_lib.data: a clear error or the right answer, never a hang.

Each row is one call a learner might make (issue #15). The text cases use a small slice of the real held-out
Shakespeare text (data/shakespeare/val.txt); no case reads more than that.
"""
import numpy as np
import pytest
import torch

from badinput import Case, ids, run_case
from course_lib import data

VAL = data.shakespeare("val")[:3000]  # a small slice of the real held-out plays
VOCAB = data.CharVocab.from_text(VAL)
VAL_IDS = VOCAB.encode(VAL)
TOKENS = torch.arange(41)  # 41 ids: 4 streams of 10 tokens, and the next token of each
ABC = data.CharVocab(list("abc"))


def stream_batches(*args, k=3):
    stream = data.lm_stream_batches(*args)
    return [next(stream) for _ in range(k)]


def _stream_ok(batches):
    # 4 streams of n = (41 - 1) // 4 = 10 tokens, blocks of 5: batch 1 covers tokens 0..4 of each stream, batch 2 5..9,
    # batch 3 starts over; stream b begins at token 10 b, and y is x shifted by one.
    (x1, y1), (x2, y2), (x3, y3) = batches
    return (x1.shape == (4, 5) and torch.equal(x1[:, 0], torch.tensor([0, 10, 20, 30]))
            and torch.equal(x2[:, 0], torch.tensor([5, 15, 25, 35])) and torch.equal(y1, x1 + 1)
            and torch.equal(x3, x1) and torch.equal(y3, y1))


def _eval_ok(batches):
    # 23 ids, blocks of 5: 4 whole blocks (ids 0..19 as x, 1..20 as y) in batches of 3 then 1
    return (len(batches) == 2 and batches[0][0].shape == (3, 5) and batches[1][0].shape == (1, 5)
            and torch.equal(torch.cat([b[0] for b in batches]).reshape(-1), torch.arange(20))
            and torch.equal(torch.cat([b[1] for b in batches]).reshape(-1), torch.arange(1, 21)))


CASES = [
    Case("photo: unknown name", lambda: data.photo("lena"), raises=ValueError, match=r"unknown photo 'lena'.*camera"),
    Case("photo: a number", lambda: data.photo(3), raises=TypeError, match=r"name must be one of camera.*int"),
    Case("photo: a colour photo turns grey", lambda: data.photo("coffee"), returns=lambda y: y.shape == (400, 600)),
    # ---------------- language-model batches ----------------
    Case("lm_stream_batches block_size=-8", lambda: data.lm_stream_batches(VAL_IDS, 4, -8),
         raises=ValueError, match=r"block_size must be >= 1, got -8", timeout=2),
    Case("lm_stream_batches block_size=0", lambda: data.lm_stream_batches(VAL_IDS, 4, 0),
         raises=ValueError, match=r"block_size must be >= 1, got 0", timeout=2),
    Case("lm_stream_batches batch_size=0", lambda: data.lm_stream_batches(VAL_IDS, 0, 8),
         raises=ValueError, match=r"batch_size must be >= 1, got 0", timeout=2),
    Case("lm_stream_batches text instead of ids", lambda: data.lm_stream_batches(VAL, 4, 8),
         raises=TypeError, match=r"data must be a 1-D tensor of token ids, got a str.*vocab\.encode\(text\)"),
    Case("lm_stream_batches float ids", lambda: data.lm_stream_batches(VAL_IDS.float(), 4, 8),
         raises=TypeError, match=r"integer token ids.*float32.*data\.long\(\)"),
    Case("lm_stream_batches block_size 8.0", lambda: data.lm_stream_batches(VAL_IDS, 4, 8.0),
         raises=TypeError, match=r"block_size must be an integer"),
    Case("lm_stream_batches too few tokens", lambda: data.lm_stream_batches(VAL_IDS[:20], 4, 10),
         raises=ValueError, match=r"data has 20 tokens: too few for 4 streams of block_size=10"),
    Case("lm_stream_batches streams continue and wrap", lambda: stream_batches(TOKENS, 4, 5), returns=_stream_ok),
    Case("lm_batch batch_size=0", lambda: data.lm_batch(VAL_IDS, 0, 8),
         raises=ValueError, match=r"batch_size must be >= 1, got 0"),
    Case("lm_batch block_size=0", lambda: data.lm_batch(VAL_IDS, 4, 0),
         raises=ValueError, match=r"block_size must be >= 1, got 0"),
    Case("lm_batch batch_size=10**9", lambda: data.lm_batch(VAL_IDS, 10**9, 8),
         raises=ValueError, match=r"batch_size × block_size must be <= 10,000,000.*smaller batch_size", timeout=2),
    Case("lm_batch seed instead of generator", lambda: data.lm_batch(VAL_IDS, 4, 8, 0),
         raises=TypeError, match=r"generator must be a torch\.Generator.*manual_seed"),
    Case("lm_batch numpy ids", lambda: data.lm_batch(VAL_IDS.numpy(), 4, 8),
         raises=TypeError, match=r"got ndarray.*torch\.as_tensor"),
    Case("lm_batch list of ids", lambda: data.lm_batch(VAL_IDS.tolist(), 4, 8),
         raises=TypeError, match=r"data must be a 1-D tensor of token ids, got list"),
    Case("lm_batch block as long as the data", lambda: data.lm_batch(TOKENS, 2, 41),
         raises=ValueError, match=r"data has 41 tokens, needs more than block_size=41"),
    Case("lm_batch targets are the next tokens", lambda: data.lm_batch(TOKENS, 3, 40, torch.Generator().manual_seed(1)),
         returns=lambda r: r[0].shape == (3, 40) and torch.equal(r[0], torch.arange(40).expand(3, 40))
         and torch.equal(r[1], r[0] + 1)),
    Case("lm_eval_batches max_batches=0", lambda: data.lm_eval_batches(VAL_IDS, 4, 8, max_batches=0),
         raises=ValueError, match=r"max_batches must be >= 1, got 0"),
    Case("lm_eval_batches max_batches=-1", lambda: data.lm_eval_batches(VAL_IDS, 4, 8, max_batches=-1),
         raises=ValueError, match=r"max_batches must be >= 1, got -1"),
    Case("lm_eval_batches block_size=0", lambda: data.lm_eval_batches(VAL_IDS, 4, 0),
         raises=ValueError, match=r"block_size must be >= 1, got 0"),
    Case("lm_eval_batches block_size=-3", lambda: data.lm_eval_batches(VAL_IDS, 4, -3),
         raises=ValueError, match=r"block_size must be >= 1, got -3"),
    Case("lm_eval_batches batch_size=0", lambda: data.lm_eval_batches(VAL_IDS, 0, 8),
         raises=ValueError, match=r"batch_size must be >= 1, got 0"),
    Case("lm_eval_batches 2-D ids", lambda: data.lm_eval_batches(VAL_IDS[:3000].view(30, 100), 4, 8),
         raises=ValueError, match=r"data must be 1-D token ids, got shape \(30, 100\)"),
    Case("lm_eval_batches covers the text in order", lambda: data.lm_eval_batches(torch.arange(23), 3, 5),
         returns=_eval_ok),
    Case("lm_eval_batches max_batches=1", lambda: data.lm_eval_batches(torch.arange(23), 3, 5, max_batches=1),
         returns=lambda r: len(r) == 1 and torch.equal(r[0][0], torch.arange(15).view(3, 5))),

    # ---------------- toy tasks: huge requests are refused at once ----------------
    Case("reversal_task(10**8, 10)", lambda: data.reversal_task(10**8, 10),
         raises=ValueError, match=r"n × length must be <= 10,000,000 \(MAX_TASK_ELEMENTS\).*new seeds", timeout=2),
    Case("reversal_task n=0", lambda: data.reversal_task(0, 10), raises=ValueError, match=r"n must be >= 1, got 0"),
    Case("reversal_task length 2.5", lambda: data.reversal_task(10, 2.5),
         raises=TypeError, match=r"length must be an integer"),
    Case("reversal_task vocab_size=1", lambda: data.reversal_task(10, 5, vocab_size=1),
         raises=ValueError, match=r"vocab_size must be >= 2, got 1"),
    Case("reversal_task seed 'a'", lambda: data.reversal_task(10, 5, seed="a"),
         raises=TypeError, match=r"seed must be an integer"),
    Case("reversal_task seed 2**64", lambda: data.reversal_task(10, 5, seed=2**64),
         raises=ValueError, match=r"seed must be <= 18,446,744,073,709,551,615"),
    Case("reversal_task numpy sizes", lambda: data.reversal_task(np.int64(4), np.int64(3), seed=5),
         returns=lambda r: r[0].shape == (4, 3) and torch.equal(r[1], r[0].flip(1))
         and torch.equal(r[0], data.reversal_task(4, 3, seed=5)[0])),
    Case("adding_task(10**7, 100)", lambda: data.adding_task(10**7, 100),
         raises=ValueError, match=r"n × length must be <= 10,000,000", timeout=2),
    Case("adding_task length=1", lambda: data.adding_task(10, 1),
         raises=ValueError, match=r"length must be >= 2, got 1"),
    Case("adding_task n=True", lambda: data.adding_task(True, 10), raises=TypeError, match=r"n must be an integer"),
    Case("date_task(10**8)", lambda: data.date_task(10**8),
         raises=ValueError, match=r"n must be <= 1,000,000.*MAX_DATE_PAIRS", timeout=2),
    Case("date_task(0)", lambda: data.date_task(0), raises=ValueError, match=r"n must be >= 1, got 0"),
    Case("date_task('5')", lambda: data.date_task("5"), raises=TypeError, match=r"n must be an integer"),
    Case("date_task seed 1.5", lambda: data.date_task(3, seed=1.5), raises=TypeError, match=r"seed must be an integer"),

    # ---------------- vocabulary ----------------
    Case("CharVocab.from_text bytes", lambda: data.CharVocab.from_text(VAL.encode()),
         raises=TypeError, match=r"text must be a str, got bytes.*decode\('utf-8'\)"),
    Case("CharVocab.from_text None", lambda: data.CharVocab.from_text(None),
         raises=TypeError, match=r"text must be a str, got NoneType"),
    Case("CharVocab.from_text ''", lambda: data.CharVocab.from_text(""),
         raises=ValueError, match=r"text is empty"),
    Case("CharVocab no chars", lambda: data.CharVocab([]), raises=ValueError, match=r"chars is empty.*from_text"),
    Case("CharVocab multi-character entries", lambda: data.CharVocab(["ab", "c"]),
         raises=ValueError, match=r"chars must be single characters, got \['ab'\]"),
    Case("CharVocab repeated chars", lambda: data.CharVocab(list("aba")), raises=ValueError, match=r"must not repeat"),
    Case("CharVocab unknown not in chars", lambda: data.CharVocab(list("ab"), unknown="?"),
         raises=ValueError, match=r"unknown='\?' must be one of the vocabulary's characters"),
    Case("CharVocab from a string", lambda: data.CharVocab("cab"),
         returns=lambda v: v.chars == ["c", "a", "b"] and v.encode("abc").tolist() == [1, 2, 0]),
    Case("encode unseen characters", lambda: VOCAB.encode("To be €"),
         raises=ValueError, match=r"not in the vocabulary: \['€'\].*vocab\.unseen\(text\).*unknown="),
    Case("encode unseen characters is still a KeyError", lambda: ABC.encode("abz"),
         raises=KeyError, match=r"^characters not in the vocabulary: \['z'\]"),
    Case("encode bytes", lambda: VOCAB.encode(b"To be"), raises=TypeError, match=r"text must be a str, got bytes"),
    Case("encode ''", lambda: VOCAB.encode(""), returns=lambda r: r.dtype == torch.long and r.shape == (0,)),
    Case("decode text", lambda: VOCAB.decode("To be"),
         raises=TypeError, match=r"ids must be integer ids.*got str.*vocab\.encode\(text\)"),
    Case("decode a 2-D batch", lambda: ABC.decode(torch.tensor([[0, 1], [1, 0]])),
         raises=ValueError, match=r"ids must be 1-D.*\(2, 2\).*row by row"),
    Case("decode float ids", lambda: ABC.decode(torch.tensor([0.0, 1.0])),
         raises=TypeError, match=r"ids must be integers, got dtype torch\.float32.*\.long\(\)"),
    Case("decode one 0-d id", lambda: ABC.decode(torch.tensor(1)), returns=lambda r: r == "b"),
    Case("decode one int", lambda: ABC.decode(2), returns=lambda r: r == "c"),
    Case("decode id out of range", lambda: ABC.decode([0, 3, -1]),
         raises=ValueError, match=r"ids out of range 0\.\.2: \[3, -1\]"),
    Case("decode None", lambda: ABC.decode(None), raises=TypeError, match=r"ids must be integer ids"),
    Case("decode round trip of real text", lambda: VOCAB.decode(VOCAB.encode(VAL[:500])),
         returns=lambda r: r == VAL[:500]),

    # ---------------- text and files ----------------
    Case("clean_play None", lambda: data.clean_play(None), raises=TypeError, match=r"markdown must be a str"),
    Case("clean_play bytes", lambda: data.clean_play(b"**HAMLET**\nTo be"),
         raises=TypeError, match=r"markdown must be a str, got bytes.*decode"),
    Case("clean_play a small play", lambda: data.clean_play("# ACT I\n**HAMLET**  \nTo be _Aside_ or not.\n"),
         returns=lambda r: r == "Hamlet:\nTo be or not.\n"),
    Case("shakespeare 'Train'", lambda: data.shakespeare("Train"),
         raises=ValueError, match=r"split must be one of \('train', 'val'\), got 'Train'"),
    Case("shakespeare None", lambda: data.shakespeare(None), raises=ValueError, match=r"split must be one of"),
    Case("shakespeare ['val']", lambda: data.shakespeare(["val"]), raises=ValueError, match=r"split must be one of"),
    Case("shakespeare_plays 'test'", lambda: data.shakespeare_plays("test"),
         raises=ValueError, match=r"split must be one of \('train', 'val'\), got 'test'"),
    Case("fashion_mnist 'validation'", lambda: data.fashion_mnist("validation"),
         raises=ValueError, match=r"split must be one of \('train', 'test'\), got 'validation'"),
]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_bad_input(case):
    run_case(case)
