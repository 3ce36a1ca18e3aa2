// Small helpers shared by the sync end-to-end scripts (driven from tests/test_sync_*.py).
// Each script prints one JSON object on its last stdout line; the Python test asserts on it.

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Resolves once predicate() is truthy; rejects naming `what` after timeoutMs.
export async function waitFor(predicate, what, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await sleep(5);
  }
}

// Prints the result line and exits (the client's socket would keep Node alive).
export function finish(result) {
  console.log(JSON.stringify(result));
  process.exit(0);
}

// Any failure: print it where the test shows it, and exit non-zero.
export function failOnError(main) {
  main().catch((error) => {
    console.error(error && error.stack ? error.stack : String(error));
    process.exit(1);
  });
}

// The fields of a thrown client error that tests look at.
export function describeError(error) {
  return { message: String(error.message), data: error.data === undefined ? null : error.data };
}
