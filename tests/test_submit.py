"""`rocket submit`: Kubeflow end to end against a loopback KFP API; Vertex up to the
PipelineJob it would send (no network, anonymous credentials)."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from pathlib import Path

import pytest
import yaml
from fake_kfp_server import API, FakeKfpServer

from pipeline import cli, kubeflow_compiler, submit
from pipeline.kubeflow_compiler import CompileOptions

IMAGE = "europe-docker.pkg.dev/acme/ml/rocket-launching-tfx:0.1.0"
ROOT = "gs://acme-ml/rocket"
DATA = "gs://acme-ml/data/taobao"


@pytest.fixture(scope="module")
def packages(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("packages")
    paths = {}
    for target, name in (("kubeflow", "pipeline.yaml"), ("vertex", "pipeline.json")):
        options = CompileOptions(
            target=target, output=folder / name, pipeline_root=ROOT, data=DATA, image=IMAGE
        )
        paths[target] = kubeflow_compiler.compile_pipeline(options).path
    return paths


@pytest.fixture(autouse=True)
def no_kfp_context(monkeypatch, tmp_path):
    """A user's ~/.config/kfp/context.json must not leak into the client's settings."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KF_PIPELINES_ENDPOINT", raising=False)
    monkeypatch.delenv("KF_PIPELINES_UI_ENDPOINT", raising=False)


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = cli._main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_kubeflow_upload_then_run_with_parameters(packages, capsys):
    with FakeKfpServer() as server:
        code, out, err = run_cli(
            [
                "submit",
                str(packages["kubeflow"]),
                "--host",
                server.url,
                "--experiment",
                "ctr-nightly",
                "--run-name",
                "first-run",
                "--param",
                "train_steps=50",
                "--param",
                "data_root=gs://acme-ml/data/2026-11-27",
            ],
            capsys,
        )
    assert code == cli.EXIT_OK, err
    state = server.state
    assert state.requests[:3] == [
        ("GET", f"{API}/healthz"),  # submit checks that the host is a KFP API
        ("GET", f"{API}/healthz"),  # the client asks whether KFP is multi-user
        ("GET", f"{API}/pipelines"),  # is there a pipeline of this name already?
    ]
    # The uploaded package is exactly the compiled one.
    assert len(state.uploads) == 1 and state.uploads[0].kind == "pipeline"
    assert state.uploads[0].content == packages["kubeflow"].read_bytes()
    assert yaml.safe_load(state.uploads[0].content) == yaml.safe_load(
        packages["kubeflow"].read_text()
    )
    assert state.uploads[0].query["name"] == "rocket-launching"
    # One experiment, one run of the uploaded version, with typed parameters.
    assert [e["display_name"] for e in state.experiments.values()] == ["ctr-nightly"]
    (run,) = state.runs
    (pipeline_id,) = state.pipelines
    (version,) = state.versions[pipeline_id]
    assert run["display_name"] == "first-run"
    assert run["experiment_id"] == next(iter(state.experiments))
    assert run["pipeline_version_reference"] == {
        "pipeline_id": pipeline_id,
        "pipeline_version_id": version["pipeline_version_id"],
    }
    assert run["runtime_config"]["parameters"] == {
        "train_args": '{"num_steps": 50}',
        "data_root": "gs://acme-ml/data/2026-11-27",
    }
    # The KFP backend never reads the package's defaultPipelineRoot: the run must carry it.
    assert run["runtime_config"]["pipeline_root"] == ROOT
    assert "pipeline_spec" not in run or run["pipeline_spec"] is None
    run_id = out.split("run id: ")[1].split()[0]
    assert run_id.startswith("run-")
    assert f"run url: {server.url}/#/runs/details/{run_id}" in out


def test_kubeflow_second_submit_adds_a_version_and_reuses_the_experiment(packages, capsys):
    with FakeKfpServer() as server:
        for _ in range(2):
            code, _, err = run_cli(
                ["submit", str(packages["kubeflow"]), "--host", server.url], capsys
            )
            assert code == cli.EXIT_OK, err
    state = server.state
    assert [u.kind for u in state.uploads] == ["pipeline", "version"]
    assert state.uploads[1].query["pipelineid"] in state.pipelines
    assert state.uploads[1].content == packages["kubeflow"].read_bytes()
    assert len(state.experiments) == 1
    (pipeline_id,) = state.pipelines
    versions = [v["pipeline_version_id"] for v in state.versions[pipeline_id]]
    assert [r["pipeline_version_reference"]["pipeline_version_id"] for r in state.runs] == versions
    assert all(r["runtime_config"].get("parameters") in (None, {}) for r in state.runs)


def test_kubeflow_run_root_can_be_overridden(packages, capsys):
    other = "gs://acme-ml/rocket-staging"
    with FakeKfpServer() as server:
        argv = ["submit", str(packages["kubeflow"]), "--host", server.url]
        code, _, err = run_cli([*argv, "--pipeline-root", other], capsys)
    assert code == cli.EXIT_OK, err
    (run,) = server.state.runs
    assert run["runtime_config"]["pipeline_root"] == other


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--param", "steps=5"], "--param steps: not a runtime parameter"),
        (["--param", "train_steps=ten"], "--param train_steps=ten"),
        (["--param", "train_args=300"], "--param train_args=300"),
        (["--param", "data_root"], "--param data_root: write it as NAME=VALUE"),
        (["--project", "acme"], "--project: only with --vertex"),
        (["--pipeline-root", "/mnt/artifacts"], "--pipeline-root /mnt/artifacts: give a gs://"),
    ],
)
def test_kubeflow_bad_params_are_refused_before_anything_is_sent(packages, capsys, extra, message):
    with FakeKfpServer() as server:
        code, _, err = run_cli(
            ["submit", str(packages["kubeflow"]), "--host", server.url, *extra], capsys
        )
    assert code == cli.EXIT_USAGE
    assert message in err
    assert server.state.requests == []


def test_kubeflow_refuses_a_vertex_package_and_a_missing_host(packages, capsys):
    code, _, err = run_cli(["submit", str(packages["vertex"]), "--host", "http://x"], capsys)
    assert code == cli.EXIT_USAGE and "--vertex" in err
    code, _, err = run_cli(["submit", str(packages["kubeflow"])], capsys)
    assert code == cli.EXIT_USAGE and "--host" in err
    code, _, err = run_cli(["submit", "missing.yaml", "--host", "http://x"], capsys)
    assert code == cli.EXIT_USAGE and "missing.yaml: no such package" in err


def test_vertex_job_carries_the_compiled_spec_and_parameters(packages):
    from google.auth.credentials import AnonymousCredentials

    job = submit.build_vertex_job(
        packages["vertex"],
        project="acme",
        region="europe-west4",
        params={"train_steps": "40"},
        run_name="rocket-test-1",
        credentials=AnonymousCredentials(),
    )
    compiled = json.loads(packages["vertex"].read_text())
    resource = job._gca_resource  # what PipelineJob.submit sends as pipeline_job
    assert job.job_id == "rocket-test-1"
    assert job.project == "acme" and job.location == "europe-west4"
    assert job._parent == "projects/acme/locations/europe-west4"
    assert dict(resource.pipeline_spec) == compiled["pipelineSpec"]
    assert resource.runtime_config.gcs_output_directory == ROOT
    values = resource.runtime_config.parameter_values
    assert values["train_args"] == '{"num_steps": 40}'
    assert values["data_root"] == DATA  # the compile-time default
    assert resource.display_name == "rocket-test-1"


def test_vertex_refuses_bad_input_before_sending(packages, capsys):
    code, _, err = run_cli(
        ["submit", str(packages["kubeflow"]), "--vertex", "--project", "p", "--region", "r"],
        capsys,
    )
    assert code == cli.EXIT_USAGE and "PipelineJob JSON" in err
    code, _, err = run_cli(
        [
            "submit",
            str(packages["vertex"]),
            "--vertex",
            "--project",
            "p",
            "--region",
            "r",
            "--service-account",
            "not-an-email",
        ],
        capsys,
    )
    assert code == cli.EXIT_USAGE and "--service-account not-an-email" in err
    code, _, err = run_cli(["submit", str(packages["vertex"]), "--vertex", "--region", "r"], capsys)
    assert code == cli.EXIT_USAGE and "--project" in err
    code, _, err = run_cli(
        [
            "submit",
            str(packages["vertex"]),
            "--vertex",
            "--project",
            "p",
            "--region",
            "r",
            "--run-name",
            "Bad_Name",
        ],
        capsys,
    )
    assert code == cli.EXIT_USAGE and "--run-name Bad_Name" in err


class _NotKfp(http.server.BaseHTTPRequestHandler):
    """Any web server that is not KFP: an HTML 404 for every path."""

    def do_GET(self):  # noqa: N802 (http.server API)
        body = b"<html>not found</html>"
        self.send_response(404)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_host_that_is_not_kfp_is_one_line(packages, capsys):
    """Before: 25.8 s, 191 lines and 5 tracebacks, then TimeoutError."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotKfp)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host = f"http://127.0.0.1:{server.server_address[1]}"
        code, out, err = run_cli(["submit", str(packages["kubeflow"]), "--host", host], capsys)
    finally:
        server.shutdown()
    assert code == cli.EXIT_USAGE
    assert err.count("\n") == 1, err
    assert (
        f"--host {host}: not a Kubeflow Pipelines API (GET /apis/v2beta1/healthz answered 404"
        in err
    )


def test_a_host_that_refuses_connections_is_one_line(packages, capsys):
    """Before: a raw MaxRetryError ... Connection refused."""
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    host = f"http://127.0.0.1:{port}"
    code, _, err = run_cli(["submit", str(packages["kubeflow"]), "--host", host], capsys)
    assert code == cli.EXIT_USAGE
    assert err.count("\n") == 1 and f"--host {host}: cannot connect" in err, err
