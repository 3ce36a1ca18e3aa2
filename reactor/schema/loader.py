"""Loading an app's `schema.py`: import it fresh and report errors with file and line."""

from __future__ import annotations

import importlib.util
import itertools
import sys
import traceback
from pathlib import Path

from reactor.errors import ReactorError, SchemaError
from reactor.schema.tables import SchemaDefinition

SCHEMA_FILE = "schema.py"
_module_numbers = itertools.count(1)


def load_schema(app_dir: Path) -> SchemaDefinition | None:
    """The `schema` defined by `app_dir/schema.py`, or None when there is no such file.

    Each call imports the file under a new module name, so an edited schema reloads.
    """
    path = Path(app_dir).resolve() / SCHEMA_FILE
    if not path.is_file():
        return None
    module_name = f"_reactor_app_schema_{next(_module_numbers)}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise SchemaError(f"{path}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise SchemaError(_describe_failure(path, exc)) from exc
    finally:
        sys.modules.pop(module_name, None)
    schema = getattr(module, "schema", None) or getattr(module, "default_export", None)
    if schema is None:
        raise SchemaError(f"{path}: define a module-level `schema = define_schema({{...}})`")
    if not isinstance(schema, SchemaDefinition):
        raise SchemaError(
            f"{path}: `schema` must come from define_schema(...), got {type(schema).__name__}"
        )
    return schema


def _describe_failure(path: Path, exc: Exception) -> str:
    """`<file>:<line>: <error>`, the line being the last one of schema.py in the traceback."""
    line: int | None = None
    detail = str(exc)
    if isinstance(exc, SyntaxError) and exc.filename == str(path):
        line, detail = exc.lineno, exc.msg
    else:
        for frame in traceback.extract_tb(exc.__traceback__):
            if Path(frame.filename) == path:
                line = frame.lineno
    where = f"{path}:{line}" if line is not None else str(path)
    text = detail if isinstance(exc, ReactorError) else f"{type(exc).__name__}: {detail}"
    return f"{where}: {text}"
