"""The package's shape, checked from its source: subpackages in layers that import only
downwards, no import cycle, modules and functions of a readable size, and the README's
architecture section in the same order as the code."""

import ast
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast  # the file's tier (tests/README.md)

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "emovox"
# bottom to top: each layer may import those before it (and itself), never those after
LAYERS = ["store", "audio", "features", "data", "models", "infer", "evaluation", "train"]
LAYERS += ["serve", "batch", "cli"]
FACADE = "emovox"  # the package's own __init__: load_model and friends, above infer


def _modules() -> dict[str, Path]:
    out = {}
    for f in SRC.rglob("*.py"):
        parts = f.relative_to(SRC.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = f
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Every emovox module ``name`` imports, at any depth of its code (lazy imports and
    TYPE_CHECKING blocks included)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("emovox")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            if not base.startswith("emovox"):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in modules else base)
    return found - {name}


def _layer(module: str) -> float:
    if module == FACADE:
        return LAYERS.index("infer") + 0.5
    return LAYERS.index(module.split(".")[1])


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def test_every_module_lives_in_a_layer_and_imports_only_downwards():
    graph, modules = _graph(), _modules()
    loose = [m for m in modules if m != FACADE and m.split(".")[1] not in LAYERS]
    assert not loose, f"modules outside the layers: {loose}"
    unknown = sorted({d for deps in graph.values() for d in deps} - set(modules))
    assert not unknown, f"imports of paths that do not exist (old names?): {unknown}"
    upward = [(a, b) for a, deps in graph.items() for b in deps if _layer(b) > _layer(a)]
    assert not upward, f"upward imports: {upward}"


def test_no_import_cycles():
    graph = _graph()
    # a package's __init__ re-exporting its own submodules is not a cycle of meaning
    edges = {a: {b for b in deps if not a.startswith(b + ".")} for a, deps in graph.items()}
    index, low, stack, on, cycles, counter = {}, {}, [], set(), [], [0]

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = set()
            while True:
                w = stack.pop()
                on.discard(w)
                part.add(w)
                if w == v:
                    break
            if len(part) > 1:
                cycles.append(sorted(part))

    for v in list(edges):
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_modules_and_functions_stay_readable():
    too_long, long_functions = [], []
    for name, path in _modules().items():
        text = path.read_text()
        if len(text.splitlines()) > 400:
            too_long.append((name, len(text.splitlines())))
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                declares = re.fullmatch(r"_?add_\w*parsers?", node.name)  # option lists
                length = node.end_lineno - node.lineno + 1
                if length > 60 and not declares:
                    long_functions.append((name, node.name, length))
    assert not too_long, f"modules over 400 lines: {too_long}"
    assert not long_functions, f"functions over 60 lines: {long_functions}"


def test_the_readme_draws_the_layers_the_code_has():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Architecture", 1)[1].split("\n## ", 1)[0]
    named = re.findall(r"^- `(\w+)/`", section, flags=re.M)
    assert named == LAYERS, f"README's layers {named} are not the code's {LAYERS}"


def test_tests_mirror_the_package():
    """Each test file lives in its layer's folder (or integration/), as tests/README.md says."""
    here = Path(__file__).parent
    folders = set(LAYERS) | {"integration"}
    astray = [str(f.relative_to(here)) for f in here.rglob("test_*.py")
              if f != Path(__file__) and f.parent.name not in folders]  # fmt: skip
    assert not astray, f"test files outside a layer's folder: {astray}"


# namedtuple's public API, which happens to start with an underscore
NAMEDTUPLE = {"_replace", "_asdict", "_fields", "_make", "_field_defaults"}


def _private_names(tree: ast.AST) -> set[str]:
    """The ``_private`` names a module defines: functions, classes, assigned names and
    attributes, parameters."""
    out = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            out.add(n.name)
        elif isinstance(n, ast.Name | ast.Attribute) and isinstance(n.ctx, ast.Store):
            out.add(n.id if isinstance(n, ast.Name) else n.attr)
        elif isinstance(n, ast.arg):
            out.add(n.arg)
    return {x for x in out if x.startswith("_") and not x.startswith("__")}


def _private_reads(files: dict[str, Path], owners: dict[str, Path]) -> list[tuple]:
    """(module, line, name) wherever a module in ``files`` imports or reads a ``_private``
    name that it does not define itself but a module in ``owners`` does."""
    defined = {m: _private_names(ast.parse(p.read_text())) for m, p in owners.items()}
    anyone = set().union(*defined.values())
    found = []
    for m, path in files.items():
        tree = ast.parse(path.read_text())
        own = defined.get(m) or _private_names(tree)
        for n in ast.walk(tree):
            if isinstance(n, ast.ImportFrom) and (n.module or "").startswith("emovox"):
                found += [(m, n.lineno, a.name) for a in n.names
                          if a.name.startswith("_") and not a.name.startswith("__")]  # fmt: skip
            elif isinstance(n, ast.Attribute) and n.attr.startswith("_"):
                name = n.attr
                if not name.startswith("__") and name not in own | NAMEDTUPLE and name in anyone:
                    found.append((m, n.lineno, name))
    return found


def test_no_module_reads_another_modules_private_names():
    modules = _modules()
    found = _private_reads(modules, modules)
    assert not found, f"private names read from another module: {found}"


def test_no_test_calls_a_private_name_of_the_package():
    tests = {p.stem: p for p in Path(__file__).parent.rglob("*.py")}
    found = _private_reads(tests, _modules())
    assert not found, f"tests reading the package's private names: {found}"


# names kept for users for one release, which the package itself must not use
# (and the modules that keep or translate each)
DEPRECATED = {
    "Predictor": ("emovox.infer.torch_engine",),
    "predictor": ("emovox.infer.analyzer",),
    "adapt_by": ("emovox.infer.config", "emovox.serve.app", "emovox.cli.adapting"),
}


def test_no_internal_code_goes_through_a_shim():
    """No package forwards names it does not hold (a module ``__getattr__`` or an import
    hook hides real imports from the layer test), the 0.2 flat paths are gone, and no module
    uses a name kept only for old callers, bar the one that keeps it."""
    forwarding, hooks, using = [], [], []
    for name, path in _modules().items():
        tree = ast.parse(path.read_text())
        for n in ast.walk(tree):
            defines = isinstance(n, ast.FunctionDef) and n.name == "__getattr__"
            assigns = (
                isinstance(n, ast.Name) and n.id == "__getattr__" and isinstance(n.ctx, ast.Store)
            )
            if (defines and n in tree.body) or assigns:
                forwarding.append(name)
            if isinstance(n, ast.Attribute) and n.attr == "meta_path":
                hooks.append(name)
            used = n.attr if isinstance(n, ast.Attribute) else getattr(n, "id", None)
            if used in DEPRECATED and name not in DEPRECATED[used]:
                using.append((name, n.lineno, used))
    assert not forwarding, f"modules forwarding names they do not hold: {forwarding}"
    assert not hooks, f"import hooks: {hooks}"
    assert not using, f"internal uses of names kept for old callers: {using}"
    import importlib

    for old in ("emovox.lite", "emovox.inference", "emovox.timeline"):
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(old)
