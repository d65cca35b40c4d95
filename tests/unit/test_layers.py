"""The Lambda layers' build rules (shared/Makefile, functions/Makefile, the layer requirement
files) agree with requirements.txt and template.yaml. Nothing is built or downloaded here:
``make layers`` / ``make build`` and ``python -m bench layers`` do that."""

from __future__ import annotations

import fnmatch
import importlib.metadata
import re
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from vanta_vuln_stats.devstack.check_workflows import load_template

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT / "shared"
# What the Lambda runtime (python3.12) is for the markers of dependencies.
LAMBDA_ENV = {
    "python_version": "3.12",
    "python_full_version": "3.12.0",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "os_name": "posix",
    "platform_machine": "aarch64",
    "extra": "",
}
CORE_ROOTS = ("httpx", "orjson", "jsonschema", "aws-lambda-powertools", "aws-xray-sdk")
# The python3.12 runtime has these; a dependency on them is met there.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "urllib3", "python-dateutil", "six")
NEVER_IN_CORE = ("boto3", "botocore", "s3transfer", "pyarrow", "duckdb", "sqlglot", "rich")


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        name, version = line.split("==")
        pins[canonicalize_name(name)] = version.strip()
    return pins


def _make_variable(makefile: Path, name: str) -> list[str]:
    text = makefile.read_text(encoding="utf-8").replace("\\\n", " ")
    match = re.search(rf"^{name}\s*:?=(.*)$", text, re.MULTILINE)
    assert match, f"{name} is not set in {makefile}"
    return match.group(1).split()


def _closure(roots: tuple[str, ...]) -> set[str]:
    """The dependencies of ``roots`` on python3.12, from the installed packages' metadata."""
    seen: set[str] = set()
    todo = [canonicalize_name(r) for r in roots]
    while todo:
        name = todo.pop()
        if name in seen or name in {canonicalize_name(n) for n in RUNTIME_PROVIDED}:
            continue
        seen.add(name)
        for spec in importlib.metadata.requires(name) or []:
            req = Requirement(spec)
            if req.marker is None or req.marker.evaluate(LAMBDA_ENV):
                todo.append(canonicalize_name(req.name))
    return seen


def test_layer_pins_equal_the_runtime_pins():
    runtime = _pins(ROOT / "requirements.txt")
    for layer in ("layer-core.txt", "layer-parquet.txt"):
        for name, version in _pins(SHARED / layer).items():
            assert runtime.get(name) == version, f"{layer}: {name}=={version}, runtime {runtime}"


def test_core_layer_is_exactly_the_closure_of_its_light_dependencies():
    # Installed with --no-deps, so the file itself must hold every dependency, and no more.
    core = set(_pins(SHARED / "layer-core.txt"))
    assert core == _closure(CORE_ROOTS)
    assert not core & {canonicalize_name(n) for n in NEVER_IN_CORE}


def test_marker_environment_is_the_lambda_runtime():
    # typing_extensions comes in through referencing only below Python 3.13.
    assert Marker("python_version < '3.13'").evaluate(LAMBDA_ENV)


def test_parquet_layer_is_pyarrow_alone():
    assert set(_pins(SHARED / "layer-parquet.txt")) == {"pyarrow"}


# Everything `import pyarrow, pyarrow.parquet, pyarrow.compute, pyarrow.fs, pyarrow.dataset`
# loads from pyarrow 26 (checked with readelf: lib.so and libarrow_python NEED libarrow_substrait).
MUST_KEEP = [
    "__init__.py",
    "lib.cpython-312-x86_64-linux-gnu.so",
    "libarrow.so.2600",
    "libarrow_python.so.2600",
    "libarrow_substrait.so.2600",
    "libarrow_acero.so.2600",
    "libarrow_compute.so.2600",
    "libarrow_dataset.so.2600",
    "libarrow_s3.so.2600",
    "libparquet.so.2600",
    "libarrow_python_parquet_encryption.so.2600",
    "_parquet.cpython-312-x86_64-linux-gnu.so",
    "_parquet_encryption.cpython-312-x86_64-linux-gnu.so",
    "_compute.cpython-312-x86_64-linux-gnu.so",
    "_fs.cpython-312-x86_64-linux-gnu.so",
    "_s3fs.cpython-312-x86_64-linux-gnu.so",
    "_dataset.cpython-312-x86_64-linux-gnu.so",
    "_dataset_parquet.cpython-312-x86_64-linux-gnu.so",
    "_acero.cpython-312-x86_64-linux-gnu.so",
    "_csv.cpython-312-x86_64-linux-gnu.so",
    "_json.cpython-312-x86_64-linux-gnu.so",
    "parquet",
    "compute.py",
    "fs.py",
    "dataset.py",
    "vendored",
]
MUST_GO = [
    "libarrow_flight.so.2600",
    "libarrow_python_flight.so.2600",
    "_flight.cpython-312-x86_64-linux-gnu.so",
    "tests",
    "include",
    "libarrow_python.so.2600.1.0",
]


def test_pyarrow_trim_keeps_what_the_lake_loads_and_drops_the_rest():
    trim = _make_variable(SHARED / "Makefile", "PARQUET_TRIM")
    for name in MUST_KEEP:
        assert not [g for g in trim if fnmatch.fnmatch(name, g)], f"{name} would be removed"
    for name in MUST_GO:
        assert [g for g in trim if fnmatch.fnmatch(name, g)], f"{name} would be kept"


def test_every_layer_and_function_is_built_by_a_makefile():
    template = load_template(ROOT / "template.yaml")
    shared_targets = set(re.findall(r"^(build-\w+):", (SHARED / "Makefile").read_text(), re.M))
    functions_makefile = (ROOT / "functions" / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^build-%:", functions_makefile, re.M)
    for logical_id, resource in template["Resources"].items():
        metadata = resource.get("Metadata") or {}
        if resource["Type"] == "AWS::Serverless::LayerVersion":
            assert resource["Properties"]["ContentUri"].rstrip("/") == "shared"
            assert metadata.get("BuildMethod") == "makefile"
            assert f"build-{logical_id}" in shared_targets
        elif resource["Type"] == "AWS::Serverless::Function":
            built = {key: metadata.get(key) for key in ("BuildMethod", "ContextPath")}
            assert built == {"BuildMethod": "makefile", "ContextPath": "functions"}, logical_id
            assert set(metadata) <= {"BuildMethod", "ContextPath", "checkov"}, logical_id
            assert resource["Properties"]["CodeUri"].startswith("functions/")


def test_the_layers_are_built_for_the_templates_architecture():
    # sam build passes no architecture to a makefile build: shared/Makefile's default decides.
    template = load_template(ROOT / "template.yaml")
    (architecture,) = template["Globals"]["Function"]["Architectures"]
    text = (SHARED / "Makefile").read_text(encoding="utf-8")
    (default,) = re.findall(r"^ARCH\s*\?=\s*(\S+)\s*$", text, re.MULTILINE)
    assert default == architecture
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::LayerVersion":
            assert resource["Properties"]["CompatibleArchitectures"] == [architecture], logical_id
            assert resource["Metadata"]["BuildArchitecture"] == architecture, logical_id
        if resource["Type"] == "AWS::Serverless::Function":
            assert "Architectures" not in resource["Properties"], logical_id
