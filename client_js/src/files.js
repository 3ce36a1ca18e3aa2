// File uploads: the flow of Reactor's (and Convex's) file storage, in one call.

/** An upload the server refused; `status` is the HTTP status, `code` the server's error code. */
export class UploadError extends Error {
  constructor(message, status, code) {
    super(message);
    this.name = "UploadError";
    this.status = status;
    this.code = code ?? null;
  }
}

/**
 * Uploads `file` (a File, Blob, ArrayBuffer or string): runs the `generateUploadUrl`
 * mutation (which returns `ctx.storage.generate_upload_url()`), POSTs the file to that
 * single-use URL, and resolves to the new storage id. Save the id with a mutation.
 */
export async function uploadFile(client, generateUploadUrl, file, options = {}) {
  const { args = {}, contentType = file?.type, fetch: fetchImpl = globalThis.fetch } = options;
  const url = await client.mutation(generateUploadUrl, args);
  if (typeof url !== "string") {
    throw new TypeError("uploadFile: the generateUploadUrl mutation must return the URL string");
  }
  const response = await fetchImpl(url, {
    method: "POST",
    headers: contentType ? { "Content-Type": contentType } : {},
    body: file,
  });
  let payload = null;
  try {
    payload = await response.json();
  } catch {
    payload = null;
  }
  if (!response.ok || typeof payload?.storageId !== "string") {
    const reason = payload?.message ?? `the server answered HTTP ${response.status}`;
    throw new UploadError(`upload failed: ${reason}`, response.status, payload?.code);
  }
  return payload.storageId;
}
