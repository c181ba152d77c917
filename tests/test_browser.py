"""The widgets in a real browser: the course's JupyterLab in headless Chromium (Debian's), driven by Playwright.

For each widget notebook: open it, clear and run all cells, wait for every widget to render, then operate each widget as
a learner would (arrow keys on a slider, a dropdown entry, a toggle button) and check that the picture changed and that
the browser console shows no errors. Before/after screenshots go to build/browser-screenshots/ (printed at the end of
the test session). With COURSE_UPDATE_SCREENSHOTS=1 the "after" pictures are also copied to docs/screenshots/ for the
README.

A fixture notebook with two deliberately broken widgets (one whose callback raises, one whose picture never changes)
shows that this test fails when it should.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "build" / "browser-screenshots"
README_SHOTS = ROOT / "docs" / "screenshots"

# What a learner does with each widget, per notebook, in the order the widgets appear.
# An action is (kind, control index, argument): ("slider", i, presses), ("dropdown", i, option), ("toggle", i, label),
# ("text", i, text typed then Enter), ("play", i, None) pressing Play (keep it last: it goes on changing the picture).
WIDGETS = {
    "notebooks/00-getting-started.ipynb": [
        ("activation-explorer", [("slider", 0, 3), ("dropdown", 0, "leaky ReLU"), ("slider", 1, 5)]),
    ],
    "notebooks/01-nn-basics.ipynb": [
        ("prediction-explorer", [("slider", 0, 3), ("toggle", 0, "mistakes"), ("slider", 0, 1)]),
    ],
    "notebooks/03-lstm.ipynb": [
        ("lstm-gate-explorer", [("text", 0, "Hamlet: To be, or not to be, that is the question."),
                                ("dropdown", 1, "line start"), ("slider", 0, 4), ("play", 0, None)]),
    ],
    "notebooks/04-gru.ipynb": [
        ("gru-gate-explorer", [("dropdown", 0, "Julius Caesar, Act III"), ("slider", 0, 3), ("play", 0, None)]),
    ],
    "notebooks/05-attention.ipynb": [
        ("attention-explorer", [("text", 0, "Monday, 7 March 1994"), ("slider", 0, 6), ("play", 0, None)]),
    ],
    "notebooks/06-transformer.ipynb": [
        ("transformer-attention-explorer", [("text", 0, "Monday, 7 March 1994"), ("dropdown", 0, "1"),
                                            ("dropdown", 1, "3"), ("slider", 0, 4)]),
        ("transformer-encoder-explorer", [("text", 0, "Monday, 7 March 1994"), ("dropdown", 0, "1"),
                                          ("dropdown", 1, "2"), ("slider", 0, 3)]),
    ],
    "notebooks/07-gpt.ipynb": [
        # sampling explorer sliders: 0 characters, 1 temperature, 2 top-k, 3 top-p, 4 position
        ("sampling-explorer", [("slider", 4, 5), ("toggle", 0, "model's own p"), ("slider", 1, 1)]),
        ("gpt-attention-explorer", [("slider", 0, 3), ("text", 0, "Duke Orsino: Duke Orsino: Duke Orsino")]),
    ],
    "notebooks/08-bert-mlm.ipynb": [
        # the fill-mask chart (controls: 0 the sentence, dropdown 0 the word to hide), then its attention explorer
        ("fill-mask-explorer", [("text", 0, "the king is [MASK]"), ("dropdown", 0, "1: king")]),
        ("bert-attention-explorer", [("slider", 0, 3), ("dropdown", 0, "1")]),
        ("minilm-attention-explorer", [("text", 0, "The quick brown fox jumps over the lazy dog."),
                                       ("dropdown", 0, "3"), ("slider", 0, 4)]),
    ],
    "notebooks/09-cnn.ipynb": [
        # convolution explorer sliders: 0 position, 1 stride, 2 padding
        ("convolution-explorer", [("slider", 0, 3), ("dropdown", 0, "blur (box)"), ("slider", 1, 1), ("slider", 2, 1)]),
        # feature-map explorer sliders: 0 image, 1 first channel
        ("cnn-feature-maps", [("slider", 0, 2), ("dropdown", 0, "max-pool 2 (64 x 7 x 7)"), ("slider", 1, 3)]),
    ],
    "notebooks/10-resnet.ipynb": [
        ("resnet-feature-maps", [("slider", 0, 2), ("dropdown", 0, "stage 2 (64 x 14 x 14)"), ("slider", 1, 2)]),
    ],
    "notebooks/11-large-models-in-practice.ipynb": [
        # confusion explorer: dropdown 0 the model, dropdown 1 the model to compare with, toggle 0 counts / row shares
        ("confusion-explorer", [("dropdown", 0, "ResNet-8 (teacher)"), ("toggle", 0, "count"),
                                ("dropdown", 1, "student distilled")]),
    ],
}

# README pictures taken from the notebooks' stored full-mode outputs (trained models) by
# docs/screenshots/from_notebooks.py, not from this test's fast-mode run
FROM_TRAINED_MODELS = {"lstm-gate-explorer", "gru-gate-explorer", "attention-explorer",
                       "transformer-attention-explorer", "transformer-encoder-explorer", "sampling-explorer",
                       "gpt-attention-explorer", "convolution-explorer", "resnet-feature-maps", "fill-mask-explorer",
                       "bert-attention-explorer", "minilm-attention-explorer", "confusion-explorer"}

# Console messages that are expected offline and harmless (checked against, not ignored wholesale).
CONSOLE_ALLOWLIST = (
    "Failed to load resource",  # Lab asks for optional resources (translations, extension assets) that are absent
    "net::ERR_",  # any attempt to reach the internet fails: the machine is offline
    "[Violation]",  # Chromium's performance hints, not errors
)


class WidgetCheckFailed(AssertionError):
    """A widget did not behave as a learner needs: no picture, no change after an action, or console errors."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab_url(tmp_path_factory):
    if not CHROMIUM.exists():
        message = "Debian's chromium is not installed (`apt-get install -y chromium`, done by `python3 course.py setup` as root)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    tmp = tmp_path_factory.mktemp("lab")
    settings = tmp / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    # no "Jupyter news" pop-up and no update check: offline they only produce noise
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false",
                                                                          "checkForUpdates": False}))
    # never save: the test runs the course's own notebooks in fast mode, and Lab's autosave (every 2 minutes by
    # default) would write those fast-mode outputs over the stored full-mode ones
    docmanager = tmp / "settings" / "@jupyterlab" / "docmanager-extension"
    docmanager.mkdir(parents=True)
    (docmanager / "plugin.jupyterlab-settings").write_text(json.dumps({"autosave": False}))
    port = _free_port()
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(tmp / "settings"), "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "ws"),
           "COURSE_FAST": "1", "COURSE_OFFLINE": "1", "TQDM_DISABLE": "1",
           "COURSE_THREADS": "1"}  # the browser runs beside the kernel: one thread avoids fighting for the 2 cores
    log = open(tmp / "lab.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}",
         "--ServerApp.ip=127.0.0.1", "--IdentityProvider.token=", "--ServerApp.password=",
         f"--ServerApp.root_dir={ROOT}", "--LabApp.expose_app_in_browser=True", "--ServerApp.port_retries=0"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/api", timeout=2)
            break
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.5)
    else:
        pytest.fail("JupyterLab did not start:\n" + (tmp / "lab.log").read_text()[-3000:])
    yield url
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    log.close()


@pytest.fixture(scope="module")
def browser(lab_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--no-first-run", "--disable-sync"])
        yield chromium
        chromium.close()


_KERNEL_IDLE = """() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
    return !!k && k.status === 'idle'; }"""
_ALL_RUN = """() => { const w = window.jupyterapp.shell.currentWidget;
    const cells = w.content.widgets.filter(c => c.model.type === 'code');
    return w.sessionContext.session.kernel.status === 'idle'
        && cells.every(c => c.model.executionCount !== null && !c.promptNode.textContent.includes('*')); }"""
_CELL_ERRORS = """() => window.jupyterapp.shell.currentWidget.content.widgets
    .filter(c => c.model.type === 'code')
    .flatMap(c => c.model.outputs.toJSON())
    .filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue)"""


def run_notebook_in_lab(browser, lab_url: str, notebook: str):
    """Open a notebook in Lab, clear and run all its cells; return (page, console errors list, seconds)."""
    start = time.monotonic()
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    page.goto(f"{lab_url}/lab/tree/{notebook}?reset")
    page.wait_for_function(_KERNEL_IDLE, timeout=90_000, polling=250)
    page.evaluate("""async () => { const c = window.jupyterapp.commands;
        await c.execute('notebook:clear-all-cell-outputs'); await c.execute('notebook:run-all-cells'); }""")
    page.wait_for_function(_ALL_RUN, timeout=240_000, polling=500)
    failed = page.evaluate(_CELL_ERRORS)
    if failed:
        raise WidgetCheckFailed(f"{notebook}: cells raised {failed}")
    return page, errors, time.monotonic() - start


def _changed(page, image, old_src: str, timeout_ms: int = 10_000) -> bool:
    try:
        page.wait_for_function("([el, old]) => el.getAttribute('src') !== old", arg=[image.element_handle(), old_src],
                               timeout=timeout_ms, polling=100)
        return True
    except Exception:  # Playwright's TimeoutError
        return False


def operate_widget(page, box, name: str, actions, shots: Path, timeout_ms: int = 20_000) -> None:
    """Do each action on the widget in ``box``; after each, the picture must change. Screenshots before and after."""
    box.scroll_into_view_if_needed()
    image = box.locator(".widget-image").first
    image.wait_for(state="visible", timeout=30_000)
    shots.mkdir(parents=True, exist_ok=True)
    box.screenshot(path=str(shots / f"{name}-before.png"))
    for kind, index, argument in actions:
        old_src = image.get_attribute("src")
        if kind == "slider":
            handle = box.locator(".widget-slider .noUi-handle").nth(index)
            handle.focus()
            for _ in range(argument):
                handle.press("ArrowRight")
        elif kind == "dropdown":
            box.locator(".widget-dropdown select").nth(index).select_option(argument)
        elif kind == "toggle":
            box.locator(".widget-toggle-buttons").nth(index).get_by_role("button", name=argument).click()
        elif kind == "text":
            field = box.locator(".widget-text input").nth(index)
            field.fill(argument)
            field.press("Enter")
        elif kind == "play":
            box.locator(".widget-play button").first.click()
        else:
            raise ValueError(f"unknown action {kind!r}")
        if not _changed(page, image, old_src, timeout_ms):
            box.screenshot(path=str(shots / f"{name}-failed.png"))
            raise WidgetCheckFailed(f"{name}: the image did not change after {kind} {argument!r}")
    box.screenshot(path=str(shots / f"{name}-after.png"))


def check_console(errors: list[str], where: str) -> None:
    real = [e for e in errors if not any(allowed in e for allowed in CONSOLE_ALLOWLIST)]
    if real:
        raise WidgetCheckFailed(f"{where}: browser console errors: {real}")


@pytest.mark.parametrize("notebook", list(WIDGETS))
def test_widgets_answer_in_a_real_browser(browser, lab_url, notebook):
    stored = (ROOT / notebook).read_bytes()  # the committed full-mode outputs, which this fast-mode run must not touch
    page, errors, seconds = run_notebook_in_lab(browser, lab_url, notebook)
    try:
        boxes = page.locator(".widget-vbox:has(> .widget-image)")
        expected = WIDGETS[notebook]
        page.wait_for_function(f"() => document.querySelectorAll('.widget-vbox > .widget-image').length >= "
                               f"{len(expected)}", timeout=30_000)
        assert boxes.count() == len(expected), f"expected {len(expected)} widget(s), found {boxes.count()}"
        for k, (name, actions) in enumerate(expected):
            operate_widget(page, boxes.nth(k), name, actions, SHOTS / Path(notebook).stem)
            if os.environ.get("COURSE_UPDATE_SCREENSHOTS") == "1" and name not in FROM_TRAINED_MODELS:
                README_SHOTS.mkdir(parents=True, exist_ok=True)
                shutil.copy(SHOTS / Path(notebook).stem / f"{name}-after.png", README_SHOTS / f"{name}.png")
        check_console(errors, notebook)
    finally:
        page.close()
    assert (ROOT / notebook).read_bytes() == stored, f"{notebook} was saved by Lab during the test (autosave?)"
    print(f"{notebook}: ran and operated in {seconds:.1f} s")


def test_the_browser_test_catches_broken_widgets(browser, lab_url):
    """A widget whose callback raises, and one whose picture never changes, must both fail the checks."""
    page, errors, _ = run_notebook_in_lab(browser, lab_url, "tests/fixtures/broken-widgets.ipynb")
    try:
        boxes = page.locator(".widget-vbox:has(> .widget-image)")
        page.wait_for_function("() => document.querySelectorAll('.widget-vbox > .widget-image').length >= 3",
                               timeout=30_000)
        shots = SHOTS / "broken-widgets"
        # the healthy control widget passes, so the failures below come from the breakage, not from the driver
        operate_widget(page, boxes.nth(0), "healthy", [("slider", 0, 2)], shots)
        with pytest.raises(WidgetCheckFailed, match="did not change"):
            operate_widget(page, boxes.nth(1), "raising-callback", [("slider", 0, 2)], shots, timeout_ms=3000)
        with pytest.raises(WidgetCheckFailed, match="did not change"):
            operate_widget(page, boxes.nth(2), "frozen-image", [("slider", 0, 2)], shots, timeout_ms=3000)
        with pytest.raises(WidgetCheckFailed, match="console errors"):
            check_console(errors + ["Uncaught TypeError: x is undefined"], "fixture")
    finally:
        page.close()
