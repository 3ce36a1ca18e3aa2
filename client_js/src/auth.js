// Auth tokens: fetch, send, confirm, refresh before expiry, and recover from AuthError once.

import { base64ToBytes } from "./values.js";

const MAX_REFRESH_DELAY_MS = 20 * 24 * 3600 * 1000; // setTimeout overflows past ~24.8 days
const STALE = Symbol("stale");

/** The claims of a JWT, or undefined when it is not one. */
function jwtClaims(token) {
  try {
    return JSON.parse(new TextDecoder().decode(base64ToBytes(token.split(".")[1])));
  } catch {
    return undefined;
  }
}

/**
 * How long to wait before refreshing a token that was just accepted, or undefined if it never
 * expires. The token's time left is the smaller of `exp - now` and its full lifetime
 * `exp - iat`, so a client clock running behind the issuer's cannot push the refresh past
 * expiry. A token living no longer than the leeway is refreshed at half its time left.
 */
export function refreshDelayMs(token, leewaySeconds, nowMs = Date.now()) {
  const claims = jwtClaims(token);
  if (typeof claims?.exp !== "number") return undefined;
  let leftMs = claims.exp * 1000 - nowMs;
  if (typeof claims.iat === "number") leftMs = Math.min(leftMs, (claims.exp - claims.iat) * 1000);
  const delay = leftMs - leewaySeconds * 1000;
  return Math.min(MAX_REFRESH_DELAY_MS, delay > 0 ? delay : Math.max(0, leftMs / 2));
}

/**
 * States: none (no fetcher), confirming (token sent, no Transition has shown the identity bump
 * yet), confirmed (refresh scheduled). `retried` marks a token fetched after an AuthError:
 * if the server rejects it too we stop authenticating.
 */
export class AuthManager {
  constructor(local, hooks, { logger, leewaySeconds = 10 }) {
    this.local = local;
    this.hooks = hooks; // {send(message), pause(), resume(), stopSocket(), restartSocket()}
    this.logger = logger;
    this.leewaySeconds = leewaySeconds;
    this.state = { kind: "none" };
    this.config = null;
    this.configVersion = 0;
    this.refreshTimer = null;
    this.reported = undefined;
  }

  async setAuth(fetchToken, onChange) {
    this.reset();
    const version = ++this.configVersion;
    this.config = { fetchToken, onChange };
    this.reported = undefined;
    this.hooks.pause();
    try {
      let token = await this.fetch(false, version);
      if (token === null) token = await this.fetch(true, version);
      if (token === STALE) return;
      if (token !== null) this.send(token, false);
      else this.giveUp("no auth token available");
    } finally {
      if (version === this.configVersion) this.hooks.resume();
    }
  }

  /** Called for every applied Transition: an identity bump confirms the last token sent. */
  onTransition(transition) {
    const { startVersion, endVersion } = transition;
    if (endVersion.identity <= startVersion.identity) return;
    if (!this.local.isCurrentOrNewerIdentity(endVersion.identity)) return;
    if (this.state.kind !== "confirming") return;
    const token = this.state.token;
    this.state = { kind: "confirmed", token };
    this.report(true);
    this.scheduleRefresh(token);
  }

  onAuthError(message) {
    if (!message.authUpdateAttempted && this.state.kind === "confirming") return;
    if (!this.local.isCurrentOrNewerIdentity(message.baseVersion + 1)) return; // about an older token
    // The server closes after AuthError; stop first so we do not reconnect with the rejected token.
    this.hooks.stopSocket();
    if (this.state.kind === "none" || this.state.retried) {
      this.logger.error(`authentication failed: ${message.error}; continuing unauthenticated`);
      this.giveUp(message.error);
      this.hooks.restartSocket();
      return;
    }
    this.retryWithFreshToken(message.error).catch((err) => this.logger.error("re-authentication failed:", err));
  }

  async retryWithFreshToken(error) {
    this.logger.debug(`token rejected (${error}); fetching a fresh one`);
    const version = this.configVersion;
    const token = await this.fetch(true, version);
    if (token === STALE) return;
    if (token !== null && token !== this.local.auth?.value) this.send(token, true);
    else this.giveUp(error);
    this.hooks.restartSocket();
  }

  async refresh() {
    this.refreshTimer = null;
    const token = await this.fetch(true, this.configVersion);
    if (token === STALE) return;
    if (token === null) {
      this.giveUp("token refresh returned no token");
    } else if (token !== this.local.auth?.value) {
      this.send(token, false);
    } else {
      this.logger.debug("token refresh returned the same token; not refreshing again");
    }
  }

  send(token, retried) {
    this.state = { kind: "confirming", token, retried };
    this.hooks.send(this.local.setAuth(token));
  }

  scheduleRefresh(token) {
    const delay = refreshDelayMs(token, this.leewaySeconds);
    if (delay === undefined) return;
    this.clearTimer();
    this.refreshTimer = setTimeout(() => {
      this.refresh().catch((err) => this.logger.error("token refresh failed:", err));
    }, delay);
  }

  async fetch(forceRefreshToken, version) {
    let token = null;
    try {
      token = await this.config.fetchToken({ forceRefreshToken });
    } catch (err) {
      this.logger.error("fetchToken threw:", err);
    }
    if (version !== this.configVersion) return STALE;
    return typeof token === "string" && token !== "" ? token : null;
  }

  /** Falls back to unauthenticated and tells the app. */
  giveUp(reason) {
    this.logger.debug(`auth off: ${reason}`);
    this.clearTimer();
    this.state = { kind: "none" };
    if (this.local.auth !== undefined) this.hooks.send(this.local.clearAuth());
    this.report(false);
  }

  report(isAuthenticated) {
    if (this.reported === isAuthenticated || this.config === null) return;
    this.reported = isAuthenticated;
    try {
      this.config.onChange?.(isAuthenticated);
    } catch (err) {
      this.logger.error("auth onChange callback threw:", err);
    }
  }

  clearTimer() {
    if (this.refreshTimer !== null) clearTimeout(this.refreshTimer);
    this.refreshTimer = null;
  }

  /** Forgets the fetcher; a token fetch still running is ignored when it returns. */
  reset() {
    this.configVersion += 1;
    this.clearTimer();
    this.state = { kind: "none" };
    this.hooks.resume(); // a setAuth waiting for its token no longer holds messages back
  }
}
