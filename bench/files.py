"""Benchmark 7: file storage — a large upload and download against `cp`, and small uploads
per second through the official flow beside plain mutations per second."""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import os
import shutil
import statistics
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

import orjson

from bench.processes import reactor_server, run_loadgen
from bench.procstat import rss_bytes
from bench.report import Table, num, ratio
from bench.settings import Settings
from bench.wire import MUTATION_RESPONSE, Conn, sync_url

MIB = 1024 * 1024
BLOCK = 1 * MIB
RSS_LIMIT = 32 * MIB


# Large files -------------------------------------------------------------------


def write_file(path: Path, size: int) -> None:
    block = os.urandom(BLOCK)
    with path.open("wb") as handle:
        for _ in range(size // BLOCK):
            handle.write(block)


def renew(path: Path) -> None:
    """New leading bytes: each round uploads contents the server has not stored yet. With
    the same contents every round, only the first upload would keep a blob; the others
    would find it stored and drop their copy, which is not what uploading a file costs."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, os.urandom(64), 0)
    finally:
        os.close(fd)


def cp_seconds(source: Path, target: Path, sync: bool = False) -> float:
    """`cp`, and with `sync` also `sync` of the copy: a copy as durable as an upload."""
    target.unlink(missing_ok=True)
    os.sync()
    started = time.perf_counter()
    subprocess.run(["cp", str(source), str(target)], check=True)
    if sync:
        subprocess.run(["sync", str(target)], check=True)
    return time.perf_counter() - started


class RssPeak(threading.Thread):
    """Samples a process's resident memory every 5 ms until stopped; keeps the peak."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.start_rss = rss_bytes(pid)
        self.peak = self.start_rss
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(0.005):
            self.peak = max(self.peak, rss_bytes(self.pid))

    def finish(self) -> int:
        self._stop_event.set()
        self.join()
        self.peak = max(self.peak, rss_bytes(self.pid))
        return self.peak - self.start_rss


def call_mutation(port: int, path: str, args: dict[str, Any]) -> Any:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("POST", "/api/mutation", orjson.dumps({"path": path, "args": args}),
                       {"content-type": "application/json"})
    reply = orjson.loads(connection.getresponse().read())
    connection.close()
    if reply["status"] != "success":
        raise RuntimeError(reply)
    return reply["value"]


def upload_file(url: str, path: Path) -> tuple[float, str]:
    """POST the file with curl (a native client, so the client is not what is measured),
    streamed from the file (`-T`); `--data-binary @file` reads all of it into curl's
    memory before sending, which halved the bare HTTP stack's figure. Without curl,
    with http.client in 1 MiB blocks."""
    started = time.perf_counter()
    if shutil.which("curl"):
        done = subprocess.run(["curl", "-sS", "-X", "POST", "-T", str(path),
                               "-H", "content-type: application/octet-stream", url],
                              check=True, capture_output=True)
        reply = done.stdout
    else:
        target = urllib.parse.urlsplit(url)
        connection = http.client.HTTPConnection(target.netloc, timeout=600, blocksize=BLOCK)
        with path.open("rb") as body:
            connection.request("POST", f"{target.path}?{target.query}", body,
                               {"content-type": "application/octet-stream",
                                "content-length": str(path.stat().st_size)})
            reply = connection.getresponse().read()
        connection.close()
    return time.perf_counter() - started, orjson.loads(reply).get("storageId", "")


READ_BLOCK = 256 * 1024


def download_file(url: str, target: Path) -> float:
    """GET `url` into `target` with http.client, received and written in 256 KiB blocks
    (cp's way of copying: large blocks, no copy in between); seconds."""
    started = time.perf_counter()
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.netloc, timeout=600)
    connection.request("GET", f"{parts.path}?{parts.query}" if parts.query else parts.path)
    response = connection.getresponse()
    block = memoryview(bytearray(READ_BLOCK))
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        while count := response.readinto(block):
            os.write(fd, block[:count])
    finally:
        os.close(fd)
        connection.close()
    return time.perf_counter() - started


def curl_download(url: str, target: Path) -> float | None:
    """GET `url` (or copy a `file://` URL) into `target` with curl, which writes in 16 KiB
    pieces; seconds, or None without curl."""
    if not shutil.which("curl"):
        return None
    started = time.perf_counter()
    subprocess.run(["curl", "-sS", "-o", str(target), url], check=True)
    return time.perf_counter() - started


# Small uploads (load generator process) ------------------------------------------


async def _mutation(conn: Conn, path: str, args: dict[str, Any]) -> Any:
    request_id = await conn.mutate(path, args)
    while True:
        frame = await conn.recv()
        if frame.startswith(MUTATION_RESPONSE):
            reply = orjson.loads(frame)
            if reply["requestId"] == request_id:
                if not reply["success"]:
                    raise RuntimeError(reply)
                return reply["result"]


async def generate(port: int, clients: int, warmup_s: float, seconds: float,
                   flow: bool) -> dict[str, Any]:
    """`clients` each doing, one after another: the upload flow (or one insert)."""
    import aiohttp

    window = {"open": False, "stop": False}
    done = [0]
    conns = [await Conn.open(sync_url(port)) for _ in range(clients)]
    connector = aiohttp.TCPConnector(limit=clients)
    session = aiohttp.ClientSession(connector=connector)

    async def client(index: int, conn: Conn) -> None:
        while not window["stop"]:
            if flow:
                url = await _mutation(conn, "attachments:generateUploadUrl", {})
                async with session.post(url, data=os.urandom(4096),
                                        headers={"content-type": "application/octet-stream"}
                                        ) as reply:
                    answer = await reply.json()
                    if reply.status != 200:
                        raise RuntimeError(f"upload refused: {answer}")
                    storage_id = answer["storageId"]
                await _mutation(conn, "attachments:save", {"storageId": storage_id,
                                                           "owner": f"c{index}"})
            else:
                await _mutation(conn, "attachments:insert", {"owner": f"c{index}"})
            if window["open"]:
                done[0] += 1

    tasks = [asyncio.create_task(client(i, c)) for i, c in enumerate(conns)]
    await asyncio.sleep(warmup_s)
    window["open"] = True
    opened = time.perf_counter()
    await asyncio.sleep(seconds)
    window["open"] = False
    elapsed = time.perf_counter() - opened
    window["stop"] = True
    await asyncio.wait_for(asyncio.gather(*tasks), 60)
    for conn in conns:
        await conn.close()
    await session.close()
    return {"done": done[0], "seconds": elapsed}


# Orchestration -----------------------------------------------------------------


def blob_path(data_dir: Path, base_url: str, storage_id: str) -> Path:
    """The server's blob file of `storage_id`: `files/<ab>/<sha256>` in its data directory,
    the sha256 being the download's ETag."""
    parts = urllib.parse.urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.netloc, timeout=60)
    connection.request("HEAD", f"/api/storage/{storage_id}")
    sha256 = str(connection.getresponse().getheader("etag", "")).strip('"')
    connection.close()
    return data_dir / "files" / sha256[:2] / sha256


def drop_cache(path: Path) -> None:
    """Take a file's pages out of the page cache, as a large upload leaves its blob."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def sha256_seconds(path: Path) -> float:
    """hashlib's sha256 over the file in 1 MiB blocks: what every upload must compute."""
    digest = hashlib.sha256()
    started = time.perf_counter()
    with path.open("rb") as handle:
        while block := handle.read(BLOCK):
            digest.update(block)
    return time.perf_counter() - started


def fresh(path: Path) -> Path:
    """`path` removed, as cp's target is: rewriting a file in place costs ext4 more."""
    path.unlink(missing_ok=True)
    os.sync()
    return path


class Rounds:
    """Seconds per named measurement over the rounds; the median of each is reported,
    since on a virtual machine a round that writes into memory the host has not backed
    yet (or took back) can take several times as long, on either side of a ratio."""

    def __init__(self) -> None:
        self.seconds: dict[str, list[float]] = {}
        self.rss_growth: dict[str, list[int]] = {}

    def add(self, name: str, seconds: float) -> None:
        self.seconds.setdefault(name, []).append(seconds)

    def add_rss(self, name: str, growth: int) -> None:
        self.rss_growth.setdefault(name, []).append(growth)

    def rate(self, name: str, size: int) -> float:
        return size / statistics.median(self.seconds[name])

    def listing(self, name: str) -> str:
        return ", ".join(f"{t:.3f}" for t in self.seconds[name])


def large_round(server: Any, data_dir: Path, work: Path, source: Path, size: int,
                rounds: Rounds) -> None:
    """One round of the large-file measurements, each side beside its baseline."""
    renew(source)
    rounds.add("cp", cp_seconds(source, work / "copy.bin"))
    rounds.add("cp + sync", cp_seconds(source, work / "copy.bin", sync=True))
    rounds.add("sha256", sha256_seconds(source))
    url = call_mutation(server.port, "attachments:generateUploadUrl", {})
    peak = RssPeak(server.pid)
    peak.start()
    seconds, storage_id = upload_file(url, source)
    rounds.add_rss("upload", peak.finish())
    rounds.add("upload", seconds)
    blob = blob_path(data_dir, server.http, storage_id)
    download = f"{server.http}/api/storage/{storage_id}"
    drop_cache(blob)
    rounds.add("cp blob, cold", cp_seconds(blob, work / "copy.bin"))
    drop_cache(blob)
    peak = RssPeak(server.pid)
    peak.start()
    rounds.add("download, cold", download_file(download, fresh(work / "download.bin")))
    rounds.add_rss("download", peak.finish())
    rounds.add("cp blob, cached", cp_seconds(blob, work / "copy.bin"))
    rounds.add("download, cached", download_file(download, fresh(work / "download.bin")))
    rounds.add("download, discarded", download_file(download, Path(os.devnull)))
    for name, url in [("download, cached, curl", download), ("curl copy", blob.as_uri())]:
        by_curl = curl_download(url, fresh(work / "download.bin"))
        if by_curl is not None:
            rounds.add(name, by_curl)
    rounds.add("sink", upload_file(f"{server.http}/bench/sink", source)[0])
    rounds.add("source", download_file(f"{server.http}/bench/source?bytes={size}",
                                       fresh(work / "zeros.bin")))
    assert (work / "download.bin").read_bytes() == source.read_bytes()


def run(settings: Settings) -> Table:
    table = Table(f"7. File storage (durability={settings.durability})")
    size = (32 if settings.quick else 256) * MIB
    work = settings.data_dir("files-bench")
    source = work / "source.bin"
    write_file(source, size)
    data_dir = settings.data_dir("files-server")
    server = reactor_server("files", data_dir, settings.durability)
    server.start()
    rounds = Rounds()
    try:
        if not settings.quick:
            large_round(server, data_dir, work, source, size, Rounds())  # warm-up, not counted
        for _ in range(1 if settings.quick else 5):
            large_round(server, data_dir, work, source, size, rounds)
        clients = 16
        small_seconds = settings.seconds(1.5, 10.0)
        warmup = settings.seconds(0.3, 1.0)
        flows = run_loadgen("files", {"port": server.port, "clients": clients,
                                      "warmup_s": warmup, "seconds": small_seconds, "flow": True})
        inserts = run_loadgen("files", {"port": server.port, "clients": clients,
                                        "warmup_s": warmup, "seconds": small_seconds,
                                        "flow": False})
    finally:
        server.stop()
    label = f"{size // MIB} MiB"

    def mib_s(name: str) -> str:
        return f"{num(rounds.rate(name, size) / MIB)} MiB/s"

    def compare(figure: str, name: str, baseline: str, described: str,
                target: bool = False) -> None:
        share = ratio(rounds.rate(name, size), rounds.rate(baseline, size))
        table.add(figure, mib_s(name), f"{mib_s(baseline)} ({described})", share,
                  ">= 0.5x" if target else "", share >= 0.5 if target else None)

    compare(f"upload {label}", "upload", "cp", "cp", target=True)
    compare(f"upload {label} vs a durable copy", "upload", "cp + sync", "cp + sync")
    compare(f"sha256 of {label} (one thread), a ceiling of an upload", "sha256", "cp", "cp")
    compare(f"cp + sync of {label}, a ceiling of a durable upload", "cp + sync", "cp", "cp")
    compare(f"upload {label} vs the bare HTTP stack", "upload", "sink",
            "same server, body read and dropped")
    compare(f"download {label}, blob not cached", "download, cold", "cp blob, cold",
            "cp of the blob file, not cached", target=True)
    compare(f"download {label}, blob cached", "download, cached", "cp blob, cached",
            "cp of the blob file, cached", target=True)
    compare(f"download {label}, cached, the client discarding it", "download, discarded",
            "cp blob, cached", "cp of the blob file, cached")
    if "curl copy" in rounds.seconds:
        compare(f"download {label}, cached, with curl", "download, cached, curl",
                "cp blob, cached", "cp of the blob file, cached")
        compare(f"download {label}, cached, with curl, vs curl copying the blob file itself",
                "download, cached, curl", "curl copy", "curl file:// of the blob to a new file")
    compare(f"download {label} vs the bare HTTP stack", "download, cached", "source",
            "same server, zeros streamed")
    rss_up = max(rounds.rss_growth["upload"])
    rss_down = max(rounds.rss_growth["download"])
    table.add("server RSS growth during upload / download",
              f"{num(rss_up / MIB, 1)} / {num(rss_down / MIB, 1)} MiB", "", None,
              "<= 32 MiB", max(rss_up, rss_down) <= RSS_LIMIT)
    flow_rate = flows["done"] / flows["seconds"]
    insert_rate = inserts["done"] / inserts["seconds"]
    table.add(f"4 KiB uploads/s, official flow ({clients} clients)", num(flow_rate),
              f"{num(insert_rate)} insert mutations/s (same clients)",
              ratio(flow_rate, insert_rate), ">= 1,000/s", flow_rate >= 1000)
    table.note("Upload: curl streams the file in a POST (`-T`); the server hashes it, writes"
               " it to a temporary file, fsyncs, renames and commits `_storage`. cp does not"
               " fsync; `cp + sync` does. Each round changes the file's first bytes first,"
               " so every upload stores a new blob.")
    table.note("Download: http.client receives the GET and writes it to a new file on the"
               " same disk in 256 KiB blocks, beside cp of the server's own blob file to a new"
               " file, both with the blob's pages out of the page cache (as a large upload"
               " leaves them) and both with them cached. curl, in the rows that name it,"
               " writes in 16 KiB pieces, which bounds it below the server (its own file://"
               " copy of the blob shows how far).")
    table.note("Figures are medians of the rounds"
               f"{'' if settings.quick else ' (5, after one warm-up round not counted)'}."
               f" cp: {rounds.listing('cp')}; upload: {rounds.listing('upload')};"
               f" cp of the blob, not cached: {rounds.listing('cp blob, cold')}; download,"
               f" not cached: {rounds.listing('download, cold')}; cp of the blob, cached:"
               f" {rounds.listing('cp blob, cached')}; download, cached:"
               f" {rounds.listing('download, cached')} (seconds).")
    table.note("One upload in the official flow is two mutations over the WebSocket"
               " (generateUploadUrl, which writes nothing and so commits nothing; save)"
               " and one POST (a 4 KiB file is kept in the database, committed with its"
               " `_storage` document): two commits against the baseline's one.")
    return table
