"""infra/: the pipeline image's Dockerfile and the TF Serving manifests, parsed and checked."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from pipeline import kubeflow_compiler
from pipeline.kubeflow_compiler import CompileOptions

REPO = Path(__file__).resolve().parents[1]
INFRA = REPO / "infra"
SERVING = INFRA / "serving"
# The README's example: compile with this root, serve what the Pusher pushes under it.
EXAMPLE_ROOT = "gs://YOUR_BUCKET/rocket"


def load_manifests() -> dict[str, dict]:
    docs = {}
    for path in sorted(SERVING.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            docs[doc["kind"]] = doc
    return docs


def serving_container() -> dict:
    (container,) = load_manifests()["Deployment"]["spec"]["template"]["spec"]["containers"]
    return container


def flag(args: list[str], name: str) -> str:
    values = [a.split("=", 1)[1] for a in args if a.startswith(f"--{name}=")]
    assert len(values) == 1, f"--{name} given {len(values)} times"
    return values[0]


def test_deployment_and_service_select_the_same_pods_and_ports():
    docs = load_manifests()
    deployment, service = docs["Deployment"], docs["Service"]
    assert deployment["metadata"]["name"] == service["metadata"]["name"] == "rocket-light-serving"
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"]["selector"].items() <= labels.items()
    container = serving_container()
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"grpc": 8500, "http": 8501}
    service_ports = {p["name"]: (p["port"], p["targetPort"]) for p in service["spec"]["ports"]}
    assert service_ports == {"grpc": (8500, "grpc"), "http": (8501, "http")}
    args = container["args"]
    assert flag(args, "port") == "8500" and flag(args, "rest_api_port") == "8501"


def test_serving_pods_run_least_privileged_with_limits():
    """Before: root, no securityContext, no CPU limit."""
    pod = load_manifests()["Deployment"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    container = serving_container()
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"]["drop"] == ["ALL"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]  # the only writable place
    resources = container["resources"]
    assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}


def test_tf_serving_image_matches_the_training_tensorflow():
    image = serving_container()["image"]
    assert image.startswith("tensorflow/serving:")
    constraints = (INFRA / "constraints-py310.txt").read_text()
    tf_version = re.search(r"^tensorflow==(\d+\.\d+)\.", constraints, re.M).group(1)
    assert image.split(":")[1].startswith(tf_version + ".")


def test_model_path_is_the_push_destination_and_warmup_is_on(tmp_path):
    args = serving_container()["args"]
    compiled = kubeflow_compiler.compile_pipeline(
        CompileOptions(
            target="kubeflow",
            output=tmp_path / "p.yaml",
            pipeline_root=EXAMPLE_ROOT,
            data="gs://YOUR_BUCKET/data",
            image="rocket:1",
        )
    )
    pusher = compiled.spec["root"]["dag"]["tasks"]["Pusher"]["inputs"]["parameters"]
    destination = json.loads(pusher["push_destination"]["runtimeValue"]["constant"])
    assert flag(args, "model_base_path") == destination["filesystem"]["base_directory"]
    assert flag(args, "model_base_path") == f"{EXAMPLE_ROOT}/serving"
    assert flag(args, "enable_model_warmup") == "true"
    model = flag(args, "model_name")
    probe = serving_container()["readinessProbe"]["httpGet"]
    assert probe == {"path": f"/v1/models/{model}", "port": 8501}


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order: comments dropped, `\\` continuations joined."""
    instructions, pending = [], ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).strip().partition(" ")
        instructions.append((keyword.upper(), " ".join(arguments.split())))
        pending = ""
    return instructions


def test_dockerfile_builds_on_tfx_1_16_with_the_project_and_legacy_keras():
    steps = dockerfile_instructions((INFRA / "Dockerfile").read_text())
    args = dict(a.split("=", 1) for k, a in steps if k == "ARG")
    assert args["TFX_IMAGE"] == "gcr.io/tfx-oss-public/tfx:1.16.0"
    # The Beam boot program for Dataflow workers, same Beam version as TFX 1.16's image.
    assert args["BEAM_SDK_IMAGE"] == "apache/beam_python3.10_sdk:2.59.0"
    froms = [a for k, a in steps if k == "FROM"]
    assert froms[-1] == "${TFX_IMAGE}"  # the image that runs is TFX's
    final = steps[max(i for i, (k, _) in enumerate(steps) if k == "FROM") :]
    env = " ".join(a for k, a in final if k == "ENV").split()
    assert "TF_USE_LEGACY_KERAS=1" in env
    # Everything pyproject installs is copied into the image and not docker-ignored.
    pyproject = (REPO / "pyproject.toml").read_text()
    copies = [a for k, a in final if k == "COPY"]
    for folder in ("model_code", "components", "pipeline"):
        assert f'"{folder}"' in pyproject
        assert f"{folder}/ {folder}/" in copies
    ignore = (REPO / ".dockerignore").read_text().split()
    for kept in ("!model_code/", "!components/", "!pipeline/", "!pyproject.toml"):
        assert kept in ignore
    runs = " && ".join(a for k, a in final if k == "RUN")
    assert "python -m pip install --no-cache-dir --no-deps ." in runs
    # What the TFX image lacks is added: dill (TFT), matplotlib (report), boto3 (s3://, minio://).
    added = re.search(r"-c /tmp/missing-constraints.txt ([^&\\]+)", runs).group(1).split()
    assert {"dill", "matplotlib", "boto3"} <= set(added)
    # The image's smoke import names modules that exist in this checkout.
    smoke = re.search(r'python -c "import ([^"]+)"', runs).group(1)
    for module in (name.strip() for name in smoke.split(",")):
        assert importlib.util.find_spec(module) is not None, module
    entrypoint = [a for k, a in final if k == "ENTRYPOINT"]
    assert json.loads(entrypoint[-1]) == ["/opt/apache/beam/boot"]
    # The image runs unprivileged: the last USER is a uid that the image creates.
    user = [a for k, a in final if k == "USER"][-1]
    assert user not in ("0", "root")
    assert f"useradd --uid {user} " in runs


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_image_runs_docker_build_on_the_dockerfile():
    result = subprocess.run(
        ["make", "-n", "image", "IMAGE=registry.example/rocket:7"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "docker build -f infra/Dockerfile -t registry.example/rocket:7 ." in result.stdout


def test_image_constraints_pin_only_what_is_missing():
    spec = importlib.util.spec_from_file_location(
        "image_constraints", INFRA / "image_constraints.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    lines = [
        "# comment",
        "apache-beam==2.74.0",
        "dill==0.4.1  # tft needs it",
        "Matplotlib==3.10.9",
        "protobuf==3.20.3",
        "",
    ]
    installed = {"apache-beam", "protobuf"}
    assert module.missing_pins(lines, installed) == ["dill==0.4.1", "Matplotlib==3.10.9"]
    assert module.canonical("tensorflow_model_analysis") == "tensorflow-model-analysis"
