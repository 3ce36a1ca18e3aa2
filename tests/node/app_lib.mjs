// Helpers for the example app's end-to-end scripts (driven from tests/app/test_example_app_e2e.py):
// users signed in the way a frontend does it, and calls whose failure is a result to report.
import { ConvexClient, ConvexHttpClient } from "convex/browser";
import { anyApi } from "convex/server";
import { describeError } from "./sync_lib.mjs";

export const api = anyApi;
export const PASSWORD = "correct horse battery";
export const TASK = {
  title: "Fix the flaky test", repoFullName: "acme/widgets",
  repoUrl: "https://github.com/acme/widgets", baseBranch: "main",
};

// The newest sign-up code mailed to `email`: read from the app's outbox (auth:mailbox, an
// internal query) with the admin key in $REACTOR_ADMIN_KEY, as a developer would.
export async function mailedCode(url, email) {
  const admin = new ConvexHttpClient(url, { logger: false });
  admin.setAdminAuth(process.env.REACTOR_ADMIN_KEY);
  const mails = await admin.query(api.auth.mailbox, { email });
  return mails.find((mail) => mail.kind === "signUpCode").code;
}

// A new user through the app's own sign-up: the code from the mail, confirmed. {email, token, userId}.
export async function signUp(url, label) {
  const email = `${label}+${Date.now()}-${Math.random().toString(36).slice(2, 8)}@example.com`;
  const anonymous = new ConvexHttpClient(url, { logger: false });
  await anonymous.action(api.auth.signUp, { email, password: PASSWORD, name: label });
  const code = await mailedCode(url, email);
  const { token, userId } = await anonymous.action(api.auth.confirmSignUp, { email, code });
  return { email, token, userId };
}

// The HTTP client a frontend holds once signed in. `skipQueue` lets its mutations overlap.
export function httpClient(url, user, { skipQueue = false } = {}) {
  const client = new ConvexHttpClient(url, { logger: false });
  if (user) client.setAuth(user.token);
  if (!skipQueue) return client;
  const mutation = client.mutation.bind(client);
  client.mutation = (ref, args) => mutation(ref, args, { skipQueue: true });
  return client;
}

// A subscribing client signed in as `user`; resolves once the server confirmed the token.
export async function socketClient(url, user) {
  const client = new ConvexClient(url, { logger: false });
  if (!user) return client;
  await new Promise((resolve, reject) => {
    client.setAuth(async () => user.token, (ok) => (ok ? resolve() : reject(
      new Error(`the server refused ${user.email}'s token`))));
  });
  return client;
}

// {value} or {error: {message, data}}: a refused call is something to report, not a crash.
export async function caught(promise) {
  try {
    return { value: await promise };
  } catch (error) {
    return { error: describeError(error) };
  }
}

// The first value or error of a subscription, as `caught` reports it.
export function firstUpdate(client, ref, args) {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (result) => {
      if (settled) return;
      settled = true;
      queueMicrotask(() => stop()); // `stop` is assigned by then, even for a synchronous call
      resolve(result);
    };
    const stop = client.onUpdate(ref, args, (value) => settle({ value }),
      (error) => settle({ error: describeError(error) }));
  });
}
