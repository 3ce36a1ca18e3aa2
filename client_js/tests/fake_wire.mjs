// The fake server's own wire helpers (Buffer-based, independent of the client's code).

export function encodeTs(ts) {
  const buf = Buffer.alloc(8);
  buf.writeBigUInt64LE(BigInt(ts));
  return buf.toString("base64");
}

export function decodeTs(text) {
  return Buffer.from(text, "base64").readBigUInt64LE();
}

export function decodeJwtPayload(token) {
  try {
    return JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString());
  } catch {
    return null;
  }
}

/** An unsigned JWT; the fake server accepts it unless it is expired or in server.rejectTokens. */
export function makeJwt(claims) {
  const part = (obj) => Buffer.from(JSON.stringify(obj)).toString("base64url");
  return `${part({ alg: "none", typ: "JWT" })}.${part(claims)}.sig`;
}
