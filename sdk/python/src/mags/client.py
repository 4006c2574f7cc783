"""The mags client: a thin, synchronous wrapper over the REST API.

Standard library only (``urllib.request``). Every method returns the API's
JSON as plain dicts, exactly as the server sends it; API-level failures
(authentication, not found, conflicts, unreachable server, wait timeouts)
raise :class:`MagsError`. A job whose script fails is *not* an error: its
``status``/``exit_code`` say so.

Paths are relative to ``<api_url>/api/v1`` (DECISIONS D1 names them).
"""
from __future__ import annotations

import http.client
import io
import json
import mimetypes
import os
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any, Dict, Iterator, List, Optional, Sequence

__all__ = ["Mags", "MagsError", "JobStream", "ExecStream", "DEFAULT_API_URL"]

DEFAULT_API_URL = "http://127.0.0.1:8420"
API_PREFIX = "/api/v1"
USER_AGENT = "magpie-mags-python/0.1.0"

#: Statuses after which a job never changes again (DECISIONS D7).
TERMINAL_STATUSES = ("completed", "error", "stopped")
#: Statuses of a job whose sandbox exists (``find_job`` matches these by name).
LIVE_STATUSES = ("accepted", "running", "sleeping")


class MagsError(Exception):
    """An API-level error.

    Attributes:
        message: what went wrong (also ``str(error)``); the server's
            ``error`` text when it sent one.
        status_code: the HTTP status (401, 404, 409, 413, ...) or ``None``
            when no HTTP answer was involved (server unreachable, no token,
            a wait that timed out, a job that failed to start in ``new``).
        code: the server's machine-readable ``code`` (``"not_found"``...),
            if any.
        body: the decoded error body (dict) or raw text, if any.
        request_id: the job concerned, when known.
    """

    def __init__(self, message: str, status_code: Optional[int] = None, *,
                 code: Optional[str] = None, body: Any = None,
                 request_id: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code
        self.body = body
        self.request_id = request_id

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return "MagsError(%r, status_code=%r)" % (self.message, self.status_code)


def _env(name: str) -> Optional[str]:
    v = os.environ.get(name)
    return v if v else None


def _config_path() -> str:
    return os.path.join(os.path.expanduser("~"), ".mags", "config.json")


def _read_config() -> Dict[str, Any]:
    """~/.mags/config.json (written by ``mags login``), or {} if there is none."""
    path = _config_path()
    try:
        with open(path, "rb") as f:
            text = f.read(64 * 1024 + 1)
    except (FileNotFoundError, NotADirectoryError):
        return {}
    except OSError as e:
        raise MagsError("cannot read %s: %s" % (path, e)) from None
    try:
        cfg = json.loads(text.decode("utf-8"))
    except ValueError as e:
        raise MagsError("%s is not valid JSON: %s" % (path, e)) from None
    if not isinstance(cfg, dict):
        raise MagsError("%s is not a JSON object" % path)
    return cfg


def _normalize_url(url: str) -> str:
    """The server's base URL: no trailing '/', no trailing '/api/v1'."""
    u = url.strip()
    while u.endswith("/"):
        u = u[:-1]
    if u.endswith(API_PREFIX):
        u = u[: -len(API_PREFIX)]
        while u.endswith("/"):
            u = u[:-1]
    scheme = urllib.parse.urlsplit(u).scheme
    if scheme not in ("http", "https"):
        raise MagsError("API URL %r: want http://host[:port] or https://..." % url)
    return u


def _q(part: Any) -> str:
    """One path segment, percent-encoded."""
    return urllib.parse.quote(str(part), safe="")


def _decode(raw: bytes) -> Any:
    if not raw or not raw.strip():
        return {}
    try:
        return json.loads(raw.decode("utf-8"))
    except ValueError:
        raise MagsError("the server sent a body that is not JSON: %r" % raw[:200]) from None


class _MultipartFile(io.RawIOBase):
    """A multipart/form-data body holding one file, read in blocks (never
    loaded whole into memory), with its exact length known up front."""

    def __init__(self, path: str, field: str = "file") -> None:
        super().__init__()
        self.boundary = "mags-" + uuid.uuid4().hex
        name = os.path.basename(path)
        safe = name.replace("\\", "\\\\").replace('"', "%22").replace("\r", " ").replace("\n", " ")
        ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
        head = ("--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
                "Content-Type: %s\r\n\r\n" % (self.boundary, field, safe, ctype)).encode("utf-8")
        tail = ("\r\n--%s--\r\n" % self.boundary).encode("ascii")
        self._file = open(path, "rb")
        size = os.fstat(self._file.fileno()).st_size
        self._parts = [io.BytesIO(head), self._file, io.BytesIO(tail)]
        self.length = len(head) + size + len(tail)

    @property
    def content_type(self) -> str:
        return "multipart/form-data; boundary=" + self.boundary

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        out = b""
        while self._parts and (n < 0 or len(out) < n):
            chunk = self._parts[0].read(-1 if n < 0 else n - len(out))
            if not chunk:
                self._parts.pop(0)
                continue
            out += chunk
        return out

    def close(self) -> None:
        self._file.close()
        super().close()


class JobStream:
    """A job's log records, yielded as the server writes them.

    Iterate it to get log dicts (``{"message", "source", "timestamp"}``) in
    order; iteration ends when the job has ended and every record was
    delivered. Then :attr:`end` holds the server's final event
    (``{"event": "end", "status", "exit_code", "error_message"}``) and
    :attr:`status` / :attr:`exit_code` / :attr:`error_message` read from it.

    Built on ``GET /mags-jobs/{id}/logs?follow=1`` (NDJSON). If the
    connection drops before the end event, it reconnects and skips the
    records already delivered.

        with m.run_stream("for i in 1 2 3; do echo $i; sleep 1; done") as s:
            for log in s:
                print(log["source"], log["message"])
        print(s.exit_code)
    """

    def __init__(self, client: "Mags", request_id: str, *,
                 idle_timeout: Optional[float] = None, max_reconnects: int = 5) -> None:
        self.request_id = request_id
        #: The final ``{"event": "end", ...}`` object, once iteration finished.
        self.end: Optional[Dict[str, Any]] = None
        self._client = client
        self._idle_timeout = idle_timeout
        self._max_reconnects = max_reconnects
        self._delivered = 0
        self._resp: Any = None
        self._gen = self._iterate()

    def __iter__(self) -> "JobStream":
        return self

    def __next__(self) -> Dict[str, Any]:
        return next(self._gen)

    def __enter__(self) -> "JobStream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Stop reading (the job itself keeps running)."""
        self._gen.close()
        if self._resp is not None:
            self._resp.close()
            self._resp = None

    @property
    def status(self) -> Optional[str]:
        """The job's final status, once the stream ended."""
        return self.end.get("status") if self.end else None

    @property
    def exit_code(self) -> Optional[int]:
        """The script's exit code, once the stream ended."""
        return self.end.get("exit_code") if self.end else None

    @property
    def error_message(self) -> Optional[str]:
        return self.end.get("error_message") if self.end else None

    def _iterate(self) -> Iterator[Dict[str, Any]]:
        path = "/mags-jobs/%s/logs" % _q(self.request_id)
        failures = 0
        while True:
            self._resp = self._client._open(
                "GET", path, query={"follow": "1"}, timeout=self._idle_timeout,
                accept="application/x-ndjson")
            skip = self._delivered
            why = "the connection closed"
            try:
                while True:
                    try:
                        line = self._resp.readline()
                    except (OSError, http.client.HTTPException) as e:
                        why = str(e) or e.__class__.__name__
                        break
                    if not line:
                        break
                    line = line.strip()
                    if not line:
                        continue
                    try:
                        rec = json.loads(line.decode("utf-8"))
                    except ValueError:
                        continue
                    if not isinstance(rec, dict):
                        continue
                    if rec.get("event") == "end":
                        self.end = rec
                        return
                    if skip > 0:
                        skip -= 1
                        continue
                    self._delivered += 1
                    failures = 0
                    yield rec
            finally:
                if self._resp is not None:
                    self._resp.close()
                    self._resp = None
            failures += 1
            if failures > self._max_reconnects:
                raise MagsError("log stream of job %s ended before the job did (%s)"
                                % (self.request_id, why), request_id=self.request_id)
            time.sleep(min(0.1 * failures, 1.0))


class ExecStream:
    """The output of a command run with :meth:`Mags.exec_stream`.

    Iterate it for ``{"stream": "stdout"|"stderr", "data": "..."}`` chunks
    as they arrive (any cut: not lines). After iteration, :attr:`result` is
    the final object (``{"exit_code", "duration_ms", ...}``).
    """

    def __init__(self, resp: Any, request_id: str) -> None:
        self.request_id = request_id
        #: The final object (with ``exit_code``), once iteration finished.
        self.result: Optional[Dict[str, Any]] = None
        self._resp = resp
        self._gen = self._iterate()

    def __iter__(self) -> "ExecStream":
        return self

    def __next__(self) -> Dict[str, Any]:
        return next(self._gen)

    def __enter__(self) -> "ExecStream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._gen.close()
        self._resp.close()

    @property
    def exit_code(self) -> Optional[int]:
        return self.result.get("exit_code") if self.result else None

    def _iterate(self) -> Iterator[Dict[str, Any]]:
        try:
            ctype = (self._resp.headers.get("Content-Type") or "").lower()
            if "ndjson" not in ctype:
                raw = self._resp.read()
                try:
                    plain = json.loads(raw.decode("utf-8"))
                except ValueError:
                    plain = None
                if isinstance(plain, dict):
                    for name in ("stdout", "stderr"):
                        if isinstance(plain.get(name), str) and plain[name]:
                            yield {"stream": name, "data": plain[name]}
                    self.result = plain
                    return
                lines: Any = raw.splitlines()
            else:
                lines = iter(self._resp.readline, b"")
            for line in lines:
                line = line.strip()
                if not line:
                    continue
                try:
                    obj = json.loads(line.decode("utf-8"))
                except ValueError:
                    continue
                if not isinstance(obj, dict):
                    continue
                if "stream" in obj and "data" in obj and "exit_code" not in obj:
                    if obj["data"]:
                        yield obj
                else:
                    self.result = obj
            if self.result is None or "exit_code" not in self.result:
                err = (self.result or {}).get("error")
                raise MagsError(err if isinstance(err, str) and err else
                                "exec stream of job %s ended without an exit code"
                                % self.request_id, request_id=self.request_id,
                                body=self.result)
        except (OSError, http.client.HTTPException) as e:
            raise MagsError("exec stream of job %s broke: %s" % (self.request_id, e),
                            request_id=self.request_id) from None
        finally:
            self._resp.close()


class Mags:
    """A client for one mags server and one API token.

    Args:
        api_token: the API token. Default: ``MAGS_API_TOKEN``, then
            ``MAGS_TOKEN``, then ``api_token`` in ``~/.mags/config.json``
            (written by ``mags login``).
        api_url: the server's base URL, without ``/api/v1`` (a trailing
            ``/api/v1`` is accepted and dropped). Default: ``MAGS_API_URL``,
            then ``api_url`` in ``~/.mags/config.json``, then
            ``http://127.0.0.1:8420``.
        timeout: the timeout of each HTTP request, in seconds.

    Raises:
        MagsError: no token could be found, or the URL is not http(s).
    """

    def __init__(self, api_token: Optional[str] = None, api_url: Optional[str] = None,
                 timeout: float = 30) -> None:
        cfg: Optional[Dict[str, Any]] = None

        def config() -> Dict[str, Any]:
            nonlocal cfg
            if cfg is None:
                cfg = _read_config()
            return cfg

        token = api_token or _env("MAGS_API_TOKEN") or _env("MAGS_TOKEN")
        if not token:
            v = config().get("api_token")
            token = v if isinstance(v, str) and v else None
        url = api_url or _env("MAGS_API_URL")
        if not url:
            v = config().get("api_url")
            url = v if isinstance(v, str) and v else DEFAULT_API_URL
        if not token:
            raise MagsError("no API token: pass Mags(api_token=...), set MAGS_API_TOKEN, "
                            "or run 'mags login'")
        self.api_token: str = token
        self.api_url: str = _normalize_url(url)
        self.timeout = timeout

    def __repr__(self) -> str:
        return "Mags(api_url=%r)" % self.api_url

    # ---- HTTP ------------------------------------------------------------

    def _open(self, method: str, path: str, *, body: Any = None,
              query: Optional[Dict[str, Any]] = None, timeout: Any = "default",
              accept: str = "application/json", data: Any = None,
              headers: Optional[Dict[str, str]] = None) -> Any:
        """Send one request; return the open response (2xx) or raise MagsError."""
        url = self.api_url + API_PREFIX + path
        if query:
            q = {k: v for k, v in query.items() if v is not None}
            if q:
                url += "?" + urllib.parse.urlencode(q)
        if body is not None:
            data = json.dumps(body).encode("utf-8")
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Authorization", "Bearer " + self.api_token)
        req.add_header("Accept", accept)
        req.add_header("User-Agent", USER_AGENT)
        if body is not None:
            req.add_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        t = self.timeout if timeout == "default" else timeout
        try:
            return urllib.request.urlopen(req, timeout=t)
        except urllib.error.HTTPError as e:
            raise self._http_error(e) from None
        except urllib.error.URLError as e:
            raise MagsError("cannot reach the mags server at %s: %s"
                            % (self.api_url, e.reason)) from None
        except (OSError, http.client.HTTPException) as e:
            raise MagsError("request to the mags server at %s failed: %s"
                            % (self.api_url, e or e.__class__.__name__)) from None

    @staticmethod
    def _http_error(e: urllib.error.HTTPError) -> MagsError:
        try:
            raw = e.read()
        except (OSError, http.client.HTTPException):
            raw = b""
        finally:
            e.close()
        text = raw.decode("utf-8", "replace")
        body: Any = text
        message, code = "", None
        try:
            body = json.loads(text) if text.strip() else None
        except ValueError:
            pass
        if isinstance(body, dict):
            err = body.get("error") or body.get("message") or body.get("detail")
            if isinstance(err, dict):
                err = err.get("message")
            message = err if isinstance(err, str) else ""
            code = body.get("code") if isinstance(body.get("code"), str) else None
        if not message:
            message = text.strip()[:500] if text.strip() and not isinstance(body, dict) else ""
        if not message:
            message = "HTTP %d %s" % (e.code, e.reason or "")
        return MagsError(message.strip(), e.code, code=code, body=body)

    def _request(self, method: str, path: str, body: Any = None, *,
                 query: Optional[Dict[str, Any]] = None, timeout: Any = "default") -> Any:
        """Call the API and return its decoded JSON ({} for an empty body)."""
        resp = self._open(method, path, body=body, query=query, timeout=timeout)
        try:
            raw = resp.read()
        except (OSError, http.client.HTTPException) as e:
            raise MagsError("reading the answer of %s %s failed: %s" % (method, path, e)) from None
        finally:
            resp.close()
        return _decode(raw)

    # ---- jobs ------------------------------------------------------------

    def run(self, script: str, *, name: Optional[str] = None,
            workspace_id: Optional[str] = None, base_workspace_id: Optional[str] = None,
            persistent: bool = False, no_sleep: bool = False, ephemeral: bool = False,
            startup_command: Optional[str] = None,
            environment: Optional[Dict[str, str]] = None,
            file_ids: Optional[List[str]] = None, disk_gb: Optional[int] = None,
            no_sync: bool = False, job_timeout: Optional[int] = None,
            job_idle_timeout: Optional[int] = None) -> dict:
        """Submit a job for execution (returns at once).

        Args:
            script: the shell script to run (``/bin/sh -c``, in ``/root``).
            name: job name.
            workspace_id: workspace name. With ``persistent=False`` the data
                stays local; omit for an ephemeral job. Ignored when
                ``ephemeral`` is true.
            base_workspace_id: workspace mounted read-only as the base.
            persistent: keep the VM alive after the script and sync the
                workspace.
            no_sleep: never auto-sleep (needs ``persistent``).
            ephemeral: no workspace, no sync.
            startup_command: command run when the VM wakes or recovers.
            environment: key-value env vars injected into the VM.
            file_ids: IDs from :meth:`upload_file` copied into the VM before
                the script runs.
            disk_gb: custom disk size in GB (default 2GB).
            no_sync: skip sync, use local disk only.
            job_timeout: the job's timeout in seconds (API field
                ``timeout``; server default 300).
            job_idle_timeout: seconds a persistent sandbox may be idle
                before it sleeps (API field ``idle_timeout``; server
                default 600). Not ``run_stream``'s ``idle_timeout``.

        Returns ``{"request_id": ..., "status": "accepted"}``.
        """
        payload: Dict[str, Any] = {"script": script, "type": "inline"}
        if persistent:
            payload["persistent"] = True
        if no_sleep:
            payload["no_sleep"] = True
        if no_sync:
            payload["no_sync"] = True
        if name:
            payload["name"] = name
        if not ephemeral and workspace_id:
            payload["workspace_id"] = workspace_id
        if base_workspace_id:
            payload["base_workspace_id"] = base_workspace_id
        if ephemeral:
            payload["ephemeral"] = True
        if startup_command:
            payload["startup_command"] = startup_command
        if environment:
            payload["environment"] = dict(environment)
        if file_ids:
            payload["file_ids"] = list(file_ids)
        if disk_gb:
            payload["disk_gb"] = int(disk_gb)
        if job_timeout is not None:
            payload["timeout"] = int(job_timeout)
        if job_idle_timeout is not None:
            payload["idle_timeout"] = int(job_idle_timeout)
        return self._request("POST", "/mags-jobs", payload)

    def _wait(self, request_id: str, states: Sequence[str], timeout: Optional[float],
              poll_interval: float) -> dict:
        """Poll the job's status until it is in one of states.

        Polls start 50 ms apart and back off to poll_interval, so short jobs
        return quickly. Raises MagsError when timeout (seconds) passes."""
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = min(0.05, poll_interval)
        while True:
            st = self.status(request_id)
            if st.get("status") in states:
                return st
            if st.get("status") in TERMINAL_STATUSES:
                return st
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                raise MagsError("job %s is still %s after %g s" % (
                    request_id, st.get("status"), timeout), request_id=request_id)
            nap = pause if deadline is None else min(pause, max(0.0, deadline - now))
            time.sleep(nap)
            pause = min(pause * 2, poll_interval)

    def run_and_wait(self, script: str, *, timeout: Optional[float] = None,
                     poll_interval: float = 1.0, **run_opts: Any) -> dict:
        """Submit a job and block until it ends.

        Args:
            script: the script (see :meth:`run`).
            timeout: how long to wait, in seconds; ``None`` waits until the
                job ends (the server's job timeout, 300 s by default, bounds
                that). When it passes, the job is stopped (unless
                ``persistent``) and :class:`MagsError` is raised.
            poll_interval: the longest pause between status polls (polls
                start 50 ms apart and back off to it).
            **run_opts: any keyword of :meth:`run` (``workspace_id``,
                ``environment``, ``job_timeout``...).

        Returns the job's status dict (``status``, ``exit_code``,
        ``duration_ms``, ``error_message``, ...) plus ``"logs"``: the list of
        ``{"message", "source", "timestamp"}`` records. A non-zero exit code
        is returned, not raised.
        """
        job = self.run(script, **run_opts)
        rid = job["request_id"]
        try:
            status = self._wait(rid, TERMINAL_STATUSES, timeout, poll_interval)
        except MagsError as e:
            if e.request_id == rid and e.status_code is None and not run_opts.get("persistent"):
                try:
                    self._request("POST", "/mags-jobs/%s/stop" % _q(rid))
                except MagsError:
                    pass
            raise
        logs = self.logs(rid)
        return {**status, "logs": logs.get("logs", [])}

    def stream_logs(self, request_id: str, *, idle_timeout: Optional[float] = None) -> JobStream:
        """Follow a job's logs: a :class:`JobStream` yielding each log dict
        as it is written, ending when the job has ended.

        Args:
            request_id: the job.
            idle_timeout: give up (MagsError after reconnecting) when the
                server sends nothing for this many seconds; ``None`` waits
                for as long as the job runs.
        """
        return JobStream(self, request_id, idle_timeout=idle_timeout)

    def run_stream(self, script: str, *, idle_timeout: Optional[float] = None,
                   **run_opts: Any) -> JobStream:
        """Submit a job and stream its output: ``run`` + ``stream_logs``.

        Returns a :class:`JobStream` (its ``request_id`` is the new job's);
        after iteration, ``stream.exit_code`` and ``stream.status`` hold the
        outcome.
        """
        job = self.run(script, **run_opts)
        return self.stream_logs(job["request_id"], idle_timeout=idle_timeout)

    def new(self, name: str, *, persistent: bool = False,
            base_workspace_id: Optional[str] = None, disk_gb: Optional[int] = None,
            timeout: float = 30.0, poll_interval: float = 1.0,
            job_idle_timeout: Optional[int] = None) -> dict:
        """Create a new VM sandbox and wait until it's running.

        By default, data lives on local disk only (no sync). Pass
        ``persistent=True`` to enable data persistence. Equivalent to
        ``mags new <name>`` or ``mags new <name> -p``.

        Returns the job's status dict once ``"status"`` is ``"running"``
        (it holds ``request_id``). Raises MagsError if the sandbox fails to
        start or is not running within timeout seconds.
        """
        result = self.run(
            "sleep infinity",
            name=name,
            workspace_id=name,
            persistent=True,
            no_sync=not persistent,
            base_workspace_id=base_workspace_id,
            disk_gb=disk_gb,
            job_idle_timeout=job_idle_timeout,
        )
        rid = result["request_id"]
        st = self._wait(rid, ("running",), timeout, poll_interval)
        if st.get("status") != "running":
            raise MagsError("VM creation failed: %s" % (st.get("error_message") or st.get("status")
                                                        or "Unknown error"),
                            request_id=rid, body=st)
        return st

    def _iter_jobs(self, max_pages: int = 100) -> Iterator[dict]:
        page = 1
        while page <= max_pages:
            res = self.list_jobs(page=page, page_size=100)
            jobs = res.get("jobs", []) if isinstance(res, dict) else []
            for j in jobs:
                yield j
            total = res.get("total") if isinstance(res, dict) else None
            if len(jobs) < 100 or (isinstance(total, int) and page * 100 >= total):
                return
            page += 1

    def _find(self, name_or_id: str, live_only: bool) -> Optional[dict]:
        if name_or_id not in ("", ".", ".."):
            try:
                job = self.status(name_or_id)
            except MagsError as e:
                if e.status_code not in (400, 404):
                    raise
            else:
                # The server resolves names too, a live job first: a name
                # that resolved to a finished job has no live one.
                if (not live_only or job.get("request_id") == name_or_id
                        or job.get("status") in LIVE_STATUSES):
                    return job
                return None
        fallback = None
        for job in self._iter_jobs():
            if name_or_id not in (job.get("name"), job.get("workspace_id")):
                continue
            if job.get("status") in LIVE_STATUSES:
                return job
            if fallback is None and not live_only:
                fallback = job
        return fallback

    def find_job(self, name_or_id: str) -> Optional[dict]:
        """Find a job by request ID, or a running/sleeping job by name or
        workspace.

        A request ID returns that job whatever its status; a name or
        workspace matches the newest job that is ``accepted``, ``running``
        or ``sleeping``. Returns ``None`` when nothing matches.
        """
        return self._find(name_or_id, live_only=True)

    def _resolve(self, name_or_id: str) -> str:
        """The request ID for a request ID, name or workspace: a live job
        first, else the newest job of that name (like the CLI)."""
        job = self._find(name_or_id, live_only=False)
        if not job:
            raise MagsError("no job with id or name %r" % name_or_id, 404, code="not_found")
        return job["request_id"]

    def exec(self, name_or_id: str, command: str, *, timeout: Optional[int] = None,
             env: Optional[Dict[str, str]] = None) -> dict:
        """Run a command on an existing sandbox (``POST /mags-jobs/{id}/exec``).

        Args:
            name_or_id: the job's request ID, name or workspace.
            command: the shell command.
            timeout: the command's timeout in seconds (server default if
                omitted).
            env: extra environment variables for the command.

        Returns ``{"exit_code", "output", "stdout", "stderr", "duration_ms"}``.
        """
        rid = self._resolve(name_or_id)
        body: Dict[str, Any] = {"command": command}
        if timeout is not None:
            body["timeout"] = timeout
        if env:
            body["env"] = dict(env)
        http_timeout = (timeout + self.timeout) if timeout else max(self.timeout, 600)
        return self._request("POST", "/mags-jobs/%s/exec" % _q(rid), body, timeout=http_timeout)

    def exec_stream(self, name_or_id: str, command: str, *, timeout: Optional[int] = None,
                    env: Optional[Dict[str, str]] = None) -> "ExecStream":
        """Run a command on an existing sandbox and stream its output
        (``POST /mags-jobs/{id}/exec?stream=1``).

        Returns an :class:`ExecStream`: iterate it for
        ``{"stream": "stdout"|"stderr", "data": "..."}`` chunks as the
        command writes them; afterwards ``.result`` holds the final object
        (``exit_code``, ``duration_ms``...) and ``.exit_code`` its code. A
        server that answers the plain form gives one stdout and one stderr
        chunk.
        """
        rid = self._resolve(name_or_id)
        body: Dict[str, Any] = {"command": command}
        if timeout is not None:
            body["timeout"] = timeout
        if env:
            body["env"] = dict(env)
        resp = self._open("POST", "/mags-jobs/%s/exec" % _q(rid), body=body,
                          query={"stream": "1"},
                          timeout=(timeout + self.timeout) if timeout else None,
                          accept="application/x-ndjson, application/json")
        return ExecStream(resp, rid)

    def stop(self, name_or_id: str) -> dict:
        """Stop a running job (by request ID, name or workspace); returns the job."""
        rid = self._resolve(name_or_id)
        return self._request("POST", "/mags-jobs/%s/stop" % _q(rid))

    def url(self, name_or_id: str, port: int = 8080) -> dict:
        """Enable public URL access to port of a job; returns ``{"url": ..., ...}``."""
        return self.enable_access(self._resolve(name_or_id), port=port)

    def resize(self, workspace: str, disk_gb: int, *, timeout: float = 30.0,
               poll_interval: float = 1.0) -> dict:
        """Resize a workspace's disk and return a sandbox running on it.

        Stops the workspace's live job if there is one (and waits 1 s), asks
        the server to resize the disk (``POST /mags-workspaces/{ws}/resize``),
        then starts a sandbox on the workspace with :meth:`new` (synced or
        local-disk only as the stopped one was; synced when none was
        running) and returns what :meth:`new` returns. A server without that
        endpoint, or a workspace it does not know yet (404/405), gets the
        original SDKs' way: ``new(workspace, persistent=True, disk_gb=...)``.
        """
        existing = self.find_job(workspace)
        persistent = True
        if existing and existing.get("status") in LIVE_STATUSES:
            persistent = bool(existing.get("persistent")) and not existing.get("no_sync")
            self._request("POST", "/mags-jobs/%s/stop" % _q(existing["request_id"]))
            time.sleep(1)
        try:
            self._request("POST", "/mags-workspaces/%s/resize" % _q(workspace),
                          {"disk_gb": disk_gb}, timeout=max(self.timeout, 300))
        except MagsError as e:
            if e.status_code not in (404, 405):
                raise
            persistent = True
        return self.new(workspace, persistent=persistent, disk_gb=disk_gb,
                        timeout=timeout, poll_interval=poll_interval)

    def status(self, request_id: str) -> dict:
        """The job (``GET /mags-jobs/{id}/status``): ``request_id``, ``name``,
        ``status``, ``exit_code``, ``error_message``, ``duration_ms``, ..."""
        return self._request("GET", "/mags-jobs/%s/status" % _q(request_id))

    def logs(self, request_id: str) -> dict:
        """The job's logs so far: ``{"logs": [{"message", "source", "timestamp"}]}``."""
        return self._request("GET", "/mags-jobs/%s/logs" % _q(request_id))

    def list_jobs(self, *, page: Optional[int] = None, page_size: Optional[int] = None) -> dict:
        """Recent jobs, newest first: ``{"jobs": [...], "page", "page_size", "total"}``."""
        return self._request("GET", "/mags-jobs", query={"page": page, "page_size": page_size})

    def update_job(self, request_id: str, **opts: Any) -> dict:
        """Update job settings (``no_sleep``, ``startup_command``, ``idle_timeout``
        in seconds or None for the server's): ``PATCH /mags-jobs/{id}``."""
        return self._request("PATCH", "/mags-jobs/%s" % _q(request_id), opts)

    def enable_access(self, request_id: str, port: int = 22) -> dict:
        """Enable URL or SSH access (low-level).

        Port 22 returns ``ssh_host``, ``ssh_port``, ``ssh_private_key``;
        other ports return ``url``."""
        return self._request("POST", "/mags-jobs/%s/access" % _q(request_id), {"port": port})

    def sync(self, request_id: str) -> dict:
        """Sync the job's workspace now, without stopping the VM."""
        return self._request("POST", "/mags-jobs/%s/sync" % _q(request_id))

    def whoami(self) -> dict:
        """Who the token belongs to: ``{"user", "user_id", "token_id"}``."""
        return self._request("GET", "/whoami")

    # ---- files -----------------------------------------------------------

    def upload_file(self, path: str) -> str:
        """Upload a file (multipart ``POST /mags-files``); returns its file ID.

        The file is streamed, never read whole into memory. Pass the ID in
        ``file_ids`` of :meth:`run`; the file appears at ``/root/<name>``
        (and ``/uploads/<name>``) in the VM."""
        body = _MultipartFile(path)
        try:
            resp = self._open("POST", "/mags-files", data=body, timeout=max(self.timeout, 300),
                              headers={"Content-Type": body.content_type,
                                       "Content-Length": str(body.length)})
            try:
                res = _decode(resp.read())
            finally:
                resp.close()
        finally:
            body.close()
        fid = None
        if isinstance(res, dict):
            fid = res.get("file_id") or res.get("id")
            if not fid and isinstance(res.get("file_ids"), list) and res["file_ids"]:
                fid = res["file_ids"][0]
                if isinstance(fid, dict):
                    fid = fid.get("file_id") or fid.get("id")
            if not fid and isinstance(res.get("files"), list) and res["files"]:
                f0 = res["files"][0]
                fid = f0.get("file_id") or f0.get("id") if isinstance(f0, dict) else f0
        if not isinstance(fid, str) or not fid:
            raise MagsError("upload of %s: no file ID in the answer %r" % (path, res), body=res)
        return fid

    def upload_files(self, paths: Sequence[str]) -> List[str]:
        """Upload files (one request each); returns their file IDs in order."""
        return [self.upload_file(p) for p in paths]

    # ---- workspaces ------------------------------------------------------

    def list_workspaces(self) -> dict:
        """Workspaces: ``{"workspaces": [{"workspace_id", "job_count", ...}]}``."""
        return self._request("GET", "/mags-workspaces")

    def delete_workspace(self, workspace_id: str) -> dict:
        """Delete a workspace and its stored data."""
        return self._request("DELETE", "/mags-workspaces/%s" % _q(workspace_id))

    # ---- URL aliases -----------------------------------------------------

    def url_alias_create(self, subdomain: str, workspace_id: str) -> dict:
        """Create a stable URL alias ``<subdomain>.<domain>`` for a workspace."""
        return self._request("POST", "/mags-url-aliases",
                             {"subdomain": subdomain, "workspace_id": workspace_id})

    def url_alias_list(self) -> dict:
        """List URL aliases."""
        return self._request("GET", "/mags-url-aliases")

    def url_alias_delete(self, subdomain: str) -> dict:
        """Delete a URL alias."""
        return self._request("DELETE", "/mags-url-aliases/%s" % _q(subdomain))

    # ---- cron ------------------------------------------------------------

    def cron_create(self, *, name: str, cron_expression: str, script: str,
                    workspace_id: Optional[str] = None, **opts: Any) -> dict:
        """Create a cron job (5-field ``cron_expression``); returns it (with ``id``).

        ``opts`` are further API fields (``persistent``, ``enabled``...)."""
        body: Dict[str, Any] = {"name": name, "cron_expression": cron_expression,
                                "script": script}
        if workspace_id:
            body["workspace_id"] = workspace_id
        body.update(opts)
        return self._request("POST", "/mags-cron", body)

    def cron_list(self) -> dict:
        """``{"cron_jobs": [{"id", "name", "cron_expression", "enabled", ...}]}``."""
        return self._request("GET", "/mags-cron")

    def cron_get(self, cron_id: str) -> dict:
        """One cron job."""
        return self._request("GET", "/mags-cron/%s" % _q(cron_id))

    def cron_update(self, cron_id: str, **opts: Any) -> dict:
        """Change a cron job, e.g. ``cron_update(id, enabled=False)``."""
        return self._request("PATCH", "/mags-cron/%s" % _q(cron_id), opts)

    def cron_delete(self, cron_id: str) -> dict:
        """Delete a cron job."""
        return self._request("DELETE", "/mags-cron/%s" % _q(cron_id))

    # ---- usage -----------------------------------------------------------

    def usage(self, window_days: int = 30) -> dict:
        """Usage over the last window_days: ``{"total_jobs", "vm_seconds", ...}``."""
        return self._request("GET", "/mags-usage", query={"window_days": window_days})
