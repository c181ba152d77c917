"""Notebooks 05 and 06's tuning runs: the same effort for every model of a comparison.

For each task (reversal of lengths 1-20, 600 steps; dates, 300 steps — notebook 05's budgets) and each GRU model
(no attention, additive attention), train with learning rates 1e-3, 3e-3, 1e-2 at width 128, and width 256 at 3e-3
(on the dates also 3e-2, since 1e-2 was the best rate there, at the edge of the grid),
with notebook 05's recipe (``seq2seq.fit_seq2seq``), and score held-out exact match by greedy decoding. Notebook 06's
Transformer (``attention: "transformer"``, its width ``d_model`` in the ``hidden`` column) gets the same four
learning rates at its own width, on the dates only, with the same recipe (``seq2seq.fit_model``).
Writes ``benchmarks/attention-tuning.json``, which notebooks 05 and 06 print. Each finished run is also appended to
``build/attention-tuning.jsonl``; a run already there is not repeated (delete the file to start afresh). Every row
records the CPU threads it ran with.

    .venv/bin/python benchmarks/attention.py          # about 15 minutes on 2 cores, the Transformer's rows 2 more
"""
import json
import os
import platform
import time
from pathlib import Path

import torch

from course_lib import data, runtime
from course_lib import seq2seq as s2s
from course_lib.transformer import Seq2SeqTransformer, TransformerConfig

OUT = Path(__file__).with_name("attention-tuning.json")
PARTIAL = Path(__file__).parent.parent / "build" / "attention-tuning.jsonl"
CONFIGS = [(1e-3, 128), (3e-3, 128), (1e-2, 128), (3e-3, 256)]
# on the dates the best rate of the first runs was 1e-2, the edge of the grid, for every model: one step further
DATE_CONFIGS = CONFIGS + [(3e-2, 128)]
# notebook 06's encoder-decoder Transformer: its width and shape, tried at the GRUs' three learning rates
TRANSFORMER = {"hidden": 64, "heads": 4, "layers": 2, "ff": 256}
TRANSFORMER_LRS = [1e-3, 3e-3, 1e-2, 3e-2]


def transformer(n_in: int, n_out: int, hidden: int, heads: int, layers: int, ff: int) -> Seq2SeqTransformer:
    """Notebook 06's date model (pre-LN, sinusoidal positions; dates are at most 28 characters in, 11 out)."""
    return Seq2SeqTransformer(TransformerConfig(n_in, n_out, d_model=hidden, num_heads=heads, num_layers=layers,
                                                dim_feedforward=ff, max_len=32))


def tasks():
    rev_src, rev_tgt = s2s.reversal_data(60_000, 1, 20, seed=0)
    rev_val = s2s.reversal_data(1_000, 1, 20, seed=1)
    src_vocab, tgt_vocab = s2s.date_vocabs()
    date_src, date_tgt = s2s.encode_pairs(data.date_task(40_000, seed=0, split="train"), src_vocab, tgt_vocab)
    date_val = s2s.encode_pairs(data.date_task(2_000, seed=1, split="val"), src_vocab, tgt_vocab)
    rev_size = len(s2s.reversal_vocab())
    return {"reversal": (rev_src, rev_tgt, *rev_val, 600, rev_size, rev_size),
            "dates": (date_src, date_tgt, *date_val, 300, len(src_vocab), len(tgt_vocab))}


def main():
    threads = runtime.pick_threads()
    torch.set_num_threads(threads)
    done = [json.loads(line) for line in PARTIAL.read_text().splitlines()] if PARTIAL.exists() else []
    earlier_threads = json.loads(OUT.read_text()).get("threads") if OUT.exists() else None
    for row in done:  # rows from before threads were recorded per row ran with the file's one thread count
        row.setdefault("threads", earlier_threads)
    PARTIAL.parent.mkdir(exist_ok=True)
    runs = []

    def run(task, attention, lr, hidden, steps, train_one, val_src, val_tgt, **shape):
        same = [r for r in done if (r["task"], r["attention"], r["lr"], r["hidden"], r["steps"])
                == (task, attention, lr, hidden, steps)]
        if same:
            runs.append(same[0])
            return
        start = time.perf_counter()
        model = train_one()
        seconds = time.perf_counter() - start
        exact = s2s.decode_accuracy(model, val_src, val_tgt)["exact"]
        runs.append({"task": task, "attention": attention, "lr": lr, "hidden": hidden, **shape, "steps": steps,
                     "exact": round(exact, 4), "seconds": round(seconds, 1), "threads": threads})
        print(runs[-1], flush=True)
        with PARTIAL.open("a") as f:
            f.write(json.dumps(runs[-1]) + "\n")

    for task, (src, tgt, val_src, val_tgt, steps, n_in, n_out) in tasks().items():
        for attention in (None, "additive"):
            for lr, hidden in (DATE_CONFIGS if task == "dates" else CONFIGS):
                run(task, attention, lr, hidden, steps,
                    lambda: s2s.fit_seq2seq(attention, src, tgt, val_src, val_tgt, steps, n_in, n_out, lr=lr,
                                            hidden=hidden, live=False)[0], val_src, val_tgt)
        if task != "dates":
            continue
        for lr in TRANSFORMER_LRS:
            def train_transformer():
                torch.manual_seed(0)  # the same seed as fit_seq2seq's models
                model = transformer(n_in, n_out, **TRANSFORMER)
                s2s.fit_model(model, src, tgt, val_src, val_tgt, steps, lr=lr, live=False)
                return model

            shape = {k: v for k, v in TRANSFORMER.items() if k != "hidden"}
            run(task, "transformer", lr, TRANSFORMER["hidden"], steps, train_transformer, val_src, val_tgt, **shape)
    OUT.write_text(json.dumps({"machine": platform.machine(), "cores": os.cpu_count(), "runs": runs}, indent=1)
                   + "\n")
    print("written", OUT)


if __name__ == "__main__":
    main()
