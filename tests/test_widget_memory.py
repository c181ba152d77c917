"""Re-running a widget cell must not grow memory (issue #15, "Widgets over a long notebook run").

A learner re-runs cells all day. Each run of a widget cell makes a new widget; ipywidgets keeps every open widget in
its registry until ``close()``, and IPython keeps every displayed result in ``Out``, so an old widget and its figure
used to stay alive for the whole session (10 gate explorers ≈ 139 MB). Now the base closes the views an earlier run
of the same cell created (it reads the cell id JupyterLab sends with each execute request).

The in-process tests fake that request (``get_ipython().parent_header``, as ipykernel 7 sets it) and re-create each
widget 20 times the way a re-run cell would, holding every view as ``Out`` does. Memory (RSS after ``gc`` and
``malloc_trim``), the live matplotlib ``Figure`` objects and the ipywidgets registry must stay flat. A control runs
the same loop with no cell id (nothing is closed) and shows that the same measurements see that leak. One test drives a
real ipykernel with JupyterLab-style requests, so the cell id is read where the kernel really puts it.
"""
from __future__ import annotations

import ctypes
import gc
import itertools
import os
import time
import types
from pathlib import Path

import IPython
import pytest
import torch
from ipywidgets.widgets.widget import _instances as widget_registry
from matplotlib.figure import Figure

from course_lib import rnn
from course_lib.data import CharVocab
from course_lib.widgets import activation_explorer, prediction_explorer
from course_lib.widgets.attention import attention_explorer
from course_lib.widgets.gates import gate_explorer

ROOT = Path(__file__).resolve().parent.parent
RUNS = 20
WARM_UP = 1  # runs before the first measurement, so that one widget is open at both measurements
# One leaked widget holds 2 MB (activation explorer) to 15 MB (LSTM gate explorer with these tiny models). RSS settles
# over the first ~5-10 big figures a process draws: the C allocator keeps up to ~10-15 MB of freed heap for reuse
# (glibc's mallinfo2 shows the memory in use flat and the free heap growing once, then flat). So two limits: growth over
# all RUNS re-runs, and growth over their last half, where a leak of even the smallest widget adds ~20 MB. The live
# figures and the widget registry must not grow at all.
RSS_LIMIT_MB = 30.0
RSS_LIMIT_LAST_HALF_MB = 5.0

TEXT = "Hamlet:\nTo be, or not to be: that is the question.\n\nOphelia:\nGood my lord,\nHow does your honour?\n"
SAMPLE = TEXT * 4


def rss_mb(collect: bool = True) -> float:
    """Resident memory after a full collection, with freed heap pages given back to the system."""
    if collect:
        gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:  # not glibc: the measurement is only noisier
        pass
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def live_figures(collect: bool = True) -> int:
    if collect:
        gc.collect()
    return sum(issubclass(type(o), Figure) for o in gc.get_objects())  # type(): no lazy attribute lookups


def measure() -> dict:
    gc.collect()
    return {"rss_mb": rss_mb(collect=False), "figures": live_figures(collect=False), "widgets": len(widget_registry)}


_requests = itertools.count()


def run_cell(cell_id: str | None, make):
    """Call ``make()`` as a run of notebook cell ``cell_id`` would: a new execute request (None: no cell id sent)."""
    header = {"msg_type": "execute_request", "msg_id": f"request-{next(_requests)}"}
    shell = types.SimpleNamespace(parent_header={"header": header,
                                                 "metadata": {"cellId": cell_id} if cell_id else {}})
    real = IPython.get_ipython
    IPython.get_ipython = lambda: shell
    try:
        return make()
    finally:
        IPython.get_ipython = real


@pytest.fixture(scope="module")
def makers():
    vocab = CharVocab.from_text(SAMPLE)
    torch.manual_seed(0)
    lstm = rnn.CharLM(vocab_size=len(vocab), cell="lstm", emb=8, hidden=16)
    gru = rnn.CharLM(vocab_size=len(vocab), cell="gru", emb=8, hidden=16)
    g = torch.Generator().manual_seed(0)
    images, labels = torch.rand(30, 28, 28, generator=g), torch.arange(30) % 3
    probs = torch.softmax(torch.randn(30, 3, generator=g), dim=1)
    passages = {"first": TEXT[:24], "second": TEXT[24:48]}
    attention_weights = torch.softmax(torch.randn(2, 3, 10, 16, generator=g), dim=-1)  # 2 layers, 3 heads
    makers = {
        "activation": lambda: activation_explorer("tanh", x0=1.0),
        "prediction": lambda: prediction_explorer(images, probs, labels, ["a", "b", "c"]),
        "lstm-gates": lambda: gate_explorer(lstm, vocab, passages, SAMPLE),
        "gru-gates": lambda: gate_explorer(gru, vocab, passages, SAMPLE),
        "attention": lambda: attention_explorer(list("abcdefghij"), list("klmnopqrstuvwxyz"), attention_weights,
                                                reveal=True),
    }
    for make in makers.values():  # the process's one-time caches (fonts, glyphs, tick formatters) fill here
        make().close()
    return makers


def rerun(make, cell_id, runs: int, out: list) -> dict:
    """Warm up, measure, re-run the cell ``runs`` times keeping every view in ``out`` (as IPython's Out), measuring
    half-way and at the end."""
    for _ in range(WARM_UP):
        out.append(run_cell(cell_id, make))
    numbers = {"before": measure()}
    for k in range(runs):
        out.append(run_cell(cell_id, make))
        if k + 1 == runs // 2:
            numbers["half"] = measure()
    numbers["after"] = measure()
    return numbers


def report(name: str, numbers: dict) -> str:
    before, half, after = numbers["before"], numbers["half"], numbers["after"]
    return (f"{name}: RSS {before['rss_mb']:.1f} -> {half['rss_mb']:.1f} -> {after['rss_mb']:.1f} MB "
            f"(+{after['rss_mb'] - before['rss_mb']:.1f}, last half +{after['rss_mb'] - half['rss_mb']:.1f}), "
            f"figures {before['figures']} -> {after['figures']}, widgets {before['widgets']} -> {after['widgets']}")


@pytest.mark.parametrize("widget", ["activation", "prediction", "lstm-gates", "gru-gates", "attention"])
def test_rerunning_a_widget_cell_keeps_memory_flat(makers, widget):
    out: list = []
    start = time.perf_counter()
    try:
        numbers = rerun(makers[widget], f"cell-{widget}", RUNS, out)
        before, half, after = numbers["before"], numbers["half"], numbers["after"]
        print(report(f"{widget} ({RUNS} re-runs, {time.perf_counter() - start:.1f} s)", numbers))
        assert all(view.closed for view in out[:-1]) and not out[-1].closed  # only the last run's widget is open
        assert after["figures"] == half["figures"] == before["figures"]
        assert after["widgets"] == half["widgets"] == before["widgets"]
        assert after["rss_mb"] - before["rss_mb"] < RSS_LIMIT_MB
        assert after["rss_mb"] - half["rss_mb"] < RSS_LIMIT_LAST_HALF_MB
        view = out[-1]  # the widget of the last run still works
        first = view.image.value
        assert view.update(**({"x0": -2.0} if widget == "activation" else
                              {"index": 3} if widget == "prediction" else {"step": 5}))
        assert view.image.value != first
    finally:
        for view in out:
            view.close()


def test_control_the_measurements_see_a_leak(makers):
    """The same loop with no cell id: nothing is closed, the views are held as Out holds them, so every measurement
    grows. This is what the original code did on every re-run (it had no close at all)."""
    out: list = []
    try:
        numbers = rerun(makers["activation"], None, RUNS, out)
        before, half, after = numbers["before"], numbers["half"], numbers["after"]
        print(report("control (activation explorer, nothing closed)", numbers))
        assert not any(view.closed for view in out)
        assert after["figures"] == before["figures"] + RUNS
        assert after["widgets"] > before["widgets"] + RUNS
        assert after["rss_mb"] - before["rss_mb"] > RSS_LIMIT_MB  # the smallest widget's leak crosses both limits
        assert after["rss_mb"] - half["rss_mb"] > RSS_LIMIT_LAST_HALF_MB
    finally:
        for view in out:
            view.close()
    assert live_figures() <= numbers["before"]["figures"] - WARM_UP  # closing them released every figure


def test_close_releases_the_widgets_and_the_figure(makers):
    base = measure()
    view = makers["lstm-gates"]()
    grown = measure()
    assert grown["figures"] == base["figures"] + 1 and grown["widgets"] > base["widgets"]
    controller = view.controller
    view.close()
    view.close()  # twice is harmless
    after = measure()
    assert after["figures"] == base["figures"] and after["widgets"] == base["widgets"]
    assert view.closed and controller.closed and view.image.value == b""
    with pytest.raises(RuntimeError, match="closed"):
        view.update(step=2)
    with pytest.raises(RuntimeError, match="closed"):
        controller.png()
    with pytest.raises(RuntimeError, match="closed"):
        controller.state
    assert "closed" in view._repr_mimebundle_()["text/plain"]
    other = makers["activation"]()
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):  # an open controller still says AttributeError
        other.controller.nothing
    other.close()


def test_only_a_rerun_of_the_same_cell_closes_a_widget(makers):
    make = makers["activation"]
    views = []
    try:
        views += run_cell("A", lambda: [make(), make()])  # two widgets in one run of a cell
        views.append(run_cell("B", make))  # another cell
        assert not any(v.closed for v in views)
        views.append(run_cell("A", make))  # re-running A closes A's two widgets only
        assert [v.closed for v in views] == [True, True, False, False]
        views.append(run_cell(None, make))  # no cell id (nbval, plain Python): nothing is closed
        views.append(run_cell(None, make))
        assert [v.closed for v in views] == [True, True, False, False, False, False]
    finally:
        for v in views:
            v.close()


def _kernel_run(kc, code: str, cell_id: str | None, timeout: float = 60) -> str:
    """Send an execute request as JupyterLab does (the cell id in the metadata); return the stdout, fail on error."""
    msg = kc.session.msg("execute_request", {"code": code, "silent": False, "store_history": True,
                                             "user_expressions": {}, "allow_stdin": False, "stop_on_error": True})
    msg["metadata"] = {"cellId": cell_id} if cell_id else {}
    kc.shell_channel.send(msg)
    out, deadline = [], time.monotonic() + timeout
    while True:
        reply = kc.get_iopub_msg(timeout=max(1.0, deadline - time.monotonic()))
        if reply["parent_header"].get("msg_id") != msg["header"]["msg_id"]:
            continue
        kind, content = reply["msg_type"], reply["content"]
        if kind == "stream":
            out.append(content["text"])
        elif kind == "error":
            raise AssertionError(f"the kernel raised {content['ename']}: {content['evalue']}")
        elif kind == "status" and content["execution_state"] == "idle":
            return "".join(out)


def test_a_real_kernel_closes_the_widget_of_the_previous_run():
    """ipykernel 7 with JupyterLab-style requests: the cell id is where the base looks for it."""
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3", cwd=str(ROOT), startup_timeout=60)
    try:
        _kernel_run(kc, "from course_lib.widgets import activation_explorer\n"
                        "from ipywidgets.widgets.widget import _instances\n"
                        "views = []", None)
        make = "views.append(activation_explorer())"
        _kernel_run(kc, make + "\n" + make, "cell-a")  # two widgets in one run
        _kernel_run(kc, make, "cell-b")
        _kernel_run(kc, "registry = len(_instances)", None)
        _kernel_run(kc, make, "cell-a")  # the re-run
        shown = _kernel_run(kc, "print([v.closed for v in views], len(_instances) - registry)", None)
        # the re-run closed cell-a's two widgets and added one: the registry shrank by one widget's worth
        closed, delta = shown.rsplit("] ", 1)
        assert closed + "]" == "[True, True, False, False]"
        assert int(delta) < 0
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
