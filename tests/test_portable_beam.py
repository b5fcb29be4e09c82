"""`rocket compile --beam-runner PortableRunner`: a kubeflow package whose Beam steps submit
their jobs to a Beam job server, as on a cluster's Flink or Spark.

The slow test stands Beam's own job service and an SDK worker pool (the EXTERNAL
environment) up on loopback, runs the package with `rocket run-package --backend kubeflow`
and reads, from the job service itself, which Beam jobs ran: one per Beam step, each done,
each on the worker pool. No Flink or Spark is involved; see docs/kubeflow.md.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from package_runs import ROCKET, latest_record

from pipeline import cli, sample_data
from pipeline.kubeflow_compiler import BeamOptions
from pipeline.package_run.runner import GCS_STAND_IN

REPO = Path(__file__).resolve().parents[1]
ROOT = "gs://rocket-portable/pipelines"
DATA = "gs://rocket-portable/data"
IMAGE = "europe-docker.pkg.dev/acme/ml/rocket-launching-tfx:0.1.0"
# Beam step -> (the executor label TFX gives its Beam job, a top-level transform of that
# job's pipeline). TFX labels executors outside tfx.* "third_party_executor"
# (tfx/utils/telemetry_utils.py): ours, ExampleGen's and RocketEvaluator's.
BEAM_STEPS = {
    "EasyRecExampleGen": ("third_party_executor", "InputToRecord"),
    "StatisticsGen": (
        "tfx-components-statistics_gen-executor-executor",
        "GenerateStatistics[train]",
    ),
    "Transform": ("tfx-components-transform-executor-executor", "Analyze"),
    "Evaluator": ("third_party_executor", "ExtractEvaluateAndWriteResults"),
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def code_env() -> dict[str, str]:
    """This checkout's code first on the path, as the image has it installed; `python` on
    PATH is this environment's: the worker pool starts its SDK workers as `python -c ...`
    (apache_beam/runners/worker/worker_pool_main.py), not with its own interpreter."""
    path = [str(REPO), str(REPO / "model_code"), os.environ.get("PYTHONPATH", "")]
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in path if p),
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
        "TF_USE_LEGACY_KERAS": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }


def wait_for_port(port: int, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{process.args} exited {process.returncode}:\n{log.read_text()[-3000:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("localhost", port)) == 0:
                return
        time.sleep(0.5)
    pytest.fail(f"{process.args} is not listening on {port} after {timeout} s")


@pytest.fixture(scope="module")
def beam_services(tmp_path_factory):
    """(job service port, worker pool port) of Beam's job service and SDK worker pool, as
    subprocesses on loopback; stopped at the end of the module."""
    folder = tmp_path_factory.mktemp("beam_services")
    job_port, pool_port = free_port(), free_port()
    commands = {
        "job_service": [
            "apache_beam.runners.portability.local_job_service_main",
            "--port",
            str(job_port),
            "--staging_dir",
            str(folder / "staging"),
        ],
        "worker_pool": [
            "apache_beam.runners.worker.worker_pool_main",
            f"--service_port={pool_port}",
        ],
    }
    processes = {}
    try:
        for name, command in commands.items():
            log = folder / f"{name}.log"
            with log.open("wb") as out:
                processes[name] = subprocess.Popen(
                    [sys.executable, "-m", *command],
                    env=code_env(),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=folder,
                )
        for name, port in (("job_service", job_port), ("worker_pool", pool_port)):
            wait_for_port(port, processes[name], folder / f"{name}.log")
        yield job_port, pool_port, folder
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def beam_jobs(job_port: int) -> list[dict]:
    """The job service's own records: every job's state, options and pipeline."""
    import grpc
    from apache_beam.portability.api import beam_job_api_pb2, beam_job_api_pb2_grpc
    from google.protobuf import json_format

    with grpc.insecure_channel(f"localhost:{job_port}") as channel:
        service = beam_job_api_pb2_grpc.JobServiceStub(channel)
        jobs = []
        for info in service.GetJobs(beam_job_api_pb2.GetJobsRequest(), timeout=30).job_info:
            pipeline = service.GetPipeline(
                beam_job_api_pb2.GetJobPipelineRequest(job_id=info.job_id), timeout=30
            ).pipeline
            options = json_format.MessageToDict(info.pipeline_options)
            jobs.append(
                {
                    "id": info.job_id,
                    "state": beam_job_api_pb2.JobState.Enum.Name(info.state),
                    "options": {k.split(":")[2]: v for k, v in options.items()},
                    "environments": [e.urn for e in pipeline.components.environments.values()],
                    "transforms": [t.unique_name for t in pipeline.components.transforms.values()],
                }
            )
        return jobs


def stand_in(root: Path, uri: str) -> Path:
    return root / GCS_STAND_IN / uri[len("gs://") :]


@pytest.fixture(scope="module")
def portable_run(beam_services, tmp_path_factory):
    """A kubeflow package compiled for PortableRunner and run once on 400 rows."""
    job_port, pool_port, _ = beam_services
    folder = tmp_path_factory.mktemp("portable")
    package = folder / "pipeline.yaml"
    argv = [
        "compile", "--target=kubeflow", f"--output={package}", f"--pipeline-root={ROOT}",
        f"--data={DATA}", f"--image={IMAGE}", "--train-steps=20", "--fixed-steps",
        "--beam-runner=PortableRunner", f"--beam-job-endpoint=localhost:{job_port}",
        f"--beam-environment=EXTERNAL:localhost:{pool_port}",
    ]  # fmt: skip
    assert cli._main(argv) == cli.EXIT_OK
    root = folder / "root"
    sample_data.write_sample(stand_in(root, f"{DATA}/sample.csv"), 400)
    earlier = {job["id"] for job in beam_jobs(job_port)}  # e.g. another test's
    started = time.monotonic()
    result = subprocess.run(
        [ROCKET, "run-package", str(package), "--backend", "kubeflow", "--root", str(root)],
        env=code_env(),
        capture_output=True,
        text=True,
        timeout=1200,
    )
    jobs = [job for job in beam_jobs(job_port) if job["id"] not in earlier]
    (folder / "beam_jobs.json").write_text(json.dumps(jobs, indent=1))  # to read on failure
    return {
        "package": package,
        "result": result,
        "seconds": time.monotonic() - started,
        "record": latest_record(root),
        "jobs": jobs,
        "pool_port": pool_port,
    }


@pytest.mark.slow
def test_every_beam_step_runs_its_job_on_the_job_service_and_worker_pool(portable_run):
    result, record = portable_run["result"], portable_run["record"]
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert record and all(t["state"] == "succeeded" for t in record["tasks"]), record
    spec = yaml.safe_load(portable_run["package"].read_text())
    pool = f"localhost:{portable_run['pool_port']}"
    jobs = portable_run["jobs"]
    assert jobs, "the job service ran no job"
    for job in jobs:
        assert job["state"] == "DONE", job
        assert job["options"]["environment_type"] == "EXTERNAL", job
        assert job["options"]["environment_config"] == pool, job
        assert job["environments"] == ["beam:env:external:v1"], job
    steps = {}
    for step, (executor, transform) in BEAM_STEPS.items():
        steps[step] = [
            job["id"]
            for job in jobs
            if f"tfx_executor={executor}" in job["options"].get("labels", [])
            and transform in {name.split("/")[0] for name in job["transforms"]}
        ]
    # One job per Beam step, and no other: every Beam pipeline of the run went there.
    assert all(len(ids) == 1 for ids in steps.values()), steps
    assert len(jobs) == len(BEAM_STEPS), jobs
    for step in BEAM_STEPS:
        task = next(t for t in record["tasks"] if t["name"] == step)
        log = Path(task["log"]).read_text(errors="replace")
        # The step's own side: Beam's PortableRunner saw its one job through to DONE.
        assert log.count("Job state changed to DONE") == 1, step
        assert "DirectRunner" not in log, step
        label = spec["components"][spec["root"]["dag"]["tasks"][step]["componentRef"]["name"]]
        args = spec["deploymentSpec"]["executors"][label["executorLabel"]]["container"]["args"]
        assert "--runner=PortableRunner" in args and "--runner=DirectRunner" not in args, step
    print(f"portable run: {portable_run['seconds']:.0f} s, {len(jobs)} Beam jobs")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("runner", "master"),
    [("FlinkRunner", {"flink_master": "flink-jobmanager:8081"}),
     ("SparkRunner", {"spark_master_url": "spark://spark-master:7077"})],
)  # fmt: skip
def test_flink_and_spark_runners_submit_to_the_job_endpoint(beam_services, runner, master):
    """Beam's Python FlinkRunner and SparkRunner with the compiled arguments hand their job
    to --beam-job-endpoint, with the master among its options, instead of starting a Java
    job server of their own. (The job service here runs it without Flink or Spark.)"""
    import apache_beam as beam

    job_port, pool_port, _ = beam_services
    options = BeamOptions(
        runner=runner,
        job_endpoint=f"localhost:{job_port}",
        environment=f"EXTERNAL:localhost:{pool_port}",
        **master,
    )
    options.validate()
    earlier = {job["id"] for job in beam_jobs(job_port)}
    pipeline = beam.Pipeline(argv=list(options.pipeline_args(IMAGE)))
    _ = pipeline | beam.Create(range(100)) | beam.combiners.Count.Globally()
    assert pipeline.run().wait_until_finish() == "DONE"
    (job,) = [job for job in beam_jobs(job_port) if job["id"] not in earlier]
    assert job["state"] == "DONE"
    ((name, value),) = master.items()
    assert job["options"][name] == value
    assert job["environments"] == ["beam:env:external:v1"]
