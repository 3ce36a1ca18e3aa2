"""Inserts, rewrites and deletes searchable notes concurrently, printing `acked <n>` after each
commit; SIGKILLed by test_search_crash while it keeps writing."""

from __future__ import annotations

import asyncio
import random
import sys
from pathlib import Path

from reactor.errors import ReactorError
from reactor.schema import define_schema, define_table
from reactor.storage import SqliteStorage
from reactor.transactions import Database
from reactor.values import v

SCHEMA = define_schema({
    "notes": define_table({"body": v.string(), "board": v.string(),
                           "embedding": v.array(v.number())})
    .search_index("search_body", search_field="body", filter_fields=["board"])
    .vector_index("by_embedding", vector_field="embedding", dimensions=4,
                  filter_fields=["board"]),
})
WORDS = ["red", "green", "blue", "cyan", "magenta", "yellow"]


async def writer(db: Database, number: int, ids: list[str]) -> None:
    rng = random.Random(number)
    count = 0
    while True:
        txn = db.begin()
        body = " ".join(rng.choices(WORDS, k=rng.randint(1, 5)))
        board = rng.choice("ab")
        doc = {"body": body, "board": board,
               "embedding": [rng.uniform(-1, 1) for _ in range(4)]}
        choice = rng.random()
        try:
            if ids and choice < 0.3:
                await txn.replace(rng.choice(ids), doc)
            elif ids and choice < 0.45:
                doc_id = rng.choice(ids)
                await txn.delete(doc_id)
                ids.remove(doc_id)
            else:
                ids.append(await txn.insert("notes", doc))
            await db.commit(txn)
        except (ReactorError, ValueError):  # deleted by another writer, or a conflict
            continue
        finally:
            txn.close()
        count += 1
        sys.stdout.write(f"acked {number} {count}\n")
        sys.stdout.flush()


async def main(data_dir: Path) -> None:
    db = await Database.open(SqliteStorage(data_dir, durability="normal"), SCHEMA)
    ids: list[str] = []
    await asyncio.gather(*(writer(db, n, ids) for n in range(4)))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
