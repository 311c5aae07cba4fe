"""Target 6 of issue 7: what parsing dags/jicket_dag.py costs, and what it imports.

    .venv/bin/python -m bench.dag_parse [--repeat 7]

Each measurement runs in a fresh interpreter, set up as Airflow's DAG processor sets up the process
that parses a file: its manager has Airflow loaded, freezes the garbage collector's view of it
(``gc.freeze()`` before the parsing loop), pre-imports the ``airflow.*`` modules the DAG file names
(``[dag_processor] parsing_pre_import_modules``, on by default) and forks; the child's ``DagBag`` imports
the file. Printed (median of the runs):

- ``DagBag`` parse: the ``FileLoadStat`` duration DagBag records for the file, set up as above (target <= 50 ms);
- the same without the pre-import;
- the DAG module alone on top of ``import airflow.sdk`` (``tests/integration/test_dag.py`` measures this way),
  and the modules it loads: nothing from ``jicket_ops`` beyond ``config`` and ``errors``.

Python's bytecode cache matters: this sandbox sets ``PYTHONDONTWRITEBYTECODE=1``, so every import compiles
the project's modules again. Both are measured: with a warm bytecode cache (``PYTHONPYCACHEPREFIX``, what
any deployment whose code directory is writable, or precompiled with ``compileall``, has) and without.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import PY, ROOT, machine, save

PROBE = r"""
import json, os, sys, time
sys.path.insert(0, {root!r})
mode, path = sys.argv[1], sys.argv[2]
import airflow.sdk
if mode == "module":
    before = set(sys.modules)
    t = time.perf_counter()
    import importlib.util as u
    spec = u.spec_from_file_location("jicket_dag_probe", path)
    module = u.module_from_spec(spec)
    spec.loader.exec_module(module)
    took = time.perf_counter() - t
    loaded = sorted(set(sys.modules) - before)
    print(json.dumps({{"ms": took * 1000, "jicket_ops": [m for m in loaded if m.startswith("jicket_ops")],
                      "modules": len(loaded)}}))
    sys.exit(0)
from airflow.dag_processing.dagbag import DagBag
import gc
gc.freeze()  # DagFileProcessorManager.before_run
if mode == "preimport":
    from airflow.dag_processing.processor import _pre_import_airflow_modules
    import structlog
    _pre_import_airflow_modules(path, structlog.get_logger())
bag = DagBag(dag_folder=path)
stat = bag.dagbag_stats[0]
print(json.dumps({{"ms": stat.duration.total_seconds() * 1000, "dags": stat.dag_num, "tasks": stat.task_num,
                  "errors": len(bag.import_errors)}}))
"""


def probe(mode: str, path: str, env: dict) -> dict:
    code = PROBE.format(root=str(ROOT))
    result = subprocess.run([PY, "-c", code, mode, path], capture_output=True, text=True, env=env, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure(path: str, repeat: int, env: dict) -> dict:
    out: dict = {}
    probe("module", path, env)  # fills the bytecode cache, if there is one
    for mode in ("preimport", "cold", "module"):
        runs = [probe(mode, path, env) for _ in range(repeat)]
        out[mode] = {"median_ms": round(statistics.median(r["ms"] for r in runs), 1),
                     "min_ms": round(min(r["ms"] for r in runs), 1), **{k: v for k, v in runs[-1].items() if k != "ms"}}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    info = machine()
    home = tempfile.mkdtemp(prefix="jicket-bench-parse-")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIRFLOW_CONN_", "JICKET_", "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX"))}
    env.update({"AIRFLOW_HOME": home, "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR", "PYTHONPATH": str(ROOT)})
    cached = {**env, "PYTHONPYCACHEPREFIX": str(Path(home) / "pycache")}
    uncached = {**env, "PYTHONDONTWRITEBYTECODE": "1"}
    path = str(ROOT / "dags" / "jicket_dag.py")
    print(f"machine: {info['cpu']}, {info['cores']} cores; load {info['load_at_start']}")
    results = {"scheduled": measure(path, args.repeat, cached),
               "event_driven": measure(path, args.repeat, {**cached, "JICKET_IMAP_IDLE": "true"}),
               "scheduled, no bytecode cache": measure(path, args.repeat, uncached)}
    for name, r in results.items():
        print(f"\n== dags/jicket_dag.py ({name}), median of {args.repeat} fresh processes")
        print(f"   DagBag parse, as the DAG processor does it (airflow.* pre-imported): "
              f"{r['preimport']['median_ms']} ms (min {r['preimport']['min_ms']})  (target <= 50 ms)")
        print(f"   DagBag parse, nothing pre-imported:                                  "
              f"{r['cold']['median_ms']} ms (min {r['cold']['min_ms']})")
        print(f"   the module alone on top of `import airflow.sdk`:                     "
              f"{r['module']['median_ms']} ms; jicket_ops modules loaded: {r['module']['jicket_ops']}")
    path_out = save("dag_parse", {"machine": info, "repeat": args.repeat, "results": results})
    print(f"\nresults: {path_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
