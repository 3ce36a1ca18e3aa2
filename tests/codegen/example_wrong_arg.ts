// A wrong argument type: tsc must reject this file.
import { ReactorClient } from "reactor-client";
import { api } from "./example/_generated/api.js";

export async function main(client: ReactorClient): Promise<void> {
  await client.mutation(api.tasks.create, {
    title: 42,
    repoFullName: "acme/widgets",
    repoUrl: "https://github.com/acme/widgets",
    baseBranch: "main",
  });
}
