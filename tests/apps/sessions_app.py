"""A FastAPI app with what the example engine lacks: a WebSocket endpoint (echo; ``boom`` raises inside the
handler), a long-poll route and an ordinary route (tests/test_sessions.py)."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI, WebSocket

app = FastAPI()


@app.get("/ping")
async def ping() -> dict[str, str]:
    return {"pong": "yes"}


@app.get("/poll/{channel}")
async def poll(channel: str) -> dict[str, str]:
    await asyncio.sleep(0.3)  # a long poll: waits for news, then answers
    return {"channel": channel, "news": "none"}


@app.websocket("/ws/echo")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    while True:
        text = await websocket.receive_text()
        if text == "boom":
            raise RuntimeError("the echo handler failed on purpose")
        if text == "bye":
            await websocket.close()
            return
        await websocket.send_text(text)
