"""The package's shape, checked from its source: subpackages in layers that import only
downwards, no import cycle, modules and functions of a readable size, and the README's
architecture section in the same order as the code."""

import ast
import re
from pathlib import Path

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


def test_the_old_flat_paths_still_import_as_the_same_modules():
    import importlib
    import subprocess
    import sys

    code = (
        "import warnings; warnings.simplefilter('error', DeprecationWarning)\n"
        "try:\n    import emovox.lite\nexcept DeprecationWarning as w:\n    print(w)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "emovox.lite is now emovox.infer.numpy_engine" in out.stdout, out.stderr
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for old, new in [("emovox.inference", "emovox.infer.torch_engine"),
                         ("emovox.timeline", "emovox.infer.timeline"),
                         ("emovox.corpora", "emovox.data.corpora")]:  # fmt: skip
            assert importlib.import_module(old) is importlib.import_module(new)
