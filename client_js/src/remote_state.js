// Query results as the server last reported them on this socket, advanced one Transition at a time.

import { decodeValue } from "./values.js";
import { ProtocolError, ZERO_VERSION, formatVersion, sameVersion } from "./protocol.js";

export class RemoteState {
  constructor() {
    this.version = ZERO_VERSION;
    this.results = new Map(); // queryId -> FunctionResult
  }

  get ts() {
    return this.version.ts;
  }

  /**
   * A new socket starts from the zero version. Results of queries still wanted stay visible
   * until the new socket answers them (it answers every re-sent query), so a reconnect does not
   * flash loading states.
   */
  restart(stillWanted) {
    this.version = ZERO_VERSION;
    for (const queryId of this.results.keys()) if (!stillWanted(queryId)) this.results.delete(queryId);
  }

  /**
   * Applies a whole Transition or nothing: the start version is checked and every value decoded
   * before any result changes, so observers never see half of a snapshot.
   */
  apply(transition) {
    if (!sameVersion(this.version, transition.startVersion)) {
      throw new ProtocolError(
        `Transition starts at ${formatVersion(transition.startVersion)} but the client is at ${formatVersion(this.version)}`,
      );
    }
    const staged = transition.modifications.map((m) => [m.queryId, m.type === "QueryRemoved" ? null : toResult(m)]);
    for (const [queryId, result] of staged) {
      if (result === null) this.results.delete(queryId);
      else this.results.set(queryId, result);
    }
    this.version = transition.endVersion;
    return staged;
  }
}

/** A QueryUpdated/QueryFailed as a FunctionResult; a value that does not decode becomes that query's error. */
function toResult(m) {
  try {
    if (m.type === "QueryUpdated") {
      return { success: true, value: decodeValue(m.value ?? null, "value"), logLines: m.logLines };
    }
    const errorData = m.errorData === undefined ? undefined : decodeValue(m.errorData, "errorData");
    return { success: false, errorMessage: m.errorMessage, errorData, logLines: m.logLines };
  } catch (err) {
    return { success: false, errorMessage: `malformed ${m.type}: ${err.message}`, logLines: m.logLines };
  }
}
