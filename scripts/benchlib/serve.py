"""A server in a process of its own on a free 127.0.0.1 port, for scenarios that measure over real sockets.

    with serve(settings={"DATABASE_URL": url}) as server:      # the t3000gql app
        ... server.port, server.peak_rss_mb()
    with serve("floor", body=answer) as server:                  # a bare Starlette app under the same uvicorn

The child (`python -m benchlib.serve`) builds the app as `t3000gql serve` does (`create_app` over settings read
by `Settings.from_env`, from the variables given here only: neither the caller's environment nor a .env file
leaks in) and runs it under uvicorn with `t3000gql serve`'s options, minus the access log line per request.
It listens on a socket it bound itself to 127.0.0.1:0 (so no port can be taken between choosing and binding)
with TCP_NODELAY, which accepted sockets inherit: without it the headers and body uvicorn writes apart wait for
the client's delayed ACK (40 ms). It prints {"port", "pid"} once listening; the parent then waits until
GET /health answers. Closing its stdin stops it.

`control="module:function"` runs `await function(app, control_options)` inside the server process once it is up;
the handler it returns answers JSON commands sent with `Server.command(...)` (one line each way), for scenarios
that drive the server from within (the live scenarios write through the write path there, as a collector would).

    with serve_workers(2, settings={"DATABASE_URL": url, "BROADCAST_URL": redis}) as server:   # t3000gql serve --workers 2
    with serve_workers(2, "floor", body=answer) as server:                                    # the floor, 2 workers too

`serve_workers` runs the command an operator runs (`t3000gql serve --workers N`; for the floor, uvicorn's own
`--workers N` over a factory of the floor app), so both sides get uvicorn's supervisor and N processes on one
socket. Its `peak_rss_mb` sums the workers'.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import importlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchlib import ROOT, child_env, module_command

_ARGUMENT_BYTES = 64 * 1024
Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
Setting = str | int | float | bool


@dataclass
class Server:
    process: subprocess.Popen[str]
    port: int
    pid: int
    controlled: bool = False

    def command(self, **command: Any) -> dict[str, Any]:
        """Sends one JSON command to the server's control handler and returns its reply."""
        if not self.controlled:
            raise RuntimeError("this server was started without control=: it takes no commands")
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the server process ended (status {self.process.wait()}) during {command}")
        reply: dict[str, Any] = json.loads(line)
        return reply

    async def command_async(self, **command: Any) -> dict[str, Any]:
        return await asyncio.to_thread(lambda: self.command(**command))

    def peak_rss_mb(self) -> float:
        """The server process's peak resident set so far (VmHWM)."""
        return _status_kb(self.pid, "VmHWM") / 1024

    def rss_mb(self) -> float:
        return _status_kb(self.pid, "VmRSS") / 1024


@contextlib.contextmanager
def serve(
    app: str = "t3000gql",
    *,
    settings: Mapping[str, Setting] | None = None,
    body: str = "",
    loop: str = "auto",
    ws_deflate: bool = True,
    control: str | None = None,
    control_options: Mapping[str, Any] | None = None,
    profile: Path | None = None,
    ready_within_s: float = 120.0,
) -> Iterator[Server]:
    """Starts the server process, waits until it answers, yields it, and stops exactly that process.

    app: "t3000gql", or "floor" (answers any GET or POST, e.g. /graphql, with `body`, whatever the request).
    settings: environment variables of the app (DATABASE_URL, …) over the defaults; HOST and PORT are ignored.
    loop: uvicorn's loop option ("auto" picks uvloop as `t3000gql serve` does; "asyncio" the stdlib loop).
    ws_deflate: WebSocket per-message compression. profile: write a cProfile dump of the server process here."""
    environ = {name: _env_value(value) for name, value in (settings or {}).items()}
    argv = module_command("benchlib.serve", "--app", app, "--settings", json.dumps(environ), "--loop", loop)
    spill = tempfile.TemporaryDirectory(prefix="bench-floor-") if len(body) > _ARGUMENT_BYTES else None
    if spill is not None:  # a long answer (a REST range) goes by file: one argument holds 128 KiB at most
        (Path(spill.name) / "body").write_text(body)
        argv += ["--body-file", str(Path(spill.name) / "body")]
    else:
        argv += ["--body", body]
    argv += ["--control-options", json.dumps(dict(control_options or {}))]
    argv += ["--control", control] if control else []
    argv += [] if ws_deflate else ["--no-ws-deflate"]
    argv += ["--profile", str(profile)] if profile else []
    process = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=child_env(), cwd=ROOT
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"the {app} server process ended (status {process.wait()}) before it listened")
        hello = json.loads(line)
        server = Server(process, int(hello["port"]), int(hello["pid"]), controlled=control is not None)
        _wait_healthy(server, ready_within_s)
        yield server
    finally:
        _stop(process)
        if spill is not None:
            spill.cleanup()


@dataclass
class Workers(Server):
    """A supervisor (`pid`) and its worker processes."""

    def pids(self) -> list[int]:
        """The workers: the supervisor's children but multiprocessing's resource tracker."""
        children = [int(child) for child in Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()]
        return [pid for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]

    def peak_rss_mb(self) -> float:
        """The sum of the workers' peak resident sets so far."""
        return sum(_status_kb(pid, "VmHWM") for pid in self.pids()) / 1024

    def rss_mb(self) -> float:
        return sum(_status_kb(pid, "VmRSS") for pid in self.pids()) / 1024

    def cpu_seconds(self) -> float:
        """User and system CPU the workers have used so far."""
        ticks = 0
        for pid in self.pids():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
        return ticks / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def serve_workers(
    workers: int,
    app: str = "t3000gql",
    *,
    settings: Mapping[str, Setting] | None = None,
    body: str = "",
    ready_within_s: float = 120.0,
) -> Iterator[Workers]:
    """`t3000gql serve --workers N` (or the floor under uvicorn --workers N) on a free port; stopped with SIGTERM,
    which the supervisor passes on to every worker. Access logs off on both sides, as in `serve`."""
    port = _free_port()
    common = ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    if app == "t3000gql":
        argv = module_command("t3000gql", "serve", *common, "--no-access-log")
        environ = {name: _env_value(value) for name, value in (settings or {}).items()}
    else:
        argv = module_command("uvicorn", "benchlib.serve:floor_from_environment", "--factory", *common)
        argv += ["--no-access-log", "--log-level", "warning", "--ws-ping-interval", "0"]
        environ = {"BENCH_FLOOR_BODY": body}
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as workdir:  # its own cwd: no .env leaks in
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
            env=child_env(environ),
            cwd=workdir,
        )
        server = Workers(process, port, process.pid)
        try:
            _wait_healthy(server, ready_within_s)
            yield server
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def floor_from_environment() -> Any:
    """The floor app of `serve_workers` (uvicorn imports it by name in each worker): answers BENCH_FLOOR_BODY."""
    return _floor(os.environ.get("BENCH_FLOOR_BODY", "").encode())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env_value(value: Setting) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _wait_healthy(server: Server, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while True:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        try:
            connection.request("GET", "/health")
            response = connection.getresponse()
            response.read()
            if response.status == 200:
                return
            problem = f"GET /health answered {response.status}"
        except OSError as exc:
            problem = str(exc)
        finally:
            connection.close()
        if server.process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the server on port {server.port} did not become healthy: {problem}")
        time.sleep(0.05)


def _stop(process: subprocess.Popen[str]) -> None:
    if process.stdin is not None:
        with contextlib.suppress(BrokenPipeError):
            process.stdin.close()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/{pid}/status has no {field}")


# --- the child process ----------------------------------------------------------------------------------------


def _app(args: argparse.Namespace) -> Any:
    if args.app == "t3000gql":
        from t3000gql.app import create_app
        from t3000gql.config import Settings

        return create_app(Settings.from_env(environ=json.loads(args.settings), env_file=Path(os.devnull)))
    return _floor(args.body_file.read_bytes() if args.body_file else args.body.encode())


def _floor(payload: bytes) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def graphql(request: Request) -> Response:
        await request.body()
        return Response(payload, media_type="application/json")

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    # Any other path, GET or POST: the REST scenarios' floors answer their routes' JSON the same way.
    return Starlette(routes=[Route("/health", health), Route("/{path:path}", graphql, methods=["GET", "POST"])])


def _listening_socket() -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.listen(2048)  # clients that connect before uvicorn accepts wait in the backlog
    return sock


async def _serve(args: argparse.Namespace, app: Any, server: Any, sock: socket.socket) -> None:
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
            raise SystemExit("the server stopped while starting")
        await asyncio.sleep(0.01)
    handler: Handler | None = None
    if args.control:
        module, _, name = args.control.partition(":")
        setup = getattr(importlib.import_module(module), name)
        handler = await setup(app, json.loads(args.control_options))
    print(json.dumps({"port": sock.getsockname()[1], "pid": os.getpid()}), flush=True)
    loop = asyncio.get_running_loop()
    try:
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            if handler is not None:
                print(json.dumps(await handler(json.loads(line))), flush=True)
    finally:
        server.should_exit = True
        await task


def _run(args: argparse.Namespace) -> None:
    import uvicorn

    app = _app(args)
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        loop=args.loop,
        ws_ping_interval=None,  # as `t3000gql serve`: graphql-transport-ws has its own keep-alive
        ws_per_message_deflate=args.ws_deflate,
    )
    with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        runner.run(_serve(args, app, uvicorn.Server(config), _listening_socket()))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="a benchmark server process (started by benchlib.serve.serve)")
    parser.add_argument("--app", choices=("t3000gql", "floor"), required=True)
    parser.add_argument("--settings", default="{}", help="JSON object of environment variables for Settings")
    parser.add_argument("--body", default="", help="what the floor app answers")
    parser.add_argument("--body-file", type=Path, help="a file holding what the floor app answers (long bodies)")
    parser.add_argument("--loop", default="auto")
    parser.add_argument("--no-ws-deflate", dest="ws_deflate", action="store_false")
    parser.add_argument("--control", help="module:function run in the server once it is up")
    parser.add_argument("--control-options", default="{}")
    parser.add_argument("--profile", type=Path, help="write a cProfile dump of this process here")
    args = parser.parse_args(argv)
    if args.profile:
        import cProfile

        cProfile.runctx("_run(args)", globals(), {"args": args}, str(args.profile))
    else:
        _run(args)


if __name__ == "__main__":
    main()
