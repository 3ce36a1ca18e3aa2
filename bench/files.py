"""Benchmark 7: file storage — a large upload and download against `cp`, and small uploads
per second through the official flow beside plain mutations per second."""

from __future__ import annotations

import asyncio
import http.client
import os
import shutil
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


def download_file(url: str, target: Path) -> float:
    """GET `url` into `target` with curl (or http.client); seconds."""
    started = time.perf_counter()
    if shutil.which("curl"):
        subprocess.run(["curl", "-sS", "-o", str(target), url], check=True)
    else:
        parts = urllib.parse.urlsplit(url)
        connection = http.client.HTTPConnection(parts.netloc, timeout=600)
        connection.request("GET", f"{parts.path}?{parts.query}" if parts.query else parts.path)
        response = connection.getresponse()
        with target.open("wb") as out:
            while chunk := response.read(BLOCK):
                out.write(chunk)
        connection.close()
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


def run(settings: Settings) -> Table:
    table = Table(f"7. File storage (durability={settings.durability})")
    size = (32 if settings.quick else 256) * MIB
    work = settings.data_dir("files-bench")
    source = work / "source.bin"
    write_file(source, size)
    server = reactor_server("files", settings.data_dir("files-server"), settings.durability)
    server.start()
    cp_times: list[float] = []
    durable_cp_times: list[float] = []
    sinks: list[float] = []
    sources: list[float] = []
    uploads: list[float] = []
    downloads: list[float] = []
    discarded: list[float] = []
    rss_up: list[int] = []
    rss_down: list[int] = []
    try:
        for _ in range(settings.rounds()):
            renew(source)
            cp_times.append(cp_seconds(source, work / "copy.bin"))
            durable_cp_times.append(cp_seconds(source, work / "copy.bin", sync=True))
            url = call_mutation(server.port, "attachments:generateUploadUrl", {})
            peak = RssPeak(server.pid)
            peak.start()
            seconds, storage_id = upload_file(url, source)
            rss_up.append(peak.finish())
            uploads.append(seconds)
            peak = RssPeak(server.pid)
            peak.start()
            downloads.append(download_file(f"{server.http}/api/storage/{storage_id}",
                                           work / "download.bin"))
            rss_down.append(peak.finish())
            discarded.append(download_file(f"{server.http}/api/storage/{storage_id}",
                                           Path(os.devnull)))
            sinks.append(upload_file(f"{server.http}/bench/sink", source)[0])
            sources.append(download_file(f"{server.http}/bench/source?bytes={size}",
                                         work / "zeros.bin"))
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
    assert (work / "download.bin").read_bytes() == source.read_bytes()
    cp_rate = size / (sum(cp_times) / len(cp_times))
    up_rate = size / (sum(uploads) / len(uploads))
    down_rate = size / (sum(downloads) / len(downloads))
    label = f"{size // MIB} MiB"
    table.add(f"upload {label}: MiB/s", num(up_rate / MIB), f"{num(cp_rate / MIB)} MiB/s (cp)",
              ratio(up_rate, cp_rate), ">= 0.5x", up_rate >= 0.5 * cp_rate)
    table.add(f"download {label}: MiB/s", num(down_rate / MIB),
              f"{num(cp_rate / MIB)} MiB/s (cp)", ratio(down_rate, cp_rate), ">= 0.5x",
              down_rate >= 0.5 * cp_rate)
    durable_rate = size / (sum(durable_cp_times) / len(durable_cp_times))
    table.add(f"upload {label} vs a durable copy", num(up_rate / MIB),
              f"{num(durable_rate / MIB)} MiB/s (cp + sync)", ratio(up_rate, durable_rate))
    sink_rate = size / (sum(sinks) / len(sinks))
    source_rate = size / (sum(sources) / len(sources))
    table.add(f"upload {label} vs the bare HTTP stack", num(up_rate / MIB),
              f"{num(sink_rate / MIB)} MiB/s (same server, body read and dropped)",
              ratio(up_rate, sink_rate))
    discard_rate = size / (sum(discarded) / len(discarded))
    table.add(f"download {label}, the client discarding it", num(discard_rate / MIB),
              f"{num(down_rate / MIB)} MiB/s (the client writing a file)",
              ratio(discard_rate, down_rate))
    table.add(f"download {label} vs the bare HTTP stack", num(down_rate / MIB),
              f"{num(source_rate / MIB)} MiB/s (same server, zeros streamed)",
              ratio(down_rate, source_rate))
    table.add("server RSS growth during upload / download",
              f"{num(max(rss_up) / MIB, 1)} / {num(max(rss_down) / MIB, 1)} MiB", "", None,
              "<= 32 MiB", max(rss_up + rss_down) <= RSS_LIMIT)
    flow_rate = flows["done"] / flows["seconds"]
    insert_rate = inserts["done"] / inserts["seconds"]
    table.add(f"4 KiB uploads/s, official flow ({clients} clients)", num(flow_rate),
              f"{num(insert_rate)} insert mutations/s (same clients)",
              ratio(flow_rate, insert_rate), ">= 1,000/s", flow_rate >= 1000)
    table.note("Upload: curl streams the file in a POST (`-T`); the server hashes it, writes"
               " it to a temporary file, fsyncs, renames and commits `_storage`. Download:"
               " curl writes the GET to a file on the same disk. cp does not fsync;"
               " `cp + sync` does. Each round changes the file's first bytes first, so every"
               " upload stores a new blob (cp copies that same file). The discarding"
               " download (`curl -o /dev/null`) follows the first, so it reads the blob"
               " from the page cache that one filled.")
    table.note(f"cp rounds (s): {', '.join(f'{t:.3f}' for t in cp_times)}; cp + sync rounds:"
               f" {', '.join(f'{t:.3f}' for t in durable_cp_times)}; upload rounds:"
               f" {', '.join(f'{t:.3f}' for t in uploads)}; download rounds:"
               f" {', '.join(f'{t:.3f}' for t in downloads)}.")
    table.note("One upload in the official flow is two mutations over the WebSocket"
               " (generateUploadUrl, which writes nothing and so commits nothing; save)"
               " and one POST (a 4 KiB file is kept in the database, committed with its"
               " `_storage` document): two commits against the baseline's one.")
    return table
