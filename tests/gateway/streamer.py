"""A tiny upstream for the gateway's streaming test, run as its own process:
`POST /support/v1/sink` consumes the body and answers its size and SHA-256,
`GET /support/v1/source?bytes=N` streams N bytes."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

app = FastAPI()
CHUNK = b"\x5a" * 65536


@app.post("/support/v1/sink")
async def sink(request: Request) -> dict[str, object]:
    digest, size = hashlib.sha256(), 0
    async for chunk in request.stream():
        digest.update(chunk)
        size += len(chunk)
    return {"bytes": size, "sha256": digest.hexdigest()}


@app.get("/support/v1/source")
async def source(bytes: int) -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        left = bytes
        while left > 0:
            piece = CHUNK[: min(left, len(CHUNK))]
            left -= len(piece)
            yield piece

    return StreamingResponse(body(), media_type="application/octet-stream")
