"""Benchmarks: each notebook's run time in fast and full mode, its headline metric, and widget update times.

    python3 course.py bench                  every notebook in fast mode; full-mode columns from the last regeneration
    python3 course.py bench --full           also re-run every notebook in full mode here (as long as a regeneration)
    python3 course.py bench 01               only notebooks whose name starts with 01

Prints a Markdown table and writes it to benchmarks/results.md. Times are wall-clock seconds for the whole notebook,
kernel start included. Full mode is what `python3 course.py regenerate` runs to store the notebooks' outputs; it records
each notebook's time and headline metrics in benchmarks/full-mode-runs.json, which this table reads unless --full. The CPU thread count is measured once
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

    from course_lib import data, rnn
    from course_lib.widgets import activation_explorer, prediction_explorer
    from course_lib.widgets.gates import gate_explorer

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
    from course_lib import cnn
    from course_lib.widgets.convolution import KERNELS, convolution_explorer, feature_map_explorer

    photo = torch.rand(48, 48, generator=g)  # the size notebook 09 shows
    cview = convolution_explorer(photo)
    rows.append(("convolution explorer (48 x 48 image): move the window",
                 median_ms(lambda v: setattr(cview.controls["position"], "value", v), list(range(1, 31)))))
    rows.append(("convolution explorer (48 x 48 image): change kernel",
                 median_ms(lambda v: setattr(cview.controls["kernel"], "value", v), list(KERNELS)[1:] * 2)))
    torch.manual_seed(0)
    small = cnn.SmallCNN()
    fview = feature_map_explorer(small, torch.rand(30, 1, 28, 28, generator=g), {"conv 1": small.features[0]})
    rows.append(("feature-map explorer (16 channels): move image slider",
                 median_ms(lambda v: setattr(fview.controls["image"], "value", v), list(range(1, 30)))))
    val_text = data.shakespeare("val")
    vocab = data.CharVocab.from_text(data.shakespeare("train"))
    for cell in ("lstm", "gru"):  # the notebooks' sizes; the weights do not change the drawing time
        torch.manual_seed(0)
        model = rnn.CharLM(vocab_size=len(vocab), cell=cell, hidden=384 if cell == "lstm" else 256, reference=True)
        gview = gate_explorer(model, vocab, {"passage": val_text[:110]}, val_text[10_000:])
        rows.append((f"{cell.upper()} gate explorer: move step slider",
                     median_ms(lambda v: setattr(gview.controls["step"], "value", v), list(range(1, 31)))))
        if cell == "lstm":
            texts = [val_text[k * 500 : k * 500 + 100] for k in range(1, 6)]
            rows.append(("LSTM gate explorer: new text (runs the model; explicit action, not a slider move)",
                         median_ms(lambda v: setattr(gview.controls["text"], "value", v), texts, repeats=1)))
    from course_lib import seq2seq as s2s
    from course_lib.widgets.attention import attention_explorer

    torch.manual_seed(0)  # notebook 05's date model; the weights do not change the drawing time
    src_vocab, tgt_vocab = s2s.date_vocabs()
    model = s2s.Seq2Seq(s2s.Seq2SeqConfig(len(src_vocab), len(tgt_vocab), emb=16, hidden=128))

    def run_model(text):
        _, labels, weights = s2s.translate(model, text, src_vocab, tgt_vocab, max_len=12)
        return labels, list(text), weights

    first = "Wednesday, 27 September 1995"
    aview = attention_explorer(*run_model(first), reveal=True, compute=run_model, text=first,
                               query_name="output", key_name="input")
    n_steps = aview.controller.weights.shape[2]
    rows.append(("attention explorer (05): move step slider",
                 median_ms(lambda v: setattr(aview.controls["step"], "value", v),
                           [k % n_steps for k in range(1, 31)])))
    dates = [text for text, _ in data.date_task(10, seed=4)]
    rows.append(("attention explorer (05): new date (runs the model; explicit action, not a slider move)",
                 median_ms(lambda v: setattr(aview.controls["text"], "value", v), dates, repeats=1)))

    from course_lib import gpt
    from course_lib.transformer import Seq2SeqTransformer, TransformerConfig
    from course_lib.widgets.sampling import sampling_explorer

    torch.manual_seed(0)  # notebook 06's date Transformer: 2 layers x 4 heads, the grid beside the big map
    tmodel = Seq2SeqTransformer(TransformerConfig(len(src_vocab), len(tgt_vocab), max_len=32))

    def run_transformer(text):
        _, labels, weights = s2s.translate(tmodel, text, src_vocab, tgt_vocab, max_len=12)
        return labels, list(text), weights

    tview = attention_explorer(*run_transformer(first), compute=run_transformer, text=first,
                               query_name="output", key_name="input")
    heads = [(layer, head) for layer in range(2) for head in range(4)]
    rows.append(("attention explorer (06, 2 x 4 heads): change head",
                 median_ms(lambda v: setattr(tview.controls["head"], "value", v), [h for _, h in heads[1:]] * 4)))
    rows.append(("attention explorer (06, 2 x 4 heads): move step slider",
                 median_ms(lambda v: setattr(tview.controls["step"], "value", v),
                           [k % tview.controller.weights.shape[2] for k in range(1, 31)])))
    torch.manual_seed(0)  # notebook 07's GPT shape (the nanoGPT CPU recipe); the weights do not change the times
    gmodel = gpt.GPT(vocab_size=len(vocab), block_size=64, n_layer=4, n_head=4, n_embd=128)
    sview = sampling_explorer(gmodel, vocab, prompt="ROMEO:", n=200, seed=0)
    rows.append(("sampling explorer (07): move position slider",
                 median_ms(lambda v: setattr(sview.controls["position"], "value", v), list(range(1, 31)))))
    rows.append(("sampling explorer (07): new 200-character sample (runs the model; explicit action)",
                 median_ms(lambda v: setattr(sview.controls["seed"], "value", v), list(range(1, 6)), repeats=1)))
    from course_lib.widgets.sampling import gpt_attention

    passage = data.shakespeare("val")[:64]
    gview = attention_explorer(*gpt_attention(gmodel, vocab, passage))  # 4 layers x 4 heads, 64 x 64 maps
    rows.append(("attention explorer (07, 4 x 4 heads, 64 characters): change head",
                 median_ms(lambda v: setattr(gview.controls["head"], "value", v), [1, 2, 3, 0] * 4)))
    rows.append(("attention explorer (07, 4 x 4 heads, 64 characters): move step slider",
                 median_ms(lambda v: setattr(gview.controls["step"], "value", v), list(range(1, 31)))))
    from course_lib import bert
    from course_lib.widgets.fillmask import fill_mask_explorer

    tokenizer = bert.wordpiece_tokenizer()
    bert_model = (bert.load_pretrained(tokenizer) if bert.PRETRAINED.exists()
                  else bert.BertForPreTraining(tokenizer.get_vocab_size(), **bert.PRETRAINED_CONFIG).eval())
    fview = fill_mask_explorer(bert_model, tokenizer, "i pray you, [MASK] me your hand")
    sentences = ["o my [MASK], my lord", "the [MASK] of denmark", "now is the [MASK] of our discontent",
                 "my good [MASK], the king is dead"]
    rows.append(("fill-mask explorer (08): new sentence (runs the model, redraws the attention explorer; explicit "
                 "action)", median_ms(lambda v: setattr(fview.text, "value", v), sentences * 2, repeats=1)))
    rows.append(("fill-mask explorer (08): hide another word (runs the model; explicit action)",
                 median_ms(lambda v: setattr(fview.hide, "value", v), [0, 1, 2, 3, -1] * 2, repeats=1)))
    rows.append(("fill-mask explorer (08): its attention explorer, move step slider",
                 median_ms(lambda v: setattr(fview.attention.controls["step"], "value", v), list(range(1, 9)))))
    fview.close()
    from course_lib.widgets.confusion import confusion_explorer

    labels = torch.randint(0, 10, (10_000,), generator=g)  # notebook 11's size: 10,000 test pictures, 5 models
    guesses = {f"model {k}": torch.where(torch.rand(10_000, generator=g) < 0.9 - 0.1 * k, labels,
                                         torch.randint(0, 10, (10_000,), generator=g)) for k in range(5)}
    cview = confusion_explorer(guesses, labels, [f"class {k}" for k in range(10)])
    rows.append(("confusion explorer (11): change model",
                 median_ms(lambda v: setattr(cview.controls["model"], "value", v), list(guesses)[1:] + ["model 0"])))
    rows.append(("confusion explorer (11): counts / row shares",
                 median_ms(lambda v: setattr(cview.controls["norm"], "value", v), ["count", "row"] * 3)))
    cview.close()
    return rows


def generation_rows() -> list[str]:
    """Notebook 07: GPT generation with and without the key/value cache, the same text both ways (its shape: 4 layers,
    4 heads, width 128, block 64; the weights do not change the time)."""
    import torch

    from course_lib import data, gpt

    vocab = data.CharVocab.from_text(data.shakespeare("train"))
    torch.manual_seed(0)
    model = gpt.GPT(vocab_size=len(vocab), block_size=64, n_layer=4, n_head=4, n_embd=128)
    rows = ["", "GPT generation (notebook 07), characters per second, median of 3 runs, temperature 0.8, seed 7, "
            f"prompt 'D', {torch.get_num_threads()} threads:", "",
            "| characters generated | without the cache | with the cache | speed-up | same text |",
            "|---:|---:|---:|---:|---|"]
    for n in (63, 300):  # 63: the window of 64 just fills; 300: the cache is dropped once it is full
        speed, texts = {}, {}
        for use_cache in (False, True):
            seconds = []
            for _ in range(3):
                start = time.perf_counter()
                texts[use_cache] = model.generate(vocab, "D", n, temperature=0.8, use_cache=use_cache,
                                                  generator=torch.Generator().manual_seed(7))
                seconds.append(time.perf_counter() - start)
            speed[use_cache] = n / sorted(seconds)[1]
        rows.append(f"| {n} | {speed[False]:,.0f} | {speed[True]:,.0f} | {speed[True] / speed[False]:.2f}x | "
                    f"{texts[False] == texts[True]} |")
    return rows


def attention_rows() -> list[str]:
    """Notebooks 05 and 06's tuning runs (benchmarks/attention.py -> benchmarks/attention-tuning.json)."""
    path = ROOT / "benchmarks" / "attention-tuning.json"
    if not path.exists():
        return ["", "(no attention tuning results yet: run `.venv/bin/python benchmarks/attention.py`)"]
    rows = ["", "Notebooks 05 and 06 tuning runs: each model and task at notebook 05's step budget, validation exact match by "
            "greedy decoding (`benchmarks/attention.py`; the notebooks train each model with its best row; 05 compares "
            "at width 128):", "",
            "| task | attention | learning rate | width | steps | held-out exact match |", "|---|---|---:|---:|---:|---:|"]
    for r in json.loads(path.read_text())["runs"]:
        rows.append(f"| {r['task']} | {r['attention'] or 'none'} | {r['lr']:g} | {r['hidden']} | {r['steps']} | "
                    f"{r['exact']:.3f} |")
    return rows


def adding_rows() -> list[str]:
    """Notebook 04's adding-problem search (benchmarks/adding.py -> benchmarks/adding-tuning.json)."""
    path = ROOT / "benchmarks" / "adding-tuning.json"
    if not path.exists():
        return ["", "(no adding-problem search yet: run `.venv/bin/python benchmarks/adding.py`)"]
    from course_lib import adding

    tuning = json.loads(path.read_text())
    rows = ["", f"Notebook 04's adding-problem search: every cell and initialisation at three learning rates, "
            f"{tuning['steps']} steps of 64 sequences, validation MSE (levels: 1/6 = 0.167 learned nothing, 1/12 = "
            "0.083 only the second number; `benchmarks/adding.py`; the race uses each cell's best setting):", "",
            "| cell | initialisation | learning rate | T | validation MSE | seconds |", "|---|---|---:|---:|---:|---:|"]
    for r in sorted(tuning["runs"], key=lambda r: (r["cell"], r["init"], r["length"], r["lr"])):
        rows.append(f"| {r['cell']} | {r['init']} | {r['lr']:g} | {r['length']} | {r['val_mse']:.4f} | "
                    f"{r['seconds']:.1f} |")
    best = adding.best_settings(tuning["runs"])
    rows += ["", "Best settings (lowest validation MSE summed over the lengths): "
             + "; ".join(f"{cell} {b['init']} at {b['lr']:g}" for cell, b in best.items()) + "."]
    if "curriculum" in tuning:
        c = tuning["curriculum"]
        rows += ["", f"Notebook 04, exercise 2: the LSTM (learning rate {c['lr']:g}) on T = 200, trained directly or after "
                 "500 steps at T = 20 (a curriculum); held-out MSE at T = 200 every 10 steps:", "",
                 "| run | steps at T = 200 | first step below 1/12 | first step below 0.01 | final MSE | seconds |",
                 "|---|---:|---:|---:|---:|---:|"]
        for name in ("direct", "curriculum"):
            r = c[name]
            rows.append(f"| {name} | {r['steps_at_200']} | {r['first_below_one_twelfth'] or 'never'} | "
                        f"{r['first_below_001'] or 'never'} | {r['final_mse']:.4f} | {r['seconds']:.0f} |")
    return rows


def resnet_rows() -> list[str]:
    """Issue 12's headline run (benchmarks/resnet.py -> benchmarks/resnet-results.json)."""
    path = ROOT / "benchmarks" / "resnet-results.json"
    if not path.exists():
        return ["", "(no ResNet run yet: run `.venv/bin/python benchmarks/resnet.py`, about 10 minutes)"]
    r = json.loads(path.read_text())
    return ["", "ResNet on Fashion-MNIST (`benchmarks/resnet.py`; goal: test accuracy >= 92% within 10 minutes of "
            "training on this 2-core machine):", "",
            "| model | parameters | epochs | steps x batch | threads | training minutes | last validation accuracy | "
            "test accuracy |", "|---|---:|---:|---|---:|---:|---:|---:|",
            f"| ResNet-{r['depth']}, width {r['width']} | {r['parameters']:,} | {r['epochs']} | {r['steps']} x "
            f"{r['batch']} | {r['threads']} | {r['train_minutes']:.1f} | {r['log'][-1]['val_accuracy']:.4f} | "
            f"{r['test_accuracy']:.4f} |"] + checkpoint_rows()


def checkpoint_rows() -> list[str]:
    """The shipped course checkpoint's training log (data/pretrained/, made by `benchmarks/resnet.py --checkpoint`)."""
    path = ROOT / "data" / "pretrained" / "resnet8-fashion-mnist.log.json"
    if not path.exists():
        return ["", "(no course checkpoint yet: run `.venv/bin/python benchmarks/resnet.py --checkpoint`)"]
    r = json.loads(path.read_text())
    return [f"| course checkpoint (`data/pretrained/`): ResNet-{r['depth']}, width {r['width']}, flips + shifts of up "
            f"to {r['shift']} pixels; goal >= 94% | {r['parameters']:,} | {r['epochs']} | {r['steps']} x {r['batch']} | "
            f"{r['threads']} | {r['train_minutes']:.1f} | {r['log'][-1]['val_accuracy']:.4f} | "
            f"{r['test_accuracy']:.4f} |"]


def bert_rows() -> list[str]:
    """Issue 11: the 10-minute pre-training run (benchmarks/bert.py -> benchmarks/bert-results.json) and the shipped
    checkpoint's log (data/pretrained/bert-tiny-shakespeare.log.json, made by `benchmarks/bert.py --checkpoint`)."""
    rows = ["", "Tiny BERT pre-trained on Shakespeare, masked-token accuracy on the 4 held-out plays (15% of the tokens, "
            "all shown as [MASK]; `benchmarks/bert.py`; goal: >= 3x the unigram baseline within 10 minutes, the "
            "shipped checkpoint >= 5x):", "",
            "| run | parameters | steps x batch x length | masking | threads | training minutes | unigram | bigram | "
            "held-out accuracy | x unigram |", "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    results = ROOT / "benchmarks" / "bert-results.json"
    log = ROOT / "data" / "pretrained" / "bert-tiny-shakespeare.log.json"
    runs = [(name, r) for name, r in json.loads(results.read_text()).items()] if results.exists() else []
    if log.exists():
        r = json.loads(log.read_text())
        runs.append((f"course checkpoint (`data/pretrained/`): width {r['width']}, {r['layers']} layers, "
                     f"{r['steps']} steps", r))
    if not runs:
        return ["", "(no BERT run yet: run `.venv/bin/python benchmarks/bert.py`, about 10 minutes)"]
    for name, r in runs:
        rows.append(f"| {name} | {r['parameters']:,} | {r['steps']} x {r['batch']} x {r['seq']} | {r['rate']:.0%} | "
                    f"{r['threads']} | {r['train_minutes']:.1f} | {r['unigram']:.4f} | {r['bigram']:.4f} | "
                    f"{r['heldout_accuracy']:.4f} | {r['x_unigram']:.2f} |")
    return rows


LARGE_ROWS = [  # notebook 11's measurements (full mode), in the order the notebook makes them
    ("bfloat16 autocast, ResNet-8 inference (batch 256)", "11 bfloat16 autocast speed-up, ResNet-8 inference", "x"),
    ("bfloat16 autocast, ResNet-8 training step (batch 256)", "11 bfloat16 autocast speed-up, ResNet-8 training step",
     "x"),
    ("bfloat16 autocast, ResNet-8 test accuracy change", "11 bfloat16 autocast accuracy change, ResNet-8", "points"),
    ("int8 dynamic quantization, BERT checkpoint: speed-up (512 windows)",
     "11 BERT int8 dynamic quantization speed-up", "x"),
    ("int8 dynamic quantization, BERT checkpoint: checkpoint size ratio",
     "11 BERT int8 dynamic quantization size ratio", "x"),
    ("int8 dynamic quantization, BERT checkpoint: held-out blank accuracy change",
     "11 BERT int8 dynamic quantization held-out accuracy change", "points"),
    ("distillation (ResNet-8 teacher, small CNN student, 5,000 images): test accuracy gain over the student alone, "
     "mean of 3 seeds", "11 distillation gain over the student alone (test accuracy)", "points"),
    ("data parallel: 2 DDP processes x 1 thread vs 1 process x 1 thread, time per step",
     "11 DDP 2 processes speed-up over 1 process (1 thread each)", "x"),
]


def large_model_rows() -> list[str]:
    """Notebook 11's speed-ups and metric changes, from its last full-mode regeneration (full-mode-runs.json)."""
    path = ROOT / "benchmarks" / "full-mode-runs.json"
    run = json.loads(path.read_text()).get("11-large-models-in-practice") if path.exists() else None
    if not run:
        return ["", "(notebook 11 not regenerated yet: `python3 course.py regenerate "
                "notebooks/11-large-models-in-practice.ipynb`)"]
    rows = ["", f"Large models in practice (notebook 11, full mode, {run['date']}, {run['threads']} threads; each "
            "technique against its own baseline on the same machine and data):", "",
            "| technique | measured |", "|---|---:|"]
    for label, key, unit in LARGE_ROWS:
        value = run["metrics"].get(key)
        shown = "—" if value is None else f"{value:.2f}x" if unit == "x" else f"{value * 100:+.2f} points"
        rows.append(f"| {label} | {shown} |")
    return rows


def charlm_rows() -> list[str]:
    """The character-LM rows measured by `python3 course.py bench-charlm` (benchmarks/charlm-results.json)."""
    path = ROOT / "benchmarks" / "charlm-results.json"
    if not path.exists():
        return ["", "(no character-LM results yet: run `python3 course.py bench-charlm`)"]
    rows = ["", "Character language models on Shakespeare, same step budget, held-out = the 4 plays never trained on "
            "(`python3 course.py bench-charlm`):", "",
            "| model | steps × batch × block | train time (s) | tokens/s | threads | held-out nats/char | bits/char "
            "| evaluator | nanoGPT's estimate (64-char blocks) |",
            "|---|---|---:|---:|---:|---:|---:|---|---:|"]
    results = {name: r for name, r in json.loads(path.read_text()).items() if not name.startswith("trial")}
    for name, r in results.items():
        estimate = r.get("block_estimate_nats_per_char")
        rows.append(f"| {name} | {r['steps']} × {r['batch']} × {r['block']} | {r['train_seconds']:.0f} | "
                    f"{r['tokens_per_second']:,} | {r['threads']} | {r['heldout_nats_per_char']:.3f} | "
                    f"{r['heldout_bits_per_char']:.3f} | {r.get('heldout_evaluator', 'stateful stream')} | "
                    f"{'—' if estimate is None else f'{estimate:.3f}'} |")
    lstm = [r for r in results.values() if r["cell"] == "lstm"]
    ours = [r for r in lstm if r["ours"]]
    theirs = [r for r in lstm if not r["ours"] and any(o["hidden"] == r["hidden"] for o in ours)]
    if ours and theirs:
        ratio = theirs[0]["tokens_per_second"] / ours[0]["tokens_per_second"]
        rows += ["", f"Training speed, same configuration: our from-scratch LSTM {ours[0]['tokens_per_second']:,} "
                 f"tokens/s, nn.LSTM {theirs[0]['tokens_per_second']:,} tokens/s: ours is {ratio:.2f}x slower "
                 "(goal: at most 2x)."]
    return rows


def main(args: list[str]) -> None:
    from course_lib.runtime import pick_threads

    rerun_full = "--full" in args
    regenerated = ROOT / "benchmarks" / "full-mode-runs.json"
    previous = json.loads(regenerated.read_text()) if regenerated.exists() else {}
    prefixes = [a for a in args if not a.startswith("--")]
    notebooks = sorted(p for p in (ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb")
                       if not prefixes or any(p.name.startswith(x) for x in prefixes))
    threads = pick_threads()
    lines = [f"Measured {date.today().isoformat()} on {platform.machine()}, {os.cpu_count()} cores, "
             f"Python {platform.python_version()}, CPU threads = {threads} (measured by pick_threads) for the fast-mode runs.",
             "", "Notebook run times (s), kernel start included, and headline metrics (full mode):", "",
             "| notebook | fast mode (s) | full mode (s) | full / fast | headline metric (full mode) |",
             "|---|---:|---:|---:|---|"]
    for path in notebooks:
        print(f"[bench] {path.name}: fast mode", flush=True)
        fast_s, _ = run_notebook(path, fast=True, threads=threads)
        if rerun_full:
            print(f"[bench] {path.name}: full mode", flush=True)
            full_s, metrics = run_notebook(path, fast=False, threads=threads)
            source = f"here, {threads} threads"
        elif path.stem in previous:
            full_s, metrics = previous[path.stem]["seconds"], previous[path.stem]["metrics"]
            source = f"regenerate {previous[path.stem]['date']}, {previous[path.stem]['threads']} threads"
        else:
            full_s, metrics, source = float("nan"), {}, "not run"
        metric_text = "; ".join(f"{k} = {v:.4f}" for k, v in metrics.items()) or "—"
        ratio = f"{full_s / fast_s:.1f}" if full_s == full_s else "—"
        full_text = f"{full_s:.1f} ({source})" if full_s == full_s else "not run"
        lines.append(f"| {path.stem} | {fast_s:.1f} | {full_text} | {ratio} | {metric_text} |")
    lines += charlm_rows()
    lines += adding_rows()
    lines += resnet_rows()
    lines += bert_rows()
    lines += large_model_rows()
    lines += attention_rows()
    lines += generation_rows()
    lines += ["", "| widget update (median of 3 passes) | ms | target |", "|---|---:|---:|"]
    for name, ms in widget_timings():
        lines.append(f"| {name} | {ms:.1f} | {'—' if 'explicit' in name else '≤ 50'} |")
    table = "\n".join(lines)
    print(table)
    if not prefixes:
        out = ROOT / "benchmarks" / "results.md"
        out.write_text("# Benchmark results\n\nProduced by `python3 course.py bench`"
                       + (" --full" if rerun_full else "") + "; do not edit by hand.\n\n" + table + "\n")
        print(f"[bench] written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1:])
