"""Import rules between the package's folders, read from the source with ``ast`` (no imports
run): ``metrics`` and ``sampling`` do not import each other (``evaluation`` joins them), and no
module of the package imports the test fixtures."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "radsynth"


def imported_modules(source: str, package: str) -> set[str]:
    """Every module a file of ``package`` imports, at any depth (lazy imports inside functions
    included); relative imports are resolved against ``package``."""
    parts = package.split(".")
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = parts[: len(parts) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.add(module)
            found |= {f"{module}.{alias.name}" for alias in node.names}
    return found


def imports_of(folder: str) -> dict[str, set[str]]:
    """Imported modules of every file below ``src/radsynth/<folder>``, by file."""
    out = {}
    for path in sorted((SRC / folder).rglob("*.py")):
        package = ".".join(["radsynth", *path.relative_to(SRC).parent.parts])
        out[path.relative_to(SRC).as_posix()] = imported_modules(path.read_text(), package)
    return out


def test_imported_modules_sees_lazy_and_relative_imports() -> None:
    source = (
        "import numpy as np\n"
        "def f():\n    from radsynth.sampling.sample import seed_png\n"
        "from . import formulas\nfrom ..sampling import samplers\n"
    )
    found = imported_modules(source, "radsynth.metrics")
    assert {"numpy", "radsynth.sampling.sample", "radsynth.metrics.formulas",
            "radsynth.sampling.samplers"} <= found  # fmt: skip


@pytest.mark.parametrize("folder, forbidden", [("metrics", "radsynth.sampling"),
                                               ("sampling", "radsynth.metrics")])  # fmt: skip
def test_metrics_and_sampling_do_not_import_each_other(folder: str, forbidden: str) -> None:
    offenders = {
        name: sorted(m for m in mods if m == forbidden or m.startswith(forbidden + "."))
        for name, mods in imports_of(folder).items()
    }
    assert not {k: v for k, v in offenders.items() if v}


def test_no_module_of_the_package_imports_the_test_fixtures() -> None:
    offenders = {
        name: sorted(m for m in mods if m.startswith("fake_runs") or m.endswith(".testing"))
        for name, mods in imports_of(".").items()
    }
    assert not {k: v for k, v in offenders.items() if v}
    assert not (SRC / "training" / "testing.py").exists()
