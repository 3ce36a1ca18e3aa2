"""The layers of docs/architecture.md hold: a package of `reactor/` imports only from the
packages below it, and no module imports another module's private names."""

from __future__ import annotations

import ast
from pathlib import Path

REACTOR = Path(__file__).resolve().parent.parent / "reactor"
# Lowest first. `agent` is a library over the runtime; `auth` re-exports runtime pieces
# for apps; the server and the CLI sit on top.
LAYERS = ["errors", "values", "schema", "storage", "transactions", "subscriptions", "runtime",
          "agent", "auth", "server", "cli"]


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every absolute `reactor.*` import in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found.extend((alias.name, []) for alias in node.names)
    return [(module, names) for module, names in found if module.startswith("reactor.")]


def layer(module: str) -> str:
    return module.split(".")[1]


def test_every_package_imports_only_from_the_layers_below() -> None:
    upward = []
    for path in sorted(REACTOR.rglob("*.py")):
        own = path.relative_to(REACTOR).parts[0].removesuffix(".py")
        if own not in LAYERS:
            continue  # the package's front door (reactor/__init__.py) and the test helpers
        for module, _ in imports(path):
            other = layer(module)
            if other in LAYERS and LAYERS.index(other) > LAYERS.index(own):
                upward.append(f"{path.relative_to(REACTOR)} imports {module}")
    assert not upward, "\n".join(upward)


def test_no_module_imports_private_names_of_another_package() -> None:
    private = []
    for path in sorted(REACTOR.rglob("*.py")):
        own = path.relative_to(REACTOR).parts[0].removesuffix(".py")
        for module, names in imports(path):
            if layer(module) != own:
                private += [f"{path.relative_to(REACTOR)}: {module}.{name}"
                            for name in names if name.startswith("_") and name != "__version__"]
    assert not private, "\n".join(private)
