// Function references: turning "mod:fn" strings and generated refs into wire paths.

import { encodeValue } from "./values.js";

/** The key the official `convex` package stores a reference's path under; shared so refs interoperate. */
export const functionName = Symbol.for("functionName");

/** Builds a reference to a function at `path` ("folder/file:fn"); used by generated code. */
export function makeFunctionReference(path) {
  if (typeof path !== "string" || path === "") {
    throw new TypeError(`makeFunctionReference: expected a path like "messages:list", got ${String(path)}`);
  }
  return Object.freeze({ [functionName]: path, __reactorPath: path });
}

/** The path a reference names: a string, a generated ref, or an official `makeFunctionReference` ref. */
export function getFunctionPath(ref) {
  if (typeof ref === "string") return ref;
  if (ref !== null && (typeof ref === "object" || typeof ref === "function")) {
    const path =
      ref[functionName] ?? ref.__reactorPath ?? (typeof ref.functionName === "string" ? ref.functionName : undefined);
    if (typeof path === "string" && path !== "") return path;
  }
  const got =
    typeof ref === "string" ? '""' : typeof ref === "object" && ref !== null ? "an object without a path" : String(ref);
  throw new TypeError(`expected a function reference like "messages:list" or api.messages.list, got ${got}`);
}

/**
 * An `api` object that builds a reference for any property path:
 * `anyApi.folder.file.fn` names "folder/file:fn", `anyApi.file.default` names "file".
 */
export const anyApi = apiNode([]);

function apiNode(parts) {
  return new Proxy(
    {},
    {
      get(_target, prop) {
        if (typeof prop === "string") return apiNode([...parts, prop]);
        if (prop === functionName) {
          if (parts.length < 2) throw new Error(`api path must look like api.module.fn, got api.${parts.join(".")}`);
          const module = parts.slice(0, -1).join("/");
          const name = parts[parts.length - 1];
          return name === "default" ? module : `${module}:${name}`;
        }
        return undefined;
      },
    },
  );
}

/** Query paths are canonical "module:fn" (protocol.md section 7); mutations and actions are sent as given. */
export function canonicalPath(path) {
  const colon = path.lastIndexOf(":");
  let module = colon === -1 ? path : path.slice(0, colon);
  const name = colon === -1 ? "default" : path.slice(colon + 1);
  if (module.endsWith(".js")) module = module.slice(0, -3);
  return `${module}:${name}`;
}

/** Checks that function arguments are one plain object; `undefined` means `{}`. */
export function checkArgs(args, path) {
  const value = args ?? {};
  if (typeof value !== "object" || Array.isArray(value) || value instanceof ArrayBuffer) {
    throw new TypeError(
      `${path}: arguments must be an object, got ${Array.isArray(value) ? "an array" : typeof value}`,
    );
  }
  return value;
}

/** The identity of a query subscription: canonical path plus encoded args. */
export function queryToken(path, args) {
  return JSON.stringify([canonicalPath(path), encodeValue(args, "args")]);
}
