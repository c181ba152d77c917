"""Benchmarks: each notebook's run time in fast and full mode, its headline metric, and widget update times.

    python3 course.py bench                  all notebooks, both modes (takes as long as a full regeneration)
    python3 course.py bench --fast-only      fast mode only (what CI runs)
    python3 course.py bench 01               only notebooks whose name starts with 01

Prints a Markdown table and writes it to benchmarks/results.md. Times are wall-clock seconds for the whole notebook,
kernel start included, executed the way the tests execute it (no output saved). The CPU thread count is measured once
(course_lib.runtime.pick_threads) and given to every notebook, so the rows are comparable; it is recorded in the table.
Numbers are measurements, not assertions: nothing here fails because something was slow.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def run_notebook(path: Path, fast: bool, threads: int) -> tuple[float, dict]:
    """Execute one notebook in a fresh kernel; return (seconds, metrics it recorded)."""
    with tempfile.TemporaryDirectory() as tmp:
        metrics_file = Path(tmp) / "metrics.json"
        saved = dict(os.environ)
        os.environ.update(COURSE_THREADS=str(threads), COURSE_METRICS=str(metrics_file), TQDM_DISABLE="1",
                          COURSE_OFFLINE="1", HF_HUB_OFFLINE="1")
        if fast:
            os.environ["COURSE_FAST"] = "1"
        else:
            os.environ.pop("COURSE_FAST", None)
        try:
            nb = nbformat.read(path, as_version=4)
            start = time.perf_counter()
            NotebookClient(nb, timeout=-1, kernel_name="python3",
                           resources={"metadata": {"path": str(path.parent)}}).execute()
            seconds = time.perf_counter() - start
        finally:
            os.environ.clear()
            os.environ.update(saved)
        metrics = json.loads(metrics_file.read_text()) if metrics_file.exists() else {}
    return seconds, metrics


def median_ms(update, values, repeats: int = 3) -> float:
    """Median time in ms of ``update(value)`` over the values (each repeated)."""
    times = []
    for _ in range(repeats):
        for value in values:
            start = time.perf_counter()
            update(value)
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def widget_timings() -> list[tuple[str, float]]:
    """Median time of one widget update (controller set + PNG render + image update), on the view as a learner uses it."""
    import torch

    from course_lib.widgets import activation_explorer, prediction_explorer

    rows = []
    view = activation_explorer()
    rows.append(("activation explorer: move x0", median_ms(lambda v: setattr(view.controls["x0"], "value", v),
                                                            [round(-4.9 + 0.3 * i, 1) for i in range(30)])))
    names = ["sigmoid", "tanh", "ReLU", "leaky ReLU", "GELU"]
    rows.append(("activation explorer: change function",
                 median_ms(lambda v: setattr(view.controls["name"], "value", v), names * 2)))
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (500, 28, 28), generator=g, dtype=torch.uint8)
    probs = torch.softmax(torch.randn(500, 10, generator=g), dim=1)
    labels = torch.randint(0, 10, (500,), generator=g)
    pview = prediction_explorer(images, probs, labels, [f"class {k}" for k in range(10)])
    rows.append(("prediction explorer: move image slider",
                 median_ms(lambda v: setattr(pview.controls["index"], "value", v), list(range(1, 31)))))
    return rows


def main(args: list[str]) -> None:
    from course_lib.runtime import pick_threads

    fast_only = "--fast-only" in args
    prefixes = [a for a in args if not a.startswith("--")]
    notebooks = sorted(p for p in (ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb")
                       if not prefixes or any(p.name.startswith(x) for x in prefixes))
    threads = pick_threads()
    lines = [f"Measured {date.today().isoformat()} on {platform.machine()}, {os.cpu_count()} cores, "
             f"Python {platform.python_version()}, CPU threads = {threads} (measured by pick_threads).", "",
             "| notebook | fast mode (s) | full mode (s) | full / fast | headline metric (full mode) |",
             "|---|---:|---:|---:|---|"]
    for path in notebooks:
        print(f"[bench] {path.name}: fast mode", flush=True)
        fast_s, _ = run_notebook(path, fast=True, threads=threads)
        full_s, metrics = (float("nan"), {})
        if not fast_only:
            print(f"[bench] {path.name}: full mode", flush=True)
            full_s, metrics = run_notebook(path, fast=False, threads=threads)
        metric_text = "; ".join(f"{k} = {v:.4f}" for k, v in metrics.items()) or "—"
        ratio = f"{full_s / fast_s:.1f}" if full_s == full_s else "—"
        full_text = f"{full_s:.1f}" if full_s == full_s else "not run"
        lines.append(f"| {path.stem} | {fast_s:.1f} | {full_text} | {ratio} | {metric_text} |")
    lines += ["", "| widget update (median of 3 passes) | ms | target |", "|---|---:|---:|"]
    for name, ms in widget_timings():
        lines.append(f"| {name} | {ms:.1f} | ≤ 50 |")
    table = "\n".join(lines)
    print(table)
    if not prefixes:
        out = ROOT / "benchmarks" / ("results-fast.md" if fast_only else "results.md")
        out.write_text("# Benchmark results\n\nProduced by `python3 course.py bench`"
                       + (" --fast-only" if fast_only else "") + "; do not edit by hand.\n\n" + table + "\n")
        print(f"[bench] written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1:])
