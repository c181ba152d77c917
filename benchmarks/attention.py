"""Notebook 05's tuning runs: the same effort for the models with and without attention.

For each task (reversal of lengths 1-20, 600 steps; dates, 300 steps — the notebook's budgets) and each model
(no attention, additive attention), train with learning rates 1e-3, 3e-3, 1e-2 at width 128, and width 256 at 3e-3,
with the notebook's recipe (``seq2seq.fit_seq2seq``), and score held-out exact match by greedy decoding.
Writes ``benchmarks/attention-tuning.json``, which notebook 05 prints. Each finished run is also appended to
``build/attention-tuning.jsonl``; a run already there is not repeated (delete the file to start afresh).

    .venv/bin/python benchmarks/attention.py          # about 15 minutes on 2 cores
"""
import json
import os
import platform
import time
from pathlib import Path

import torch

from course_lib import data, runtime
from course_lib import seq2seq as s2s

OUT = Path(__file__).with_name("attention-tuning.json")
PARTIAL = Path(__file__).parent.parent / "build" / "attention-tuning.jsonl"
CONFIGS = [(1e-3, 128), (3e-3, 128), (1e-2, 128), (3e-3, 256)]


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
    PARTIAL.parent.mkdir(exist_ok=True)
    runs = []
    for task, (src, tgt, val_src, val_tgt, steps, n_in, n_out) in tasks().items():
        for attention in (None, "additive"):
            for lr, hidden in CONFIGS:
                same = [r for r in done if (r["task"], r["attention"], r["lr"], r["hidden"], r["steps"])
                        == (task, attention, lr, hidden, steps)]
                if same:
                    runs.append(same[0])
                    continue
                start = time.perf_counter()
                model, history = s2s.fit_seq2seq(attention, src, tgt, val_src, val_tgt, steps, n_in, n_out, lr=lr,
                                                 hidden=hidden, live=False)
                seconds = time.perf_counter() - start
                exact = s2s.decode_accuracy(model, val_src, val_tgt)["exact"]
                runs.append({"task": task, "attention": attention, "lr": lr, "hidden": hidden, "steps": steps,
                             "exact": round(exact, 4), "seconds": round(seconds, 1)})
                print(runs[-1], flush=True)
                with PARTIAL.open("a") as f:
                    f.write(json.dumps(runs[-1]) + "\n")
    OUT.write_text(json.dumps({"threads": threads, "machine": platform.machine(), "cores": os.cpu_count(),
                               "runs": runs}, indent=1) + "\n")
    print("written", OUT)


if __name__ == "__main__":
    main()
