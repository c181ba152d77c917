"""course_lib.setup: seeds, threads, modes, the offline guard, metric recording."""
import json
import socket

import pytest
import torch

import course_lib
from course_lib import runtime


def test_setup_is_reproducible(monkeypatch):
    monkeypatch.setenv("COURSE_THREADS", "1")
    info = course_lib.setup(seed=7)
    a = torch.randn(5)
    course_lib.setup(seed=7)
    assert torch.equal(a, torch.randn(5))
    assert info.threads == 1 and torch.get_num_threads() == 1
    assert info.device.type in ("cpu", "cuda")
    assert "seed=7" in repr(info) and "mode=" in repr(info)


def test_thread_choice_is_measured_or_overridden(monkeypatch):
    monkeypatch.delenv("COURSE_THREADS", raising=False)
    chosen = runtime.pick_threads(max_threads=2)
    assert chosen in (1, 2)
    monkeypatch.setenv("COURSE_THREADS", "0")
    with pytest.raises(ValueError, match="COURSE_THREADS"):
        runtime.pick_threads()
    assert course_lib.setup(threads=2).threads == 2


def test_modes(monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "1")
    assert course_lib.is_fast() and course_lib.pick(1000, 10) == 10
    monkeypatch.setenv("COURSE_FAST", "0")
    assert not course_lib.is_fast() and course_lib.pick(1000, 10) == 1000


def test_network_is_blocked_but_loopback_works():
    runtime.block_network()
    with pytest.raises(ConnectionRefusedError, match="offline"):
        socket.create_connection(("192.0.2.1", 80), timeout=1)  # TEST-NET-1: never reached
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.create_connection(server.getsockname(), timeout=2)
    client.close()
    server.close()


def test_record_metric(tmp_path, monkeypatch):
    monkeypatch.delenv("COURSE_METRICS", raising=False)
    assert course_lib.record_metric("x", 1.5) == 1.5  # no file: nothing written
    target = tmp_path / "m.json"
    monkeypatch.setenv("COURSE_METRICS", str(target))
    course_lib.record_metric("acc", 0.9)
    course_lib.record_metric("loss", 0.3)
    assert json.loads(target.read_text()) == {"acc": 0.9, "loss": 0.3}
