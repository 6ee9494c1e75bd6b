"""Shared plumbing for the loopback test servers: HTTP serving, routing, fault injection,
thread and subprocess lifecycles.

Standard library only.  Everything binds 127.0.0.1 and an OS-chosen port by default.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import urllib.request
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

try:
    from msgspec.json import encode as _msgspec_encode
except ModuleNotFoundError:  # pragma: no cover - msgspec comes with the pinecone client
    _msgspec_encode = None

__all__ = [
    "DROP",
    "REPO_ROOT",
    "FaultInjector",
    "FaultPlan",
    "HTTPError",
    "LoopbackServer",
    "Request",
    "Response",
    "ServerProcess",
    "json_response",
    "run_main",
]

#: Repository root (the directory holding ``tests/``); subprocesses run from here so that
#: ``python -m tests.servers.<module>`` resolves.
REPO_ROOT = Path(__file__).resolve().parents[2]

#: Prefix of the admin endpoints every server exposes (no auth, never counted as writes).
ADMIN_PREFIX = "/__testserver__"


# ---------------------------------------------------------------------------------------------
# requests / responses
# ---------------------------------------------------------------------------------------------


class HTTPError(Exception):
    """Raise inside a route handler to answer with ``status`` and a JSON ``body``."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}: {body!r}")
        self.status = status
        self.body = body


@dataclass
class Request:
    method: str
    path: str  # percent-decoded, without the query string
    raw_path: str  # as received (still percent-encoded), without the query string
    query: dict[str, list[str]]
    headers: Message
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # route captures, percent-decoded

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def json(self, default: Any = None) -> Any:
        if not self.body.strip():
            return default
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise HTTPError(400, {"error": f"malformed JSON body: {exc}"}) from exc


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


class _Drop:
    """Sentinel response: close the connection without answering."""

    def __repr__(self) -> str:
        return "DROP"


DROP = _Drop()


def _dumps(obj: Any) -> bytes:
    """Compact JSON; msgspec's encoder when it is installed (the pinecone client depends on
    it). ``json.dumps`` spends about 0.5 s per 1,000 384-dim vectors formatting floats, and a
    server in a test thread spends it on the client's cores and GIL, where a real server
    would not: the client's own cost is what tests and benchmarks measure."""
    if _msgspec_encode is not None:
        try:
            return _msgspec_encode(obj)
        except (TypeError, ValueError, OverflowError):
            pass  # something msgspec does not take (NaN is encoded differently): stdlib
    return json.dumps(obj, separators=(",", ":")).encode()


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(status=status, body=_dumps(obj), headers=dict(headers or {}))


# ---------------------------------------------------------------------------------------------
# fault injection
# ---------------------------------------------------------------------------------------------


@dataclass
class FaultPlan:
    """Let ``after`` matching writes through, then fail the next ``count`` (None: all)."""

    after: int = 0
    count: int | None = 1
    status: int = 500
    drop: bool = False
    when: str = "before"  # "before": write not applied; "after": applied, then the reply fails
    kinds: frozenset[str] | None = None
    seen: int = 0
    fired: int = 0

    def matches(self, kind: str) -> bool:
        return self.kinds is None or kind in self.kinds


@dataclass
class _Fault:
    kind: str
    status: int
    drop: bool
    when: str


class FaultInjector:
    """Fault plan, artificial latency and request counters of one server (thread-safe).

    ``write_counts`` counts every write request that reached a route (failed ones included),
    by kind; ``failed_counts`` counts the ones a fault was injected into.  A typical
    "fail every write in turn" test::

        run_scenario(); n = srv.faults.writes_total
        for i in range(n):
            reset_state(); srv.faults.reset_counters()
            srv.faults.fail_nth_write(i + 1)      # the (i+1)-th write from now fails
            with pytest.raises(...): run_scenario()
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.write_counts: Counter[str] = Counter()
        self.failed_counts: Counter[str] = Counter()
        self.request_log: deque[tuple[str, str, int]] = deque(maxlen=2000)
        # Every request answered, by "METHOD /path" (never truncated, unlike request_log):
        # tests count a client's round trips with it.
        self.request_counts: Counter[str] = Counter()
        self.latency: float = 0.0
        self.write_latency: float = 0.0
        self._plan: FaultPlan | None = None

    # -- configuration ------------------------------------------------------------------------
    def fail_writes(
        self,
        after: int = 0,
        count: int | None = 1,
        *,
        status: int = 500,
        drop: bool = False,
        when: str = "before",
        kinds: Iterable[str] | None = None,
    ) -> FaultPlan:
        """Arm a fault: the writes after the first ``after`` (counted from now, only those of
        ``kinds`` if given) fail, ``count`` of them (``None``: every one until :meth:`clear`).

        ``drop=True`` closes the connection without a response instead of answering
        ``status``.  ``when="after"`` applies the write first and then fails the reply
        (a lost acknowledgement).
        """
        if when not in ("before", "after"):
            raise ValueError("when must be 'before' or 'after'")
        if after < 0 or (count is not None and count < 1):
            raise ValueError("after must be >= 0 and count >= 1 (or None)")
        plan = FaultPlan(
            after=after,
            count=count,
            status=status,
            drop=drop,
            when=when,
            kinds=frozenset(kinds) if kinds is not None else None,
        )
        with self._lock:
            self._plan = plan
        return plan

    def fail_nth_write(self, n: int, **kw: Any) -> FaultPlan:
        """The ``n``-th write from now (1-based) fails; the others succeed."""
        if n < 1:
            raise ValueError("n is 1-based")
        return self.fail_writes(after=n - 1, count=1, **kw)

    def fail_writes_after(self, n: int, **kw: Any) -> FaultPlan:
        """The first ``n`` writes from now succeed, every later one fails until clear()."""
        return self.fail_writes(after=n, count=None, **kw)

    def clear(self) -> None:
        """Disarm any fault plan and reset latency."""
        with self._lock:
            self._plan = None
            self.latency = 0.0
            self.write_latency = 0.0

    def set_latency(self, seconds: float, *, writes_only: bool = False) -> None:
        with self._lock:
            if writes_only:
                self.write_latency = seconds
            else:
                self.latency = seconds

    def reset_counters(self) -> None:
        with self._lock:
            self.write_counts.clear()
            self.failed_counts.clear()
            self.request_log.clear()
            self.request_counts.clear()

    # -- inspection ---------------------------------------------------------------------------
    @property
    def writes_total(self) -> int:
        with self._lock:
            return sum(self.write_counts.values())

    @property
    def requests_total(self) -> int:
        """Requests answered since the last :meth:`reset_counters` (admin ones excluded)."""
        with self._lock:
            return sum(self.request_counts.values())

    @property
    def plan(self) -> FaultPlan | None:
        return self._plan

    @property
    def exhausted(self) -> bool:
        """True when no armed fault is left to fire."""
        with self._lock:
            p = self._plan
            return p is None or (p.count is not None and p.fired >= p.count)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            p = self._plan
            return {
                "write_counts": dict(self.write_counts),
                "failed_counts": dict(self.failed_counts),
                "writes_total": sum(self.write_counts.values()),
                "plan": None
                if p is None
                else {
                    "after": p.after,
                    "count": p.count,
                    "status": p.status,
                    "drop": p.drop,
                    "when": p.when,
                    "kinds": sorted(p.kinds) if p.kinds is not None else None,
                    "seen": p.seen,
                    "fired": p.fired,
                },
                "latency": self.latency,
                "write_latency": self.write_latency,
                "requests": len(self.request_log),
                "requests_total": sum(self.request_counts.values()),  # admin ones excluded
            }

    # -- used by the dispatcher ---------------------------------------------------------------
    def _on_write(self, kind: str) -> _Fault | None:
        with self._lock:
            self.write_counts[kind] += 1
            p = self._plan
            if p is None or not p.matches(kind):
                return None
            p.seen += 1
            if p.seen <= p.after:
                return None
            if p.count is not None and p.fired >= p.count:
                return None
            p.fired += 1
            self.failed_counts[kind] += 1
            return _Fault(kind=kind, status=p.status, drop=p.drop, when=p.when)

    def _log(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self.request_log.append((method, path, status))
            if not path.startswith(ADMIN_PREFIX):
                self.request_counts[f"{method} {path}"] += 1


# ---------------------------------------------------------------------------------------------
# HTTP server
# ---------------------------------------------------------------------------------------------

Handler = Callable[[Request], Any]


@dataclass
class _Route:
    method: str
    regex: re.Pattern[str]
    handler: Handler
    write: str | None


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = False  # joined in server_close()
    block_on_close = True
    request_queue_size = 64

    def __init__(self, addr: tuple[str, int], app: LoopbackServer) -> None:
        self.app = app
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(addr, _RequestHandler)

    def track(self, conn: socket.socket) -> None:
        with self._conns_lock:
            self._conns.add(conn)

    def untrack(self, conn: socket.socket) -> None:
        with self._conns_lock:
            self._conns.discard(conn)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        threading.current_thread().name = f"{self.app.thread_tag}:conn"
        super().process_request_thread(request, client_address)

    def close_all_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (OSError, ValueError)):  # client went away / socket shut at stop
            return
        traceback.print_exc()


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fingerpost-loopback/1"
    sys_version = ""
    timeout = 120  # idle keep-alive connections are closed after this
    wbufsize = 1 << 16  # headers + body leave in one send (flushed after each request)
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self) -> None:
        body = self._read_body()
        split = urlsplit(self.path)
        req = Request(
            method=self.command,
            path=unquote(split.path),
            raw_path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers=self.headers,
            body=body,
        )
        resp = self.server.app.dispatch(req)
        if resp is DROP:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        assert isinstance(resp, Response)
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(len(resp.body)))
        for key, value in resp.headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD" and resp.body:
            self.wfile.write(resp.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve


class LoopbackServer:
    """Base class: a routed JSON HTTP server on 127.0.0.1, run in a background thread.

    Subclasses register routes with :meth:`route` and may override :meth:`authorize`,
    :meth:`not_found`, :meth:`error_response` and :meth:`close_backend`.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, latency: float = 0.0) -> None:
        self.host = host
        self.port = port
        self.faults = FaultInjector()
        self.faults.latency = latency
        self._routes: list[_Route] = []
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False

    # -- routing ------------------------------------------------------------------------------
    def route(
        self, method: str, pattern: str, handler: Handler, *, write: str | None = None
    ) -> None:
        """``pattern`` uses ``{name}`` for one path segment, ``{name:path}`` for the rest."""
        rx = re.escape(pattern)
        rx = re.sub(r"\\\{(\w+):path\\\}", r"(?P<\1>.+)", rx)
        rx = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", rx)
        self._routes.append(_Route(method.upper(), re.compile(f"^{rx}/?$"), handler, write))

    def _match(self, req: Request) -> tuple[_Route | None, bool]:
        path_seen = False
        for r in self._routes:
            m = r.regex.match(req.raw_path)
            if m is None:
                continue
            path_seen = True
            if r.method == req.method or (r.method == "GET" and req.method == "HEAD"):
                req.params = {k: unquote(v) for k, v in m.groupdict().items()}
                return r, True
        return None, path_seen

    # -- hooks --------------------------------------------------------------------------------
    def authorize(self, req: Request) -> Response | None:
        return None

    def not_found(self, req: Request, method_mismatch: bool) -> Response:
        status = 405 if method_mismatch else 404
        return json_response({"error": f"no route for {req.method} {req.path}"}, status)

    def error_response(self, status: int, message: str, req: Request) -> Response:
        return json_response({"error": message}, status)

    def fault_response(self, status: int, kind: str, req: Request) -> Response:
        return self.error_response(status, f"injected fault ({kind})", req)

    def convert_result(self, result: Any) -> Response:
        if isinstance(result, Response) or result is DROP:
            return result
        return json_response(result)

    def close_backend(self) -> None:
        pass

    # -- dispatch -----------------------------------------------------------------------------
    def dispatch(self, req: Request) -> Response | _Drop:
        try:
            resp = self._dispatch(req)
        except Exception as exc:  # a bug in a hook: answer rather than drop the connection
            traceback.print_exc()
            resp = json_response({"error": f"{type(exc).__name__}: {exc}"}, 500)
        self.faults._log(req.method, req.path, 0 if resp is DROP else resp.status)  # type: ignore[union-attr]
        return resp

    def _dispatch(self, req: Request) -> Response | _Drop:
        if req.path.startswith(ADMIN_PREFIX):
            return self._admin(req)
        route, path_seen = self._match(req)
        if route is None:
            return self.not_found(req, path_seen)
        denied = self.authorize(req)
        if denied is not None:
            return denied
        f = self.faults
        delay = f.latency + (f.write_latency if route.write else 0.0)
        if delay > 0:
            time.sleep(delay)
        fault = f._on_write(route.write) if route.write else None
        if fault is not None and fault.when == "before":
            return DROP if fault.drop else self.fault_response(fault.status, fault.kind, req)
        try:
            resp = self.convert_result(route.handler(req))
        except HTTPError as exc:
            body = exc.body
            resp = (
                self.error_response(exc.status, body, req)
                if isinstance(body, str)
                else json_response(body, exc.status)
            )
        except Exception as exc:
            resp = self.map_exception(exc, req)
        if fault is not None:  # when == "after": the write went through, the reply does not
            return DROP if fault.drop else self.fault_response(fault.status, fault.kind, req)
        return resp

    def map_exception(self, exc: Exception, req: Request) -> Response:
        return self.error_response(500, f"{type(exc).__name__}: {exc}", req)

    def _admin(self, req: Request) -> Response:
        sub = req.path[len(ADMIN_PREFIX) :].rstrip("/")
        if sub == "/stats" and req.method == "GET":
            return json_response(self.faults.snapshot())
        if sub == "/faults" and req.method == "POST":
            spec = req.json({}) or {}
            try:
                self.faults.fail_writes(
                    after=int(spec.get("after", 0)),
                    count=spec.get("count", 1),
                    status=int(spec.get("status", 500)),
                    drop=bool(spec.get("drop", False)),
                    when=spec.get("when", "before"),
                    kinds=spec.get("kinds"),
                )
            except (TypeError, ValueError) as exc:
                return json_response({"error": str(exc)}, 400)
            return json_response(self.faults.snapshot())
        if sub == "/faults" and req.method == "DELETE":
            self.faults.clear()
            return json_response(self.faults.snapshot())
        if sub == "/latency" and req.method == "POST":
            spec = req.json({}) or {}
            self.faults.set_latency(
                float(spec.get("seconds", 0.0)), writes_only=bool(spec.get("writes_only"))
            )
            return json_response(self.faults.snapshot())
        if sub == "/reset" and req.method == "POST":
            self.faults.reset_counters()
            return json_response(self.faults.snapshot())
        return json_response({"error": f"unknown admin endpoint {req.method} {req.path}"}, 404)

    # -- lifecycle ----------------------------------------------------------------------------
    @property
    def thread_tag(self) -> str:
        """Substring of the name of every thread this server starts."""
        return f"{type(self).__name__}@{id(self):x}"

    def live_threads(self) -> list[threading.Thread]:
        """Threads of this server still alive (empty after :meth:`stop`)."""
        return [t for t in threading.enumerate() if self.thread_tag in t.name]

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._httpd is not None

    def start(self) -> LoopbackServer:
        if self._httpd is not None:
            return self
        if self._stopped:
            raise RuntimeError("a stopped server cannot be restarted; make a new one")
        httpd = _HTTPServer((self.host, self.port), self)
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{self.thread_tag}:serve:{self.port}",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close every connection, join every thread, close the backend."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            if not self._stopped:
                self._stopped = True
                self.close_backend()
            return
        self._httpd = None
        self._thread = None
        self._stopped = True
        try:
            httpd.shutdown()
            httpd.close_all_connections()
            httpd.server_close()  # joins the handler threads
            if thread is not None:
                thread.join()
        finally:
            self.close_backend()

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---------------------------------------------------------------------------------------------
# process mode
# ---------------------------------------------------------------------------------------------


def base_arg_parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 (default): OS-chosen")
    p.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    p.add_argument(
        "--exit-on-stdin-eof",
        action="store_true",
        help="also stop when stdin reaches EOF (the parent died or closed the pipe)",
    )
    return p


def run_main(server: LoopbackServer, args: argparse.Namespace) -> int:
    """Serve until SIGTERM/SIGINT (or stdin EOF when asked); print the URL on one line first."""
    stop = threading.Event()

    def _on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    server.start()
    watcher: threading.Thread | None = None
    try:
        sys.stdout.write(server.url + "\n")
        sys.stdout.flush()
        if args.exit_on_stdin_eof:

            def _watch_stdin() -> None:
                fd = sys.stdin.fileno()
                while not stop.is_set():
                    try:
                        ready, _, _ = select.select([fd], [], [], 0.2)
                        if ready and not os.read(fd, 4096):
                            break
                    except (OSError, ValueError):
                        break
                stop.set()

            watcher = threading.Thread(target=_watch_stdin, name="stdin-watch")
            watcher.start()
        while not stop.wait(0.2):
            pass
    finally:
        stop.set()
        if watcher is not None:
            watcher.join()
        server.stop()
    return 0


class ServerProcess:
    """A server running as ``python -m <module> --port 0 ...`` in a child process.

    ``with ServerProcess("tests.servers.qdrant_rest", ["--path", d]) as p: p.url``.
    The admin helpers reach the child's fault injector over HTTP.
    """

    def __init__(
        self,
        module: str,
        args: Sequence[str] = (),
        *,
        startup_timeout: float = 30.0,
        env: dict[str, str] | None = None,
    ) -> None:
        self.module = module
        self.args = list(args)
        self.startup_timeout = startup_timeout
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.url: str = ""

    def start(self) -> ServerProcess:
        env = dict(os.environ if self.env is None else self.env)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
        )
        env.setdefault("PYTHONUNBUFFERED", "1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module, "--port", "0", "--exit-on-stdin-eof", *self.args],
            cwd=str(REPO_ROOT),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        try:
            self.url = self._read_url()
        except BaseException:
            self.stop()
            raise
        return self

    def _read_url(self) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + self.startup_timeout
        buf = b""
        while b"\n" not in buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"{self.module} did not print its URL in {self.startup_timeout}s"
                )
            ready, _, _ = select.select([fd], [], [], min(remaining, 0.5))
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    raise RuntimeError(
                        f"{self.module} exited before printing its URL (rc={self.proc.wait()})"
                    )
                buf += chunk
        line = buf.split(b"\n", 1)[0].decode().strip()
        if not line.startswith("http://"):
            raise RuntimeError(f"unexpected first line from {self.module}: {line!r}")
        return line

    def stop(self, timeout: float = 15.0) -> int | None:
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        try:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        finally:
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
        return proc.returncode

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- admin API ----------------------------------------------------------------------------
    def _admin(self, method: str, sub: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(
            self.url + ADMIN_PREFIX + sub,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def stats(self) -> dict[str, Any]:
        return self._admin("GET", "/stats")

    def fail_writes(self, after: int = 0, count: int | None = 1, **kw: Any) -> dict[str, Any]:
        return self._admin("POST", "/faults", {"after": after, "count": count, **kw})

    def clear_faults(self) -> dict[str, Any]:
        return self._admin("DELETE", "/faults")

    def set_latency(self, seconds: float, *, writes_only: bool = False) -> dict[str, Any]:
        return self._admin("POST", "/latency", {"seconds": seconds, "writes_only": writes_only})

    def reset_counters(self) -> dict[str, Any]:
        return self._admin("POST", "/reset")
