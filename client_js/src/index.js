// reactor-client: the public API of the core client (one export list, see index.d.ts).

export { ReactorClient } from "./client.js";
export { PaginatedQuery } from "./pagination.js";
export { AppError, FunctionError } from "./errors.js";
export { UploadError, uploadFile } from "./files.js";
export { PROTOCOL_VERSION, ProtocolError, syncUrl } from "./protocol.js";
export { anyApi, functionName, getFunctionPath, makeFunctionReference } from "./refs.js";
export { decodeValue, encodeValue } from "./values.js";
