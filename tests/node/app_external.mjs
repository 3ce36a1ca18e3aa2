// Identities of another issuer, as a trusted backend sends them (admin key acting as the user):
// one becomes a user through auth:upsertUser; one whose subject is some user's _id is not that user.
// Usage: node app_external.mjs <url> <adminKey>
import { ConvexHttpClient } from "convex/browser";
import { TASK, api, caught, httpClient, signUp } from "./app_lib.mjs";
import { failOnError, finish } from "./sync_lib.mjs";

const [url, adminKey] = process.argv.slice(2);
const ISSUER = "https://id.example.com";

function actingAs(identity) {
  const client = new ConvexHttpClient(url, { logger: false });
  client.setAdminAuth(adminKey, { issuer: ISSUER, ...identity });
  return client;
}

failOnError(async () => {
  const subject = `gh-${Date.now()}`;
  const email = `${subject}@example.com`;
  const erin = actingAs({ subject, email, emailVerified: true });
  const before = await erin.query(api.auth.currentUser, {});
  const userId = await erin.mutation(api.auth.upsertUser, { email, name: "Erin" });
  const me = await erin.query(api.auth.currentUser, {});
  const session = await caught(erin.action(api.sessions.create, { userAgent: "sidecar" }));
  const validated = session.value
    ? await erin.query(api.sessions.validate, { token: session.value.token }) : null;

  const alice = await signUp(url, "alice");
  const { taskId } = await httpClient(url, alice).mutation(api.tasks.create, TASK);
  const lookalike = actingAs({ subject: alice.userId });
  const spoofed = {
    currentUser: await caught(lookalike.query(api.auth.currentUser, {})),
    listByUser: await caught(lookalike.query(api.tasks.listByUser, {})),
    get: await caught(lookalike.query(api.tasks.get, { taskId })),
  };
  finish({ userId, before, me, session, validated, alice: alice.userId, spoofed });
});
