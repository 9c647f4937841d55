"""Servers on 127.0.0.1 that fail in the ways the network does: silent, TLS with a certificate
no one trusts, raw HTTP answers a well-behaved server would not send."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web

from tests.support.servers import free_port


def self_signed(directory: Path) -> ssl.SSLContext:
    """A server TLS context with a fresh self-signed certificate for localhost (openssl)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    key, cert = directory / "key.pem", directory / "cert.pem"
    command = [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    subprocess.run(
        [*command, "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@asynccontextmanager
async def tls_server(directory: Path) -> AsyncIterator[str]:
    """An HTTPS server with a self-signed certificate; yields its base URL."""

    async def answer(_: web.Request) -> web.Response:
        return web.Response(text="never read")

    app = web.Application()
    app.router.add_get("/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=self_signed(directory)).start()
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def raw_server(answer: bytes | None) -> AsyncIterator[str]:
    """A TCP server that reads a request and writes `answer` as it is (None: never answers,
    holding the connection open); yields its base URL."""
    held: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        if answer is None:
            held.append(writer)
            return
        writer.write(answer)
        await writer.drain()
        writer.close()

    port = free_port()
    server = await asyncio.start_server(handle, "127.0.0.1", port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()
