"""Processes that alternate numpy's products with ONNX Runtime's tell OpenBLAS's idle threads to sleep."""

from __future__ import annotations

import sys

import pytest

from emoret_cli import main

TIMEOUT = "OPENBLAS_THREAD_TIMEOUT"


@pytest.mark.parametrize("args, expected", [
    (["serve", "--index", "i"], "4"),
    (["search", "-", "--index", "i"], "4"),
    (["search", "a happy dog"], None),  # one cold query: no ONNX Runtime scan follows
    (["index", "sets"], None),
])
def test_only_the_server_and_piped_search_change_blas_threads(monkeypatch, args, expected):
    monkeypatch.delenv(TIMEOUT, raising=False)
    monkeypatch.delitem(sys.modules, "numpy")  # as before numpy loads (restored after the test)
    main._blas_threads_sleep_when_idle(args)
    assert main.os.environ.get(TIMEOUT) == expected


def test_a_users_own_setting_is_kept_and_a_loaded_numpy_left_alone(monkeypatch):
    monkeypatch.setenv(TIMEOUT, "20")
    monkeypatch.delitem(sys.modules, "numpy")
    main._blas_threads_sleep_when_idle(["serve"])
    assert main.os.environ[TIMEOUT] == "20"
    monkeypatch.delenv(TIMEOUT)
    monkeypatch.setitem(sys.modules, "numpy", object())  # numpy already loaded: too late to matter
    main._blas_threads_sleep_when_idle(["serve"])
    assert TIMEOUT not in main.os.environ
