"""Notebook 04's tuning runs for the adding-problem race: the same effort for every cell; and its curriculum run.

For each cell and each initialisation in ``course_lib.adding.INITS`` (the RNN with tanh units: PyTorch's default,
orthogonal W_hh, identity W_hh; the IRNN of Le et al., 2015: ReLU units and identity W_hh; the LSTM: default, forget
bias 1; the GRU: default), train at T = 20 and T = 100 for the race's steps with Adam at learning rates 1e-3, 3e-3 and
1e-2 (clipping at 1, batch 64, 64 units, training seed 0), and score the MSE on 2,000 *validation* sequences
(``adding.heldout_mse``: a seed that neither training nor the race's held-out sequences use). A cell's best setting
(initialisation, learning rate) is the one with the lowest validation MSE summed over the two lengths: one rule for
every cell. Notebook 04 races each cell at its best setting, from other training seeds.

Then exercise 2 of notebook 04, measured: the LSTM at its best rate trained directly at T = 200 for 1,500 steps,
against a curriculum (500 steps at T = 20, then 400 at T = 200 at 3e-3): the held-out MSE every 10 steps at T = 200,
the first step below 1/12 and below 0.01, and the seconds.

Writes ``benchmarks/adding-tuning.json``; each finished run is appended to ``build/adding-tuning.jsonl`` and not
repeated (delete it to start afresh).

    .venv/bin/python benchmarks/adding.py      # about 10 minutes on 2 cores, run alone
"""
import json
import os
import platform
import time
from pathlib import Path

import torch
from torch import nn

from course_lib import adding, data, runtime, train

OUT = Path(__file__).with_name("adding-tuning.json")
PARTIAL = Path(__file__).parent.parent / "build" / "adding-tuning.jsonl"
LENGTHS, STEPS = (20, 100), 1500
LEARNING_RATES = (1e-3, 3e-3, 1e-2)


def first_below(history: train.History, level: float) -> int | None:
    return next((step for step, mse in zip(history.eval_steps, history.eval_loss) if mse < level), None)


def curriculum(lr: float) -> dict:
    """Exercise 2's two ways to T = 200, measured (seed 1, the race's first seed)."""
    rows = {}
    start = time.perf_counter()
    _, direct = adding.fit_adding("LSTM", 200, 1500, lr, seed=1, eval_every=10)
    rows["direct"] = {"steps_at_200": 1500, "seconds": round(time.perf_counter() - start, 1)}
    start = time.perf_counter()
    model, _ = adding.fit_adding("LSTM", 20, 500, lr, seed=1)
    before = adding.heldout_mse(model, 200)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    batches = (data.adding_task(64, 200, seed=50_000 + k) for k in range(10**6))
    staged = train.fit(model, batches, nn.functional.mse_loss, optimizer, steps=400, eval_batches=[adding.heldout(200)],
                       eval_every=10, clip_grad_norm=1.0, live=False)
    rows["curriculum"] = {"steps_at_20": 500, "steps_at_200": 400, "seconds": round(time.perf_counter() - start, 1),
                          "mse_at_200_before": round(before, 4)}
    for name, history in (("direct", direct), ("curriculum", staged)):
        rows[name].update(first_below_one_twelfth=first_below(history, adding.ONE_NUMBER_LEVEL),
                          first_below_001=first_below(history, 0.01), final_mse=round(history.final_eval_loss, 5),
                          curve=[[s, round(m, 5)] for s, m in zip(history.eval_steps, history.eval_loss)])
    return rows


def main():
    threads = runtime.pick_threads()
    torch.set_num_threads(threads)
    done = [json.loads(line) for line in PARTIAL.read_text().splitlines()] if PARTIAL.exists() else []
    PARTIAL.parent.mkdir(exist_ok=True)
    runs = []
    for cell, inits in adding.INITS.items():
        for init in inits:
            for lr, length in ((lr, length) for lr in LEARNING_RATES for length in LENGTHS):
                key = (cell, init, lr, length, STEPS)
                same = [r for r in done if (r["cell"], r["init"], r["lr"], r["length"], r["steps"]) == key]
                if same:
                    runs.append(same[0])
                    continue
                start = time.perf_counter()
                model, _ = adding.fit_adding(cell, length, STEPS, lr, init)
                seconds = time.perf_counter() - start
                runs.append({"cell": cell, "init": init, "lr": lr, "length": length, "steps": STEPS,
                             "val_mse": round(adding.heldout_mse(model, length), 5), "seconds": round(seconds, 1),
                             "threads": threads})
                print(runs[-1], flush=True)
                with PARTIAL.open("a") as f:
                    f.write(json.dumps(runs[-1]) + "\n")
    previous = json.loads(OUT.read_text()) if OUT.exists() else {}
    best = adding.best_settings(runs)
    lstm_lr = best["LSTM"]["lr"]
    if previous.get("curriculum", {}).get("lr") != lstm_lr:
        previous["curriculum"] = {"lr": lstm_lr, "threads": threads, **curriculum(lstm_lr)}
    OUT.write_text(json.dumps({"machine": platform.machine(), "cores": os.cpu_count(), "lengths": LENGTHS,
                               "steps": STEPS, "runs": runs, "curriculum": previous["curriculum"]}, indent=1) + "\n")
    for cell, row in adding.best_settings(runs).items():
        print(f"best {cell}: init {row['init']}, lr {row['lr']}, validation MSE by length {row['val_mse']}")
    print("written", OUT)


if __name__ == "__main__":
    main()
