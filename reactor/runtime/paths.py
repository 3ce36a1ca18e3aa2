"""Function paths as clients spell them: `mod:fn`, `folder/mod:fn`, `mod` (default), `mod.js:fn`."""

from __future__ import annotations

from reactor.errors import NotFoundError

_SUFFIXES = (".js", ".ts", ".py", ".mjs", ".jsx", ".tsx")


def canonical_path(path: object) -> str:
    """`"mod.js:fn"` -> `"mod:fn"`; `"mod:default"` -> `"mod"`."""
    if not isinstance(path, str) or not path or len(path) > 512:
        raise NotFoundError(f"invalid function path {path!r}: expected \"module:function\"",
                            code="FunctionNotFound")
    module, _, name = path.partition(":")
    for suffix in _SUFFIXES:
        if module.endswith(suffix):
            module = module[: -len(suffix)]
            break
    if not name or name == "default":
        return module
    return f"{module}:{name}"
