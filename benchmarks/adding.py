"""Notebook 04's tuning runs for the adding-problem race: the same effort for every cell.

For each cell and each initialisation in ``course_lib.adding.INITS`` (the RNN: PyTorch's default, orthogonal W_hh,
identity W_hh; the LSTM: default, forget bias 1; the GRU: default), train at T = 20 and T = 100 for the race's
steps with Adam at learning rates 1e-3, 3e-3 and 1e-2 (clipping at 1, batch 64, 64 units), and score the MSE on 2,000
*validation* sequences (``adding.heldout_mse``: a seed that neither training nor the race's held-out sequences use).
A cell's best setting (initialisation, learning rate) is the one with the lowest validation MSE summed over the two
lengths: one rule for every cell. At T = 100 no RNN setting leaves the 1/6 level, so the short length is where the
RNN's settings differ. Notebook 04 races each cell at its best setting. Writes ``benchmarks/adding-tuning.json``; each finished run is appended to
``build/adding-tuning.jsonl`` and not repeated (delete it to start afresh).

    .venv/bin/python benchmarks/adding.py      # about 15 minutes on 2 cores
"""
import json
import os
import platform
import time
from pathlib import Path

import torch

from course_lib import adding, runtime

OUT = Path(__file__).with_name("adding-tuning.json")
PARTIAL = Path(__file__).parent.parent / "build" / "adding-tuning.jsonl"
LENGTHS, STEPS = (20, 100), 1500
LEARNING_RATES = (1e-3, 3e-3, 1e-2)


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
    OUT.write_text(json.dumps({"machine": platform.machine(), "cores": os.cpu_count(), "lengths": LENGTHS,
                               "steps": STEPS, "runs": runs}, indent=1) + "\n")
    for cell, row in adding.best_settings(runs).items():
        print(f"best {cell}: init {row['init']}, lr {row['lr']}, validation MSE by length {row['val_mse']}")
    print("written", OUT)


if __name__ == "__main__":
    main()
