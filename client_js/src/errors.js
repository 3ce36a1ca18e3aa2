// Errors the client raises for failed functions, and the logger it reports everything else to.

/** A query, mutation or action failed on the server; `message` names the function. */
export class FunctionError extends Error {
  constructor(kind, path, errorMessage) {
    super(`[${kind} ${path}] ${errorMessage}`);
    this.name = "FunctionError";
    this.kind = kind;
    this.functionPath = path;
    this.errorMessage = errorMessage;
  }
}

/** An application error thrown on purpose by a function; `data` is the value it carried. */
export class AppError extends FunctionError {
  constructor(kind, path, errorMessage, data) {
    super(kind, path, errorMessage);
    this.name = "AppError";
    this.data = data;
  }
}

/** Turns a failed FunctionResult into the error the app sees. */
export function errorFromResult(kind, path, result) {
  return result.errorData === undefined
    ? new FunctionError(kind, path, result.errorMessage)
    : new AppError(kind, path, result.errorMessage, result.errorData);
}

const SILENT = { log() {}, warn() {}, error() {}, debug() {} };

/**
 * `option` false silences the client, an object with log/warn/error(/debug) receives its
 * messages, anything else logs to the console; debug lines appear only when `verbose`.
 */
export function makeLogger(option, verbose) {
  if (option === false) return SILENT;
  const sink = option && typeof option === "object" ? option : console;
  const prefix = sink === console ? ["[reactor]"] : [];
  return {
    log: (...args) => sink.log?.(...prefix, ...args),
    warn: (...args) => sink.warn?.(...prefix, ...args),
    error: (...args) => sink.error?.(...prefix, ...args),
    debug: (...args) => {
      if (verbose) (sink.debug ?? sink.log)?.call(sink, ...prefix, ...args);
    },
  };
}
