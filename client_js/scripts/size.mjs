// Prints the minified+gzipped size of reactor-client (and of convex/browser when installed) as JSON.
// Usage: node scripts/size.mjs [node_modules dir holding convex]

import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** Bundles `contents` (an ES module resolved from `resolveDir`) for browsers, minified. */
async function measure(contents, resolveDir, external = []) {
  const result = await build({
    stdin: { contents, resolveDir, loader: "js" },
    bundle: true,
    minify: true,
    format: "esm",
    platform: "browser",
    target: "es2020",
    external,
    write: false,
    logLevel: "silent",
  });
  const code = result.outputFiles[0].contents;
  return { minified: code.length, gzip: gzipSync(code, { level: 9 }).length };
}

function findConvex(candidate) {
  const dirs = [candidate, join(root, "..", "tests", "node", "node_modules")].filter(Boolean);
  for (const dir of dirs) {
    for (const modules of [dir, join(dir, "node_modules")]) {
      if (existsSync(join(modules, "convex", "package.json"))) return modules;
    }
  }
  return null;
}

const report = {
  "reactor-client": await measure('export * from "./src/index.js";', root),
  "reactor-client ReactorClient only": await measure('export { ReactorClient } from "./src/index.js";', root),
  "reactor-client/react": await measure('export * from "./src/react.js";', root, ["react"]),
  // What a React app ships: the client and the hooks (convex/react holds both as well).
  "reactor-client + reactor-client/react": await measure(
    'export * from "./src/index.js"; export * from "./src/react.js";',
    root,
    ["react"],
  ),
};
const convexModules = findConvex(process.argv[2]);
if (convexModules !== null) {
  const convexDir = dirname(convexModules);
  report["convex/browser"] = await measure('export * from "convex/browser";', convexDir);
  report["convex/browser ConvexClient only"] = await measure(
    'export { ConvexClient } from "convex/browser";',
    convexDir,
  );
  report["convex/react"] = await measure('export * from "convex/react";', convexDir, ["react", "react-dom"]);
} else {
  report.note = "convex not found: pass a node_modules directory that holds it to compare";
}
console.log(JSON.stringify(report, null, 2));
