"""`reactor codegen`: validator → TypeScript mapping, the generated files, and tsc over them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from client_js_support import CLIENT_JS, ensure_client_js_modules
from e2e_support import REPO_ROOT

from reactor import Int64, v
from reactor.runtime.codegen import CodegenError, generate_api, validator_type
from reactor.runtime.functions import FunctionDefinition, FunctionKind, Visibility
from reactor.runtime.loader import App

TSC = CLIENT_JS / "node_modules" / ".bin" / "tsc"
FIXTURES = Path(__file__).parent / "codegen"
CODEGEN_APP = Path(__file__).parent / "apps" / "codegen"


@pytest.mark.parametrize(("validator", "expected"), [
    (v.string(), "string"),
    (v.number(), "number"),
    (v.float64(), "number"),
    (v.int64(), "bigint"),
    (v.boolean(), "boolean"),
    (v.null(), "null"),
    (v.bytes(), "ArrayBuffer"),
    (v.any(), "any"),
    (None, "any"),
    (v.id("users"), 'Id<"users">'),
    (v.literal("a\"b"), '"a\\"b"'),
    (v.literal(3), "3"),
    (v.literal(-2.5), "-2.5"),
    (v.literal(float("nan")), "number"),
    (v.literal(Int64(-7)), "-7n"),
    (v.literal(False), "false"),
    (v.array(v.union(v.string(), v.null())), "Array<string | null>"),
    (v.object({}), "Record<string, never>"),
    (v.object({"a": v.string(), "b-c": v.optional(v.number())}), '{ a: string; "b-c"?: number }'),
    (v.record(v.string(), v.array(v.int64())), "Record<string, Array<bigint>>"),
    (v.record(v.id("tasks"), v.boolean()), 'Record<Id<"tasks">, boolean>'),
    (v.union(v.literal("x"), v.literal("x"), v.literal("y")), '"x" | "y"'),
])
def test_validator_types(validator: object, expected: str) -> None:
    assert validator_type(validator) == expected  # type: ignore[arg-type]


async def _noop(ctx: object) -> None:
    return None


def _app(*paths: str) -> App:
    functions = {}
    for path in paths:
        fn = FunctionDefinition(FunctionKind.QUERY, Visibility.PUBLIC, _noop, None, None, _noop,
                                path=path)
        functions[path] = fn
    return App(Path("."), "pkg", None, functions)


def test_a_function_and_a_module_of_the_same_name_are_refused() -> None:
    with pytest.raises(CodegenError) as raised:
        generate_api(_app("a:b", "a/b:c"))
    assert raised.value.code == "CodegenError"
    assert "a.b" in raised.value.message and "'a:b'" in raised.value.message


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated api of the example app and the codegen test app, as a TS project sees it."""
    ensure_client_js_modules()  # typescript, and reactor-client's own dependencies
    root = tmp_path_factory.mktemp("codegen")
    for app, name in ((REPO_ROOT, "example"), (CODEGEN_APP, "codegen")):
        result = subprocess.run(
            [sys.executable, "-m", "reactor", "codegen", str(app), "--out",
             str(root / name / "_generated")],
            capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)
        assert result.returncode == 0, result.stderr
        assert "api.d.ts" in result.stdout
    (root / "node_modules").mkdir()
    (root / "node_modules" / "reactor-client").symlink_to(CLIENT_JS, target_is_directory=True)
    (root / "package.json").write_text('{"type": "module"}\n')
    for fixture in FIXTURES.glob("*.ts"):
        shutil.copy(fixture, root / fixture.name)
    return root


def test_the_default_output_is_app_dir_generated(tmp_path: Path) -> None:
    app = tmp_path / "app"
    shutil.copytree(CODEGEN_APP, app)
    result = subprocess.run([sys.executable, "-m", "reactor", "codegen", str(app)],
                            capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr
    dts = (app / "_generated" / "api.d.ts").read_text()
    js = (app / "_generated" / "api.js").read_text()
    assert 'import type { FunctionReference } from "reactor-client";' in dts
    assert 'fn: FunctionReference<"query", { x: number }, number>;' in dts
    assert 'hidden: FunctionReference<"mutation", { note: string }, null>;' in dts
    assert 'import { makeFunctionReference } from "reactor-client";' in js
    assert 'default: makeFunctionReference("folder/nested"),' in js


def _tsc(workspace: Path, *files: str) -> subprocess.CompletedProcess[str]:
    config = {
        "compilerOptions": {"strict": True, "noEmit": True, "target": "es2022",
                            "module": "nodenext", "moduleResolution": "nodenext",
                            "lib": ["es2022", "dom"], "types": []},
        "files": list(files),
    }
    (workspace / "tsconfig.json").write_text(json.dumps(config))
    return subprocess.run([str(TSC), "-p", "tsconfig.json"], cwd=workspace,
                          capture_output=True, text=True, timeout=120)


def test_typed_calls_compile(workspace: Path) -> None:
    # codegen_app_ok.ts also holds @ts-expect-error lines: each must be an error, or tsc fails.
    result = _tsc(workspace, "example_ok.ts", "codegen_app_ok.ts")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_wrong_argument_type_fails_to_compile(workspace: Path) -> None:
    result = _tsc(workspace, "example_wrong_arg.ts")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert output.count("error TS") == 1, output
    assert "example_wrong_arg.ts(7,5): error TS2769" in output, output  # at `title: 42`
    assert "Type 'number' is not assignable to type 'string'." in output, output


def test_generated_references_name_their_paths_at_run_time(workspace: Path) -> None:
    script = workspace / "paths.mjs"
    script.write_text(
        'import { getFunctionPath } from "reactor-client";\n'
        'import { api, internal } from "./codegen/_generated/api.js";\n'
        'import * as example from "./example/_generated/api.js";\n'
        "console.log(JSON.stringify([api.folder.nested.fn, api.folder.nested.default,"
        " api.kinds.compound, internal.private.lookup, example.api.tasks.create,"
        " example.internal.tasks.cleanup].map(getFunctionPath)));\n")
    result = subprocess.run(["node", str(script)], cwd=workspace, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ["folder/nested:fn", "folder/nested", "kinds:compound",
                                         "private:lookup", "tasks:create", "tasks:cleanup"]


def test_an_app_that_does_not_load_is_reported(tmp_path: Path) -> None:
    (tmp_path / "functions").mkdir()
    (tmp_path / "functions" / "broken.py").write_text("from reactor import query\nquery(\n")
    result = subprocess.run([sys.executable, "-m", "reactor", "codegen", str(tmp_path)],
                            capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)
    assert result.returncode == 1
    assert result.stderr.startswith("error [AppLoadError]: ")
    assert "broken.py" in result.stderr
    assert not (tmp_path / "_generated").exists()


def _npm_init_project(root: Path, node_modules: Path) -> Path:
    """A folder as `npm init -y` leaves it (CommonJS), with the test's node_modules."""
    root.mkdir()
    (root / "package.json").write_text(json.dumps(
        {"name": "web", "version": "1.0.0", "main": "index.js", "license": "ISC"}))
    (root / "node_modules").symlink_to(node_modules, target_is_directory=True)
    return root


def test_convex_flavour_loads_both_ways_in_a_default_npm_project(tmp_path: Path,
                                                                node_modules: Path) -> None:
    web = _npm_init_project(tmp_path / "web", node_modules)
    result = subprocess.run(
        [sys.executable, "-m", "reactor", "codegen", str(CODEGEN_APP), "--client", "convex",
         "--out", str(web / "_generated")], capture_output=True, text=True, timeout=60,
        cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr
    written = sorted(p.name for p in (web / "_generated").iterdir())
    assert written == ["api.cjs", "api.d.cts", "api.d.ts", "api.js", "package.json"]
    (web / "index.js").write_text(
        'const { getFunctionName } = require("convex/server");\n'
        'const { api, internal } = require("./_generated/api.cjs");\n'
        "console.log(JSON.stringify([getFunctionName(api.folder.nested.default),"
        " getFunctionName(internal.folder.nested.hidden)]));\n")
    (web / "esm.mjs").write_text(
        'import { getFunctionName } from "convex/server";\n'
        'import { api } from "./_generated/api.js";\n'
        "console.log(JSON.stringify([getFunctionName(api.folder.nested.default)]));\n")
    for script, expected in (("index.js", ["folder/nested", "folder/nested:hidden"]),
                             ("esm.mjs", ["folder/nested"])):
        ran = subprocess.run(["node", script], cwd=web, capture_output=True, text=True,
                             timeout=60)
        assert ran.returncode == 0, ran.stderr
        assert json.loads(ran.stdout) == expected
    dts = (web / "_generated" / "api.d.ts").read_text()
    assert 'import type { FunctionReference } from "convex/server";' in dts
    assert ('hidden: FunctionReference<"mutation", "internal", { note: string }, null>;'
            in dts)


CONVEX_TYPED = """
import { ConvexClient } from "convex/browser";
import { api, internal, type Id } from "./_generated/api.js";

export async function main(client: ConvexClient, userId: Id<"users">): Promise<void> {
  const scalars = await client.query(api.kinds.scalars, {
    s: "x", n: 1.5, i: 3n, b: true, z: null, raw: new ArrayBuffer(2), anything: 1,
  });
  const big: bigint = scalars.i;
  const created: Id<"users"> = await client.mutation(api.kinds.compound, {
    userId, tags: [], scores: {}, seen: {}, shape: { kind: "circle", radius: 1 }, level: 1,
    big: 7n, flag: true, "odd-name": "x", nullable: null,
  });
  const raw = new ArrayBuffer(1);
  // @ts-expect-error: int64 is a bigint, not a number
  await client.query(api.kinds.scalars, { s: "", n: 1, i: 3, b: true, z: null, raw, anything: 0 });
  // @ts-expect-error: an internal function is not callable from a client
  await client.mutation(internal.folder.nested.hidden, { note: "x" });
  console.log(big, created);
}
"""


def test_convex_flavour_types_check_against_the_official_client(tmp_path: Path,
                                                                node_modules: Path) -> None:
    ensure_client_js_modules()  # typescript
    web = _npm_init_project(tmp_path / "web", node_modules)
    result = subprocess.run(
        [sys.executable, "-m", "reactor", "codegen", str(CODEGEN_APP), "--client", "convex",
         "--out", str(web / "_generated")], capture_output=True, text=True, timeout=60,
        cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr
    # Each @ts-expect-error line must be an error, or tsc fails: a wrong argument type and
    # an internal function are refused by the official client's own types.
    (web / "main.ts").write_text(CONVEX_TYPED)
    checked = _tsc(web, "main.ts")
    assert checked.returncode == 0, checked.stdout + checked.stderr
