"""Bad and edge-case inputs of course_lib.runtime (modes, threads, seeds, metrics) and of course.py's command line.

Each row is one call a learner might make (issue #15). Environment variables are set only for the call and restored
afterwards; calls that could change the process's global state (thread count, random generators, the metrics file)
carry ``state=`` to prove a refusal changes nothing.
"""
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch

import course_lib
from badinput import Case, ids, run_case
from course_lib import runtime

ROOT = Path(__file__).resolve().parent.parent


def with_env(call, **env):
    """Run ``call()`` with the environment variables ``env`` set (``None`` removes one), then restore them."""
    def run():
        saved = {k: os.environ.get(k) for k in env}
        try:
            for k, v in env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            return call()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    return run


def globals_state():
    """What setup() changes: the thread count and every random generator."""
    import random

    import numpy as np
    return {"threads": torch.get_num_threads(), "torch": torch.random.get_rng_state(),
            "python": repr(random.getstate()), "numpy": repr(np.random.get_state())}


def course(*args):
    """``python3 course.py ARGS`` (the command line only: unknown commands never reach the set-up)."""
    return subprocess.run([sys.executable, str(ROOT / "course.py"), *args], capture_output=True, text=True, timeout=20)


def metrics_file(tmp: Path, text: str) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "metrics.json"
    path.write_text(text)
    return path


TMP = Path(tempfile.mkdtemp(prefix="course-badinput-runtime-"))
atexit.register(shutil.rmtree, TMP, ignore_errors=True)  # whoever imports this module, nothing is left behind
DAMAGED = metrics_file(TMP / "damaged", "{not json")
LIST = metrics_file(TMP / "list", "[1, 2]")
GOOD = TMP / "good" / "metrics.json"


def _record_good():
    GOOD.unlink(missing_ok=True)
    returned = with_env(lambda: course_lib.record_metric("acc", torch.tensor(0.75)), COURSE_METRICS=str(GOOD))()
    return returned, json.loads(GOOD.read_text())


def _setup_one_thread():
    before = torch.get_num_threads()
    try:
        info = with_env(lambda: course_lib.setup(seed=3, threads=1), COURSE_FAST="on")()
        return info, torch.get_num_threads(), torch.randn(2)
    finally:
        torch.set_num_threads(before)


def _measure_one_thread():
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        chosen = with_env(lambda: runtime.pick_threads(max_threads=1), COURSE_THREADS=None)()
        return chosen, torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


CASES = [
    # ---------------- COURSE_FAST: documented on/off values, others refused ----------------
    Case("COURSE_FAST=on", with_env(course_lib.is_fast, COURSE_FAST="on"), returns=lambda r: r is True),
    Case("COURSE_FAST=y", with_env(course_lib.is_fast, COURSE_FAST="y"), returns=lambda r: r is True),
    Case("COURSE_FAST=' YES '", with_env(course_lib.is_fast, COURSE_FAST=" YES "), returns=lambda r: r is True),
    Case("COURSE_FAST=off", with_env(course_lib.is_fast, COURSE_FAST="off"), returns=lambda r: r is False),
    Case("COURSE_FAST=n", with_env(course_lib.is_fast, COURSE_FAST="n"), returns=lambda r: r is False),
    Case("COURSE_FAST empty", with_env(course_lib.is_fast, COURSE_FAST=""), returns=lambda r: r is False),
    Case("COURSE_FAST unset", with_env(course_lib.is_fast, COURSE_FAST=None), returns=lambda r: r is False),
    Case("COURSE_FAST=fast", with_env(course_lib.is_fast, COURSE_FAST="fast"),
         raises=ValueError, match=r"COURSE_FAST='fast' is neither on nor off: set COURSE_FAST=1 \(on\) or COURSE_FAST=0"),
    Case("pick with COURSE_FAST=2", with_env(lambda: course_lib.pick(1000, 10), COURSE_FAST="2"),
         raises=ValueError, match=r"COURSE_FAST='2'"),
    Case("pick with COURSE_FAST=on", with_env(lambda: course_lib.pick(1000, 10), COURSE_FAST="on"),
         returns=lambda r: r == 10),
    Case("setup with COURSE_OFFLINE=maybe", with_env(lambda: course_lib.setup(threads=1), COURSE_OFFLINE="maybe"),
         raises=ValueError, match=r"COURSE_OFFLINE='maybe'", state=globals_state),

    # ---------------- threads ----------------
    Case("COURSE_THREADS=abc", with_env(runtime.pick_threads, COURSE_THREADS="abc"),
         raises=ValueError, match=r"COURSE_THREADS='abc' is not a whole number.*COURSE_THREADS=1"),
    Case("COURSE_THREADS=2.5", with_env(runtime.pick_threads, COURSE_THREADS="2.5"),
         raises=ValueError, match=r"COURSE_THREADS='2\.5'"),
    Case("COURSE_THREADS=-1", with_env(runtime.pick_threads, COURSE_THREADS="-1"),
         raises=ValueError, match=r"COURSE_THREADS must be >= 1, got -1"),
    Case("COURSE_THREADS=100000", with_env(runtime.pick_threads, COURSE_THREADS="100000"),
         raises=ValueError, match=r"COURSE_THREADS must be between 1 and \d+ \(4 × the \d+ CPU cores\), got 100000"),
    Case("COURSE_THREADS=' 1 '", with_env(runtime.pick_threads, COURSE_THREADS=" 1 "), returns=lambda r: r == 1),
    Case("pick_threads leaves the thread count as it was", _measure_one_thread, returns=lambda r: r == (1, 2)),
    Case("env_flag name None", lambda: runtime.env_flag(None), raises=TypeError, match=r"name must be the name of an"),
    Case("setup with COURSE_THREADS=abc", with_env(lambda: course_lib.setup(seed=0), COURSE_THREADS="abc"),
         raises=ValueError, match=r"COURSE_THREADS='abc'", state=globals_state),
    Case("pick_threads max_threads=0", lambda: runtime.pick_threads(max_threads=0),
         raises=ValueError, match=r"max_threads must be >= 1 or None, got 0"),
    Case("pick_threads max_threads='2'", lambda: runtime.pick_threads(max_threads="2"),
         raises=TypeError, match=r"max_threads must be an integer"),
    Case("setup threads=0", lambda: course_lib.setup(threads=0),
         raises=ValueError, match=r"threads must be between 1 and \d+.*got 0", state=globals_state),
    Case("setup threads=1.5", lambda: course_lib.setup(threads=1.5),
         raises=TypeError, match=r"threads must be an integer", state=globals_state),
    Case("setup threads=10**6", lambda: course_lib.setup(threads=10**6),
         raises=ValueError, match=r"threads must be between 1 and", state=globals_state),
    Case("setup with COURSE_FAST=on, one thread", _setup_one_thread,
         returns=lambda r: r[0].fast is True and r[0].threads == 1 == r[1] and r[0].seed == 3
         and torch.equal(r[2], torch.randn(2, generator=torch.Generator().manual_seed(3)))),

    # ---------------- seeds ----------------
    Case("setup seed=-1", lambda: course_lib.setup(seed=-1, threads=1),
         raises=ValueError, match=r"seed must be in 0\.\.2\*\*32 - 1.*got -1", state=globals_state),
    Case("setup seed='0'", lambda: course_lib.setup(seed="0", threads=1),
         raises=TypeError, match=r"seed must be an integer", state=globals_state),
    Case("seed_everything 2**32", lambda: runtime.seed_everything(2**32),
         raises=ValueError, match=r"seed must be in 0\.\.2\*\*32 - 1 .*got 4294967296", state=globals_state),
    Case("seed_everything 1.5", lambda: runtime.seed_everything(1.5),
         raises=TypeError, match=r"seed must be an integer, got float", state=globals_state),

    # ---------------- record_metric ----------------
    Case("record_metric name None", lambda: course_lib.record_metric(None, 1.0),
         raises=TypeError, match=r"name must be a non-empty string"),
    Case("record_metric NaN", lambda: course_lib.record_metric("loss", float("nan")),
         raises=ValueError, match=r"value of metric 'loss' must be a finite number.*diverged"),
    Case("record_metric two numbers", lambda: course_lib.record_metric("acc", torch.tensor([0.5, 0.6])),
         raises=TypeError, match=r"value must be one number.*got Tensor"),
    Case("record_metric a string", lambda: course_lib.record_metric("acc", "0.9"),
         raises=TypeError, match=r"value must be one number.*got str"),
    Case("record_metric damaged metrics file",
         with_env(lambda: course_lib.record_metric("acc", 0.9), COURSE_METRICS=str(DAMAGED)),
         raises=ValueError, match=r"COURSE_METRICS=.*cannot be used.*delete the damaged file",
         state=lambda: DAMAGED.read_text()),
    Case("record_metric metrics file holds a list",
         with_env(lambda: course_lib.record_metric("acc", 0.9), COURSE_METRICS=str(LIST)),
         raises=ValueError, match=r"COURSE_METRICS=.*not a JSON object", state=lambda: LIST.read_text()),
    Case("record_metric a one-element tensor", _record_good,
         returns=lambda r: torch.equal(r[0], torch.tensor(0.75)) and r[1] == {"acc": 0.75}),

    # ---------------- course.py ----------------
    Case("course.py unknown command", lambda: course("frobnicate"),
         returns=lambda r: r.returncode == 1 and "unknown command 'frobnicate'" in r.stderr
         and "the commands are: setup, lab, test" in r.stderr),
    Case("course.py misspelt command", lambda: course("tset"),
         returns=lambda r: r.returncode == 1 and "unknown command 'tset' (did you mean 'test'?)" in r.stderr),
    Case("course.py --help", lambda: course("--help"),
         returns=lambda r: r.returncode == 0 and "python3 course.py setup" in r.stdout and not r.stderr),
]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_bad_input(case):
    run_case(case)
