"""Test-session set-up shared by the unit tests (tests/) and the notebook tests (notebooks/, run by nbval).

* Offline: this process refuses every non-loopback connection, and COURSE_OFFLINE=1 makes the notebook kernels
  (other processes) do the same in `course_lib.setup()`; HF_HUB_OFFLINE=1 keeps any Hugging Face code local.
* Fast mode (COURSE_FAST=1) and no progress bars, unless the caller set them otherwise.
* nbval does not compare stderr (warnings, progress bars) or the text of widget views.
"""
import os
from pathlib import Path

os.environ.setdefault("COURSE_FAST", "1")
os.environ["COURSE_OFFLINE"] = "1"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

from course_lib.runtime import block_network  # noqa: E402

block_network()

# notebooks under tests/fixtures are inputs of tests/test_browser.py (some deliberately broken), not course notebooks
collect_ignore_glob = ["tests/fixtures/*"]


def pytest_terminal_summary(terminalreporter):
    shots = Path(__file__).parent / "build" / "browser-screenshots"
    if shots.exists():
        terminalreporter.write_line(f"browser test screenshots (before/after each widget action): {shots}")


def pytest_collectstart(collector):
    if getattr(collector, "path", None) is not None and collector.path.suffix == ".ipynb":
        collector.skip_compare = collector.skip_compare + ("stderr", "text/plain+widget")
