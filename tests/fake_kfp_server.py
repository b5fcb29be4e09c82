"""A small Kubeflow Pipelines API (v2beta1 REST) on loopback, for `rocket submit` tests.

It answers the calls kfp 2.5's Client makes to upload a pipeline (or a version), find or
create an experiment and create a run, keeps what it was sent, and refuses anything else
with 404, so a client call this server does not know fails the test.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

API = "/apis/v2beta1"


@dataclass
class Upload:
    kind: str  # "pipeline" or "version"
    query: dict[str, str]
    filename: str
    content: bytes


@dataclass
class State:
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path)
    uploads: list[Upload] = field(default_factory=list)
    pipelines: dict[str, dict] = field(default_factory=dict)  # id -> pipeline
    versions: dict[str, list[dict]] = field(default_factory=dict)  # pipeline id -> versions
    experiments: dict[str, dict] = field(default_factory=dict)
    runs: list[dict] = field(default_factory=list)  # run bodies as received
    ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def new_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self.ids):04d}"


def _display_name_filter(query: dict[str, list[str]]) -> str | None:
    raw = query.get("filter", [""])[0]
    if not raw:
        return None
    for predicate in json.loads(raw).get("predicates", []):
        if predicate.get("key") == "display_name":
            return predicate.get("string_value", predicate.get("stringValue"))
    return None


def _multipart_file(content_type: str, body: bytes) -> tuple[str, bytes]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "uploadfile":
            return part.get_filename(), part.get_payload(decode=True)
    raise ValueError("no uploadfile part")


class _Handler(BaseHTTPRequestHandler):
    state: State  # set on the subclass made per server

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def _reply(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        url = urlparse(self.path)
        query = parse_qs(url.query)
        self.state.requests.append(("GET", url.path))
        if url.path == f"{API}/healthz":
            return self._reply(200, {"multi_user": False})
        if url.path == f"{API}/pipelines":
            name = _display_name_filter(query)
            found = [p for p in self.state.pipelines.values() if p["display_name"] == name]
            return self._reply(200, {"pipelines": found, "total_size": len(found)} if found else {})
        parts = url.path.removeprefix(f"{API}/pipelines/").split("/")
        if url.path.startswith(f"{API}/pipelines/") and parts[1:] == ["versions"]:
            versions = self.state.versions.get(parts[0], [])
            return self._reply(200, {"pipeline_versions": versions, "total_size": len(versions)})
        if url.path == f"{API}/experiments":
            name = _display_name_filter(query)
            found = [e for e in self.state.experiments.values() if e["display_name"] == name]
            return self._reply(
                200, {"experiments": found, "total_size": len(found)} if found else {}
            )
        self._reply(404, {"error": f"unknown GET {url.path}"})

    def do_POST(self) -> None:  # noqa: N802 (http.server API)
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        body = self._body()
        self.state.requests.append(("POST", url.path))
        if url.path in (f"{API}/pipelines/upload", f"{API}/pipelines/upload_version"):
            filename, content = _multipart_file(self.headers["Content-Type"], body)
            if url.path.endswith("/upload"):
                self.state.uploads.append(Upload("pipeline", query, filename, content))
                pipeline_id = self.state.new_id("pipeline")
                pipeline = {"pipeline_id": pipeline_id, "display_name": query["name"]}
                self.state.pipelines[pipeline_id] = pipeline
                self.state.versions[pipeline_id] = [
                    {
                        "pipeline_id": pipeline_id,
                        "pipeline_version_id": self.state.new_id("version"),
                        "display_name": query["name"],
                    }
                ]
                return self._reply(200, pipeline)
            self.state.uploads.append(Upload("version", query, filename, content))
            pipeline_id = query["pipelineid"]
            if pipeline_id not in self.state.pipelines:
                return self._reply(404, {"error": f"no pipeline {pipeline_id}"})
            version = {
                "pipeline_id": pipeline_id,
                "pipeline_version_id": self.state.new_id("version"),
                "display_name": query["name"],
            }
            self.state.versions[pipeline_id].append(version)
            return self._reply(200, version)
        if url.path == f"{API}/experiments":
            experiment = json.loads(body)
            experiment["experiment_id"] = self.state.new_id("experiment")
            self.state.experiments[experiment["experiment_id"]] = experiment
            return self._reply(200, experiment)
        if url.path == f"{API}/runs":
            run = json.loads(body)
            self.state.runs.append(run)
            return self._reply(200, {**run, "run_id": self.state.new_id("run")})
        self._reply(404, {"error": f"unknown POST {url.path}"})


class FakeKfpServer:
    """`with FakeKfpServer() as server:` serves on server.url until the block ends."""

    def __init__(self) -> None:
        self.state = State()
        handler = type("Handler", (_Handler,), {"state": self.state})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeKfpServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
