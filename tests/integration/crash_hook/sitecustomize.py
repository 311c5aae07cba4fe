"""Crash injection for tests/integration/test_crash.py: put this directory on PYTHONPATH of an
``airflow dags test`` process and set JICKET_TEST_KILL_AT to ``module:Class.method:N[:during]``.

The process then SIGKILLs itself right after the N-th call of that method returned (the server has
acted, Jicket has not yet recorded it), or, with ``during``, 0.2 s into the N-th call (while the request
is in flight). SIGKILL: no ``finally``, no exception handler, no Airflow bookkeeping runs.

JICKET_TEST_KILL_ON_MAIL=TEXT instead kills the process when Jicket parses a mail whose bytes contain TEXT
(a mail that kills its worker, as one that exhausts memory would).
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import signal
import sys
import threading

SPEC = os.environ.get("JICKET_TEST_KILL_AT", "")
KILL_ON_MAIL = os.environ.get("JICKET_TEST_KILL_ON_MAIL", "").encode()


def _die() -> None:
    sys.stderr.write(f"crash_hook: SIGKILL at {SPEC}\n")
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _patch_parser(module) -> None:
    real = module.parse_mail

    def parse_mail(raw: bytes):
        if KILL_ON_MAIL in raw:
            _die()
        return real(raw)

    module.parse_mail = parse_mail


def _patch(module) -> None:
    if KILL_ON_MAIL:
        _patch_parser(module)
        return
    _, target, nth, *mode = SPEC.split(":")
    cls_name, method_name = target.split(".")
    cls = getattr(module, cls_name)
    real = getattr(cls, method_name)
    calls = {"n": 0}
    lock = threading.Lock()

    def wrapper(self, *args, **kwargs):
        with lock:
            calls["n"] += 1
            hit = calls["n"] == int(nth)
        if hit and mode == ["during"]:
            threading.Timer(0.2, _die).start()
        result = real(self, *args, **kwargs)
        if hit:
            _die()
        return result

    setattr(cls, method_name, wrapper)


class _PatchAfterImport(importlib.abc.MetaPathFinder):
    """Patches the target module as soon as it is imported (importing it here would start Airflow early)."""

    def __init__(self, module_name: str):
        self.module_name = module_name

    def find_spec(self, fullname, path, target=None):
        if fullname != self.module_name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        real_exec = spec.loader.exec_module

        def exec_module(module):
            real_exec(module)
            _patch(module)

        spec.loader.exec_module = exec_module
        return spec


if KILL_ON_MAIL:
    SPEC = f"mail containing {KILL_ON_MAIL!r}"
    sys.meta_path.insert(0, _PatchAfterImport("jicket_ops.domain.parsing"))
elif SPEC:
    sys.meta_path.insert(0, _PatchAfterImport(SPEC.split(":")[0]))
