"""The example app's attachments: upload URLs for signed-in users, owner checks, live URLs,
and files removed with their attachment or their task."""

from __future__ import annotations

from collections.abc import AsyncIterator

from example_app_support import Member, expect_error, integrity, new_task

from reactor.testing import ReactorTest


async def stored(t: ReactorTest, data: bytes, content_type: str = "text/plain") -> str:
    """What a POST to an upload URL does, without the HTTP round trip."""
    async def body() -> AsyncIterator[bytes]:
        yield data

    return await t.engine.files.store(body(), content_type)


async def test_attachments_are_listed_with_urls_and_removed_with_their_file(
        t: ReactorTest, alice: Member) -> None:
    task_id = await new_task(alice)
    url = await alice.client.mutation("attachments:generateUploadUrl", {})
    assert "/api/storage/upload?token=" in url
    storage_id = await stored(t, b"# notes\n", "text/markdown")
    await alice.client.mutation("attachments:add", {"taskId": task_id, "storageId": storage_id,
                                                    "name": "  notes.md "})
    [listed] = await alice.client.query("attachments:byTask", {"taskId": task_id})
    assert (listed["name"], listed["size"], listed["contentType"]) == ("notes.md", 8,
                                                                       "text/markdown")
    assert listed["url"].endswith(f"/api/storage/{storage_id}")
    await alice.client.mutation("attachments:remove", {"attachmentId": listed["_id"]})
    assert await alice.client.query("attachments:byTask", {"taskId": task_id}) == []
    assert await t.engine.files.metadata(storage_id) is None


async def test_only_the_owner_uploads_attaches_lists_and_removes(
        t: ReactorTest, alice: Member, bob: Member) -> None:
    await expect_error(t.mutation("attachments:generateUploadUrl", {}), "Unauthenticated")
    task_id = await new_task(alice)
    storage_id = await stored(t, b"x")
    args = {"taskId": task_id, "storageId": storage_id, "name": "x.txt"}
    await expect_error(bob.client.mutation("attachments:add", args), "Forbidden")
    await expect_error(bob.client.query("attachments:byTask", {"taskId": task_id}), "Forbidden")
    attachment_id = await alice.client.mutation("attachments:add", args)
    await expect_error(bob.client.mutation("attachments:remove",
                                           {"attachmentId": attachment_id}), "Forbidden")
    await t.engine.files.delete(storage_id, "test")
    await expect_error(alice.client.mutation("attachments:add", args), "NotFound")


async def test_removing_a_task_removes_its_attachments_and_files(t: ReactorTest,
                                                                 alice: Member) -> None:
    task_id = await new_task(alice)
    storage_id = await stored(t, b"attached to a task")
    await alice.client.mutation("attachments:add", {"taskId": task_id, "storageId": storage_id,
                                                    "name": "a.txt"})
    assert (await integrity(t))["counts"]["attachments"] == 1
    await alice.client.mutation("tasks:remove", {"taskId": task_id})
    report = await integrity(t)
    assert report["counts"]["attachments"] == 0 and report["orphans"] == []
    assert await t.engine.files.metadata(storage_id) is None
    await t.engine.files.released()
    assert not list((t.engine.data_dir / "files").glob("??/*"))  # the blob went too
