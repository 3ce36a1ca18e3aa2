// Every validator shape of tests/apps/codegen as a TypeScript type; each @ts-expect-error must be an error.
import { ReactorClient } from "reactor-client";
import { api, internal, type Id } from "./codegen/_generated/api.js";

export async function main(client: ReactorClient, userId: Id<"users">, taskId: Id<"tasks">): Promise<void> {
  const scalars = await client.query(api.kinds.scalars, {
    s: "x", n: 1.5, i: 3n, b: true, z: null, raw: new ArrayBuffer(2), anything: { deep: [1] },
  });
  const big: bigint = scalars.i;
  const raw: ArrayBuffer = scalars.raw;
  // @ts-expect-error: int64 is a bigint, not a number
  await client.query(api.kinds.scalars, { s: "x", n: 1, i: 3, b: true, z: null, raw, anything: 0 });
  // @ts-expect-error: a required argument is missing
  await client.query(api.kinds.scalars, { s: "x", n: 1, i: 3n, b: true, raw, anything: 0 });
  // @ts-expect-error: an unknown argument
  await client.query(api.kinds.scalars, { s: "x", n: 1, i: 3n, b: true, z: null, raw, anything: 0, extra: 1 });

  const args = {
    userId, tags: ["a"], scores: { a: 1 }, seen: { [userId]: true }, shape: { kind: "square" as const, side: 2 },
    level: 2.5 as const, big: 7n as const, flag: true as const, "odd-name": "ok", nullable: null,
  };
  const created: Id<"users"> = await client.mutation(api.kinds.compound, args);
  // @ts-expect-error: a plain string is not an Id
  await client.mutation(api.kinds.compound, { ...args, userId: "users-id" });
  // @ts-expect-error: an id of another table
  await client.mutation(api.kinds.compound, { ...args, userId: taskId });
  // @ts-expect-error: a circle has a radius, not a side
  await client.mutation(api.kinds.compound, { ...args, shape: { kind: "circle", side: 1 } });
  // @ts-expect-error: 3 is not one of the literals
  await client.mutation(api.kinds.compound, { ...args, level: 3 });
  // @ts-expect-error: the int64 literal is 7n
  await client.mutation(api.kinds.compound, { ...args, big: 8n });
  // @ts-expect-error: record values are numbers
  await client.mutation(api.kinds.compound, { ...args, scores: { a: "1" } });

  const anything: { whatever: 1 } = await client.action(api.kinds.untyped_result);
  await client.query(api.kinds.no_args, { free: "form" });
  const doubled: number = await client.query(api.folder.nested.fn, { x: 2 });
  const fromDefault: string = await client.query(api.folder.nested.default);
  // @ts-expect-error: internal functions are not in api
  void api.private;
  const lookup = internal.private.lookup;
  // @ts-expect-error: a query reference is not a mutation
  await client.mutation(lookup, { key: "k" });
  const hidden = internal.folder.nested.hidden;
  console.log(big, raw, created, anything, doubled, fromDefault, hidden);
}
