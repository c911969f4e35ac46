"""A real Redis server for the tests of ``shmstruct.redis``: started on a free local port in a
private directory, stopped at the end; restartable on the same port. Tests skip, saying why,
where no ``redis-server`` can be found."""

from __future__ import annotations

import pathlib
import shutil
import socket
import subprocess
import time

import pytest
from helpers import JOIN_TIMEOUT

SERVER = shutil.which("redis-server")
NO_SERVER = "no redis-server on PATH (Debian: apt-get install redis-server); the Redis store's tests need a real one"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RedisServer:
    """One redis-server process (persistence off unless ``durable``: then every write is in an
    append-only file, fsynced, so the data outlives a restart)."""

    def __init__(self, directory: pathlib.Path, durable: bool = False) -> None:
        if SERVER is None:
            pytest.skip(NO_SERVER)
        self.directory = directory
        self.durable = durable
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        for _ in range(5):  # another program may take the free port before the server binds it
            self.port = _free_port()
            if self.start():
                return
        raise RuntimeError(f"redis-server did not start; see {directory / 'redis.log'}")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> bool:
        """Start on ``self.port``; whether it answers (``False``: it exited, the port was taken)."""
        assert SERVER is not None
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.durable else ["--appendonly", "no"]
        self.process = subprocess.Popen(
            [SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", *persistence,
             "--dir", str(self.directory), "--logfile", str(self.directory / "redis.log"), "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + JOIN_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as connection:
                    connection.sendall(b"PING\r\n")
                    if connection.recv(16).startswith(b"+PONG"):
                        return True
            except OSError:
                pass
            time.sleep(0.02)
        self.stop()
        return False

    def stop(self) -> None:
        """Stop the server and wait for it to exit."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(JOIN_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(JOIN_TIMEOUT)
        self.process = None

    def restart(self) -> None:
        """Stop, then start again on the same port."""
        self.stop()
        if not self.start():
            raise RuntimeError(f"redis-server did not restart on port {self.port}")
