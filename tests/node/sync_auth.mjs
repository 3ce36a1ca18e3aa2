// setAuth with the built-in issuer, with an HS256 provider, and with a bad token; the admin key.
// Usage: node sync_auth.mjs <url> <hs256Token> <badToken> <adminKey>
import { ConvexClient, ConvexHttpClient } from "convex/browser";
import { describeError, failOnError, finish, waitFor } from "./sync_lib.mjs";

const [url, hs256Token, badToken, adminKey] = process.argv.slice(2);

// Subscribes to auth:whoami with a token; resolves with what the client saw.
async function signedIn(fetchToken, label) {
  const client = new ConvexClient(url, { logger: false });
  const identities = [];
  const authChanges = [];
  let fetches = 0;
  client.setAuth(async (args) => {
    fetches += 1;
    return await fetchToken(args);
  }, (isAuthenticated) => authChanges.push(isAuthenticated));
  client.onUpdate("auth:whoami", {}, (identity) => identities.push(identity));
  await waitFor(() => authChanges.length > 0, `${label}: onChange`);
  await waitFor(() => identities.length > 0 && (identities[identities.length - 1] !== null) === authChanges[0],
    `${label}: whoami to match the auth state`);
  // The socket works after whatever happened to the token.
  const after = await client.mutation("counter:incr", { name: `auth-${label}` });
  const result = { authChanges, identity: identities[identities.length - 1], fetches, after,
                   connectionCount: client.connectionState().connectionCount };
  await client.close();
  return result;
}

failOnError(async () => {
  const anonymous = new ConvexHttpClient(url, { logger: false });
  const builtin = await signedIn(
    () => anonymous.mutation("auth:login", { subject: "user-1", name: "Ada" }), "builtin");
  const hs256 = await signedIn(async () => hs256Token, "hs256");
  const bad = await signedIn(async () => badToken, "bad");

  const http = new ConvexHttpClient(url, { logger: false });
  http.setAuth(hs256Token);
  const httpIdentity = await http.query("auth:whoami", {});
  http.setAuth(badToken);
  let httpBad = null;
  try {
    await http.query("auth:whoami", {});
  } catch (error) {
    httpBad = describeError(error);
  }

  const admin = new ConvexHttpClient(url, { logger: false });
  admin.setAdminAuth(adminKey);
  const adminInternal = await admin.mutation("counter:reset", { name: "admin" });
  const adminPeek = await admin.query("counter:peek", { name: "nothing" });
  admin.setAdminAuth(adminKey, { subject: "acted-as", issuer: "https://admin.test" });
  const actingAs = await admin.query("auth:whoami", {});
  let userInternal = null;
  try {
    await anonymous.mutation("counter:reset", { name: "admin" });
  } catch (error) {
    userInternal = describeError(error);
  }
  finish({ builtin, hs256, bad, httpIdentity, httpBad, adminInternal, adminPeek, actingAs,
           userInternal });
});
