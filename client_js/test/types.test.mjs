import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { test } from "node:test";

const root = fileURLToPath(new URL("..", import.meta.url));
const tsc = `${root}node_modules/.bin/tsc`;

test(
  "index.d.ts and react.d.ts type-check a typed usage example (tsc --noEmit)",
  { skip: !existsSync(tsc) && "typescript not installed" },
  async () => {
    const output = await new Promise((resolve) => {
      execFile(tsc, ["-p", "test/types/tsconfig.json"], { cwd: root }, (error, stdout, stderr) =>
        resolve({ error, text: stdout + stderr }),
      );
    });
    assert.equal(output.text, "", output.text);
    assert.equal(output.error, null);
  },
);
