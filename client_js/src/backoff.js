// Reconnect delays: jittered exponential backoff whose start depends on why the socket closed.

/** Close-reason prefixes the server uses to ask for a slower retry (protocol.md rule 9). */
const SERVER_REASONS = {
  InternalServerError: 1,
  SubscriptionsWorkerFullError: 3,
  TooManyConcurrentRequests: 3,
  CommitterFullError: 3,
  AwsTooManyRequestsException: 3,
  ExecuteFullError: 3,
  SystemTimeoutError: 3,
  ExpiredInQueue: 3,
  VectorIndexesUnavailable: 1,
  SearchIndexesUnavailable: 1,
  TableSummariesUnavailable: 1,
  VectorIndexTooLarge: 3,
  SearchIndexTooLarge: 3,
  TooManyWritesInTimePeriod: 3,
};

/** "client" for a close we chose, a known server prefix, or "Unknown". */
export function classifyCloseReason(reason) {
  if (typeof reason !== "string" || reason === "") return "Unknown";
  for (const prefix of Object.keys(SERVER_REASONS)) if (reason.startsWith(prefix)) return prefix;
  return "Unknown";
}

export class Backoff {
  /**
   * `initialMs` is the first delay after an unexplained close (1 s by default); overload reasons
   * start at 3x, closes the client chose itself at a tenth. Delays double per consecutive
   * failure up to `maxMs`, then get ±50 % jitter.
   */
  constructor({ initialMs = 1000, maxMs = 16000, random = Math.random } = {}) {
    this.initialMs = initialMs;
    this.maxMs = maxMs;
    this.random = random;
    this.retries = 0;
  }

  startFor(kind) {
    if (kind === "client") return this.initialMs / 10;
    return this.initialMs * (SERVER_REASONS[kind] ?? 1);
  }

  /** The next delay in ms; each call counts as one more consecutive failure. */
  next(kind) {
    const base = Math.min(this.startFor(kind) * 2 ** this.retries, this.maxMs);
    this.retries += 1;
    return base + base * (this.random() - 0.5);
  }

  reset() {
    this.retries = 0;
  }
}
