"""Import rules between the package's folders, read from the source with ``ast`` (no imports
run, function-level imports included):

- the packages stand on floors (``FLOORS``, lowest first, mirrored in docs/architecture.md): a
  package imports only from its own floor or below, and the package graph has no cycle;
- no runtime import cycle between modules (``if TYPE_CHECKING:`` blocks do not run);
- ``metrics`` and ``sampling`` do not import each other (``evaluation`` joins them);
- no module of the package imports the test fixtures.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "radsynth"

#: The floors of the package, lowest first. The nodes are the folders of src/radsynth and the
#: modules at its top (``__init__`` is the package's own, which holds ``__version__``). A node
#: imports only from its own floor or below. docs/architecture.md ("Floors") shows the same
#: list; a new folder or top-level module must be put on a floor here and there.
FLOORS: tuple[tuple[str, ...], ...] = (
    ("__init__", "errors", "io", "config", "layout", "progress", "stage"),  # the base
    ("records", "hardware", "films", "models", "diffusion"),  # parts the stages share
    ("data", "fates"),  # real films in; which synthetic images go on
    ("training", "gan", "latent", "metrics", "screening", "study", "stats"),  # stages over the data
    ("sampling", "audit", "utility", "release", "review"),  # stages over those
    ("evaluation", "bench", "report"),  # measurements and pages across stages
    ("pipeline",),  # the run: every stage in order
    ("cli",),  # the commands, which load every stage lazily through the stage table
)

#: Arrows let through against the floors and the cycle rule, as (importing file, imported
#: module), each with its reason. An entry whose arrow is gone fails the test, so the entry goes
#: with the arrow.
EXCEPTIONS: dict[tuple[str, str], str] = {}


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the nodes inside ``if TYPE_CHECKING:`` blocks, which never run."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            skip |= {id(inner) for stmt in node.body for inner in ast.walk(stmt)}
    return skip


def import_statements(
    tree: ast.AST, package: str, runtime_only: bool = False
) -> Iterator[tuple[int, str, tuple[str, ...]]]:
    """(line, module, names) of every import statement of a parsed file, at any depth (imports
    inside functions included). ``import a.b`` gives ``("a.b", ())``; ``from X import y, z``
    gives ``(X, ("y", "z"))``, with a relative ``X`` resolved against ``package``, the dotted
    package the file is in. ``runtime_only`` leaves out ``if TYPE_CHECKING:`` blocks."""
    parts = package.split(".")
    skip = _type_checking_nodes(tree) if runtime_only else set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, ()
        elif isinstance(node, ast.ImportFrom):
            base = parts[: len(parts) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            yield node.lineno, module, tuple(alias.name for alias in node.names)


def imported_modules(source: str, package: str) -> set[str]:
    """Every module a file of ``package`` imports, at any depth (lazy imports inside functions
    included); relative imports are resolved against ``package``. For ``from X import y`` both
    ``X`` and ``X.y`` are named, as ``y`` may be a module or a name in ``X``."""
    found = set()
    for _, module, names in import_statements(ast.parse(source), package):
        found |= {module, *(f"{module}.{name}" for name in names)}
    return found


@dataclass(frozen=True)
class Arrow:
    """One import of a module of the package by another file of the package."""

    file: str  # the importing file, relative to the package folder
    line: int  # line of the import statement
    importer: str  # the importing module, dotted
    module: str  # the imported module, dotted (relative imports resolved)

    @property
    def source(self) -> str:
        """The importing node (first folder under the package, or top-level module)."""
        return node_of(self.importer)

    @property
    def target(self) -> str:
        """The imported node."""
        return node_of(self.module)

    def __str__(self) -> str:
        return f"{self.file}:{self.line} imports {self.module} ({self.source} -> {self.target})"


def node_of(module: str) -> str:
    """The graph node of a dotted module: ``radsynth.data.ingest`` -> ``data``, ``radsynth.cli``
    -> ``cli``, ``radsynth`` -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _dotted(rel: Path, root_name: str) -> str:
    parts = [root_name, *rel.with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def scan(root: Path, runtime_only: bool = False) -> list[Arrow]:
    """Every arrow between the modules below ``root`` (a package folder, e.g. src/radsynth).

    ``from X import y`` points at ``X.y`` when that is a module of the package, else at the
    longest prefix of ``X`` that is one; imports from outside the package are left out.
    """
    files = sorted(root.rglob("*.py"))
    known = {_dotted(path.relative_to(root), root.name) for path in files}
    arrows = []
    for path in files:
        rel = path.relative_to(root)
        importer = _dotted(rel, root.name)
        package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
        tree = ast.parse(path.read_text(), filename=str(path))
        for line, module, names in import_statements(tree, package, runtime_only):
            for name in [f"{module}.{n}" for n in names if n != "*"] or [module]:
                while name and name not in known:
                    name = name.rpartition(".")[0]
                if name and name != importer:
                    arrows.append(Arrow(rel.as_posix(), line, importer, name))
    return list(dict.fromkeys(arrows))  # one arrow per statement and module


def package_graph(arrows: Iterable[Arrow]) -> dict[str, set[str]]:
    """Node -> the other nodes it imports."""
    graph: dict[str, set[str]] = {}
    for arrow in arrows:
        if arrow.source != arrow.target:
            graph.setdefault(arrow.source, set()).add(arrow.target)
    return graph


def find_cycle(graph: Mapping[str, Iterable[str]]) -> list[str]:
    """One cycle of ``graph`` as ``[a, b, ..., a]``, or ``[]`` when it has none (depth-first
    search; a node met again while still on the current path closes a cycle)."""
    done: set[str] = set()
    path: list[str] = []

    def visit(node: str) -> list[str]:
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt in path:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in done and (cycle := visit(nxt)):
                return cycle
        done.add(path.pop())
        return []

    for start in sorted(graph):
        if start not in done and (cycle := visit(start)):
            return cycle
    return []


def upward_arrows(arrows: Iterable[Arrow], floors: tuple[tuple[str, ...], ...]) -> list[Arrow]:
    """The arrows from a node to a node on a higher floor."""
    level = {node: i for i, floor in enumerate(floors) for node in floor}
    return [a for a in arrows if level[a.target] > level[a.source]]


def _along(cycle: list[str], arrows: list[Arrow]) -> list[str]:
    """The imports that make each step of a cycle, for the failure message."""
    steps = set(zip(cycle, cycle[1:], strict=False))
    return [str(a) for a in arrows if (a.source, a.target) in steps]


def _allowed(arrows: list[Arrow]) -> list[Arrow]:
    return [a for a in arrows if (a.file, a.module) not in EXCEPTIONS]


def test_every_node_stands_on_exactly_one_floor() -> None:
    nodes = (
        {node_of(a.importer) for a in scan(SRC)}
        | {p.name for p in SRC.iterdir() if (p / "__init__.py").is_file()}
        | {p.stem for p in SRC.glob("*.py")}
    )
    on_floors = [node for floor in FLOORS for node in floor]
    assert len(on_floors) == len(set(on_floors)), "a node is on two floors"
    assert nodes == set(on_floors), (
        f"not on any floor: {sorted(nodes - set(on_floors))}; "
        f"on a floor but not in src: {sorted(set(on_floors) - nodes)}"
    )


def test_the_package_graph_has_no_cycle() -> None:
    arrows = _allowed(scan(SRC))
    cycle = find_cycle(package_graph(arrows))
    assert not cycle, " -> ".join(cycle) + ":\n" + "\n".join(_along(cycle, arrows))


def test_no_arrow_runs_up_the_floors() -> None:
    offenders = upward_arrows(_allowed(scan(SRC)), FLOORS)
    assert not offenders, "upward imports:\n" + "\n".join(map(str, offenders))


def test_every_exception_is_still_needed() -> None:
    arrows = {(a.file, a.module): a for a in scan(SRC)}
    for key, why in EXCEPTIONS.items():
        assert key in arrows, f"{key} ({why}) is gone: remove it from EXCEPTIONS"
        assert upward_arrows([arrows[key]], FLOORS), f"{key} no longer runs up: remove it"


def test_no_runtime_import_cycle_between_modules() -> None:
    arrows = scan(SRC, runtime_only=True)
    graph: dict[str, set[str]] = {}
    for a in arrows:
        graph.setdefault(a.importer, set()).add(a.module)
    cycle = find_cycle(graph)
    steps = set(zip(cycle, cycle[1:], strict=False))
    along = [str(a) for a in arrows if (a.importer, a.module) in steps]
    assert not cycle, " -> ".join(cycle) + ":\n" + "\n".join(along)


def test_the_floors_in_the_docs_are_the_floors_tested() -> None:
    text = (REPO / "docs" / "architecture.md").read_text()
    section = text.split("\n## Floors\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|") for line in section.splitlines() if re.match(r"\| \d+ \|", line)]
    documented = {int(row[1]): set(re.findall(r"`(\w+)`", row[2])) for row in rows}
    assert documented == {i: set(floor) for i, floor in enumerate(FLOORS)}


def _plant(root: Path, files: dict[str, str]) -> Path:
    for name, source in {"__init__.py": "", **files}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(source)
    return root


def test_the_checker_catches_a_planted_cycle_and_upward_arrow(tmp_path: Path) -> None:
    root = _plant(
        tmp_path / "pkg",
        {
            "low/__init__.py": "",
            "low/a.py": "import os\n\n\ndef f():\n    from pkg.high.b import g\n",
            "high/__init__.py": "",
            "high/b.py": "from ..low import a\n",
            "top.py": "from pkg import low\nfrom pkg import __version__\n",
        },
    )
    floors = (("__init__", "low"), ("high", "top"))
    arrows = scan(root)
    assert sorted(map(str, arrows)) == [
        "high/b.py:1 imports pkg.low.a (high -> low)",
        "low/a.py:5 imports pkg.high.b (low -> high)",
        "top.py:1 imports pkg.low (top -> low)",
        "top.py:2 imports pkg (top -> __init__)",
    ]
    assert find_cycle(package_graph(arrows)) == ["high", "low", "high"]
    assert [str(a) for a in upward_arrows(arrows, floors)] == [
        "low/a.py:5 imports pkg.high.b (low -> high)"
    ]
    rest = [a for a in arrows if a.file != "low/a.py"]
    assert find_cycle(package_graph(rest)) == [] and upward_arrows(rest, floors) == []


def test_a_type_checking_import_is_an_arrow_but_not_a_runtime_cycle(tmp_path: Path) -> None:
    guarded = "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from pkg import b\n"
    root = _plant(tmp_path / "pkg", {"a.py": guarded, "b.py": "from pkg import a\n"})
    assert {(a.importer, a.module) for a in scan(root)} == {("pkg.a", "pkg.b"), ("pkg.b", "pkg.a")}
    assert [(a.importer, a.module) for a in scan(root, runtime_only=True)] == [("pkg.b", "pkg.a")]


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
    assert {
        "numpy",
        "radsynth.sampling.sample",
        "radsynth.metrics.formulas",
        "radsynth.sampling.samplers",
    } <= found


@pytest.mark.parametrize(
    "folder, forbidden", [("metrics", "radsynth.sampling"), ("sampling", "radsynth.metrics")]
)
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
