"""Lambda package sizes and handler cold imports.

``python -m bench layers`` builds both layers with shared/Makefile into a temporary folder (as
``sam build`` does, without SAM) and reports their unzipped sizes, and each function's code plus
its layers against Lambda's 250 MB limit. ``python -m bench handler_imports`` times importing
each ``functions/<name>/app.py`` in a fresh interpreter against the floor every AWS-touching
handler pays (boto3, httpx, Powertools, jsonschema). Both write their section of
docs/PERFORMANCE.md.

``python -m bench.layers --built .aws-sam/build`` prints the sizes of a ``sam build`` output
(``make build`` runs it) and fails when a limit is exceeded.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LAMBDA_LIMIT_MB = 250.0
LAYER_TARGETS_MB = {"CoreLayer": 20.0, "ParquetLayer": 120.0}
# Handlers whose import must stay near the floor, and how near (ms).
IMPORT_TARGETS_MS = {"fetch_pages": 100.0, "prepare": 100.0, "notify": 100.0, "write_parquet": 250}
FLOOR_MODULES = ("boto3", "httpx", "aws_lambda_powertools", "jsonschema")
PARQUET_MODULES = ("pyarrow", "pyarrow.parquet", "pyarrow.compute")
TRIALS = 5


def tree_bytes(path: Path) -> int:
    """Unzipped size as Lambda counts it: the bytes of every file."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


@dataclass
class Function:
    logical_id: str
    folder: str  # functions/<folder>/
    layers: list[str]


def functions() -> list[Function]:
    """The template's functions with the layers SAM gives them (Globals' first, then their own)."""
    from vanta_vuln_stats.devstack.check_workflows import load_template

    template = load_template(ROOT / "template.yaml")
    globals_ = ((template.get("Globals") or {}).get("Function") or {}).get("Layers") or []
    found = []
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        layers = [ref["Ref"] for ref in [*globals_, *(props.get("Layers") or [])]]
        folder = props["CodeUri"].rstrip("/").split("/")[-1]
        found.append(Function(logical_id, folder, list(dict.fromkeys(layers))))
    return found


def build_layers(dest: Path) -> dict[str, float]:
    """Both layers with shared/Makefile into dest/<LogicalId>; seconds per layer."""
    seconds = {}
    for layer in LAYER_TARGETS_MB:
        started = time.perf_counter()
        subprocess.run(
            ["make", "--no-print-directory", "-C", str(ROOT / "shared"), f"build-{layer}"],
            env={**os.environ, "ARTIFACTS_DIR": str(dest / layer)},
            check=True,
            capture_output=True,
        )
        seconds[layer] = time.perf_counter() - started
    return seconds


def built_architecture(layer: Path) -> str:
    """The architecture of a built layer's extension modules (``x86_64``, ``aarch64``), read
    from their names (``*.cpython-312-aarch64-linux-gnu.so``); ``pure Python`` without any."""
    found = {
        match.group(1)
        for path in layer.rglob("*.cpython-*-linux-gnu.so")
        if (match := re.search(r"-(x86_64|aarch64)-linux-gnu\.so$", path.name))
    }
    return "/".join(sorted(found)) or "pure Python"


def sizes(layers_dir: Path, code_dir: Path | None) -> dict[str, Any]:
    """Layer sizes from ``layers_dir/<LogicalId>``; function code from ``code_dir/<LogicalId>``
    (a sam build) or, without one, the function's source folder (None when not written yet)."""
    layer_bytes = {name: tree_bytes(layers_dir / name) for name in LAYER_TARGETS_MB}
    architectures = {name: built_architecture(layers_dir / name) for name in LAYER_TARGETS_MB}
    found = {}
    for fn in functions():
        code = (code_dir / fn.logical_id) if code_dir else (ROOT / "functions" / fn.folder)
        code_bytes = tree_bytes(code) if code.is_dir() else None
        found[fn.logical_id] = {
            "folder": fn.folder,
            "layers": fn.layers,
            "code": code_bytes,
            "total": (code_bytes or 0) + sum(layer_bytes[name] for name in fn.layers),
        }
    return {"layers": layer_bytes, "architectures": architectures, "functions": found}


def _mb(size: int) -> float:
    return size / 1e6


def layer_results(measured: dict[str, Any], build_seconds: dict[str, float] | None) -> list[Any]:
    from bench.__main__ import Result

    results = []
    for name, size in measured["layers"].items():
        target = LAYER_TARGETS_MB[name]
        built = f"built in {build_seconds[name]:.0f} s; " if build_seconds else ""
        results.append(
            Result(
                f"{name}, unzipped",
                f"{_mb(size):.1f} MB",
                f"< {target:g} MB",
                _mb(size) < target,
                f"{built}python3.12 manylinux_2_28 "
                f"{measured.get('architectures', {}).get(name, 'x86_64')} wheels, "
                "bytecode included",
            )
        )
    by_total: dict[tuple[str, ...], list[str]] = {}
    missing = []
    for logical_id, fn in measured["functions"].items():
        by_total.setdefault(tuple(fn["layers"]), []).append(logical_id)
        if fn["code"] is None:
            missing.append(fn["folder"])
    for layers, names in by_total.items():
        largest = max(measured["functions"][n]["total"] for n in names)
        results.append(
            Result(
                f"Function + {' + '.join(layers)}, unzipped",
                f"{_mb(largest):.1f} MB",
                f"< {LAMBDA_LIMIT_MB:g} MB",
                _mb(largest) < LAMBDA_LIMIT_MB,
                f"the largest of {', '.join(names)}; "
                f"{LAMBDA_LIMIT_MB - _mb(largest):.0f} MB to spare",
            )
        )
    if missing:
        results.append(
            Result(
                "  function code not written yet (counted as 0)",
                f"{len(missing)}",
                "",
                None,
                ", ".join(f"functions/{m}/" for m in missing),
            )
        )
    return results


def bench_layers(workdir: Path) -> list[Any]:
    dest = workdir / "layers"
    seconds = build_layers(dest)
    return layer_results(sizes(dest, None), seconds)


IMPORT_CHILD = """
import sys, time
sys.path.insert(0, sys.argv[1]) if sys.argv[1] else None
started = time.perf_counter()
for name in sys.argv[2:]:
    __import__(name)
print(time.perf_counter() - started)
"""


def _import_seconds(folder: str, modules: tuple[str, ...]) -> float:
    """Best of TRIALS cold imports, each in a fresh interpreter (interpreter start excluded)."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "shared"),
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_SERVICE_NAME": "vanta-vuln-stats",
        "POWERTOOLS_METRICS_NAMESPACE": "VantaVulnStats",
    }
    best = float("inf")
    for _ in range(TRIALS):
        done = subprocess.run(
            [sys.executable, "-c", IMPORT_CHILD, folder, *modules],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        best = min(best, float(done.stdout.strip().splitlines()[-1]))
    return best


def bench_handler_imports() -> list[Any]:
    from bench.__main__ import Result

    floor = _import_seconds("", FLOOR_MODULES)
    results = [
        Result(
            f"Floor: import {', '.join(FLOOR_MODULES)}",
            f"{floor * 1000:.0f} ms",
            "",
            None,
            f"best of {TRIALS}, each in a fresh interpreter",
        )
    ]
    # Powertools' Tracer loads the X-Ray SDK, which builds a botocore client at import: paid at a
    # cold start in Lambda when tracing is on, and never outside Lambda (pipeline/handler.py).
    xray = _import_seconds("", (*FLOOR_MODULES, "aws_xray_sdk.core")) - floor
    results.append(
        Result(
            "  + the X-Ray SDK (Tracer; in Lambda with tracing on only)",
            f"{xray * 1000:+.0f} ms",
            "",
            None,
            "not in the handler rows below; add it to a traced cold start",
        )
    )
    missing = []
    for fn in functions():
        folder = ROOT / "functions" / fn.folder
        if not (folder / "app.py").is_file():
            missing.append(fn.folder)
            continue
        # What the first invocation loads: the floor (boto3 is imported on first use), the
        # handler, and pyarrow for the functions that have the Parquet layer.
        parquet = PARQUET_MODULES if "ParquetLayer" in fn.layers else ()
        seconds = _import_seconds(str(folder), (*FLOOR_MODULES, "app", *parquet))
        over = (seconds - floor) * 1000
        target = IMPORT_TARGETS_MS.get(fn.folder)
        results.append(
            Result(
                f"Cold start of functions/{fn.folder}/app.py, over the floor"
                + (" (pyarrow included)" if parquet else ""),
                f"{over:+.0f} ms",
                f"< {target:g} ms" if target is not None else "",
                None if target is None else over < target,
                f"{seconds * 1000:.0f} ms in all; best of {TRIALS}",
            )
        )
    if missing:
        results.append(
            Result(
                "  handlers not written yet (skipped)",
                f"{len(missing)}",
                "",
                None,
                ", ".join(f"functions/{m}/" for m in missing),
            )
        )
    return results


def main(argv: list[str]) -> int:
    """Print the sizes of a sam build (``--built DIR``) or of a fresh layer build; exit 1 when a
    size limit is exceeded."""
    if argv[:1] == ["--built"] and len(argv) == 2:
        built = Path(argv[1])
        measured = sizes(built, built)
        seconds = None
    else:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="vvs-layers-") as tmp:
            seconds = build_layers(Path(tmp))
            measured = sizes(Path(tmp), None)
    ok = True
    for name, size in measured["layers"].items():
        limit = LAYER_TARGETS_MB[name]
        ok &= _mb(size) < limit
        took = f" (built in {seconds[name]:.0f} s)" if seconds else ""
        print(f"{name:<28} {_mb(size):7.1f} MB  (limit {limit:g} MB){took}")
    for logical_id, fn in measured["functions"].items():
        ok &= _mb(fn["total"]) < LAMBDA_LIMIT_MB
        code = "no code yet" if fn["code"] is None else f"code {fn['code'] / 1e3:.1f} kB"
        print(f"{logical_id:<28} {_mb(fn['total']):7.1f} MB  ({code} + {' + '.join(fn['layers'])})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
