"""`rocket run-package` and the container entrypoint: a compiled package executed under
open-source Kubeflow Pipelines' rules and Vertex AI's.

The fast tests check the rules themselves (and that, under KFP's, TFX's stock entrypoint
does fail as the backend's source says). The slow ones compile the Vertex AI target on
small data and run it twice as a user would before submitting it. The Kubeflow target runs
in tests/test_object_store_packages.py (a stock cluster's MinIO, then a degraded run of an
s3:// package) and with a gs:// root in tests/test_portable_beam.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from package_runs import example_gen_fingerprint, finish_run, outputs_of, start_run

from pipeline import container_entrypoint, kubeflow_compiler, sample_data
from pipeline.kubeflow_compiler import BeamOptions, CompileOptions
from pipeline.package_run import backend_rules
from pipeline.package_run.backend_rules import PackageRunError
from pipeline.package_run.runner import GCS_STAND_IN, PackageRunner

BUCKET = "rocket-ci"
ROOT = f"gs://{BUCKET}/pipelines"
DATA = f"gs://{BUCKET}/data"
IMAGE = "europe-docker.pkg.dev/acme/ml/rocket-launching-tfx:0.1.0"
EXAMPLES_TYPE = {"instanceSchema": "title: tfx.Examples\ntype: object\n"}


def compile_package(folder: Path, target: str, **changes) -> Path:
    name = "pipeline.yaml" if target == "kubeflow" else "pipeline.json"
    options = CompileOptions(
        target=target,
        output=folder / name,
        pipeline_root=ROOT,
        data=DATA,
        image=IMAGE,
        **changes,
    )
    return kubeflow_compiler.compile_pipeline(options).path


# The entrypoint's repairs --------------------------------------------------------------------


def kfp_executor_input() -> dict:
    """What the KFP backend hands a step: upstream artifacts with an empty instanceSchema
    (metadata/client.go) and its own executor-logs output (driver/driver.go)."""
    return {
        "inputs": {
            "artifacts": {
                "examples": {
                    "artifacts": [{"name": "17", "uri": "gs://b/e", "type": {"instanceSchema": ""}}]
                }
            },
            "parameterValues": {"exclude_splits": "[]"},
        },
        "outputs": {
            "artifacts": {
                "statistics": {
                    "artifacts": [
                        {
                            "name": "statistics",
                            "uri": "gs://b/s",
                            "type": {"instanceSchema": "title: tfx.ExampleStatistics\n"},
                        }
                    ]
                },
                "executor-logs": {
                    "artifacts": [
                        {
                            "name": "executor-logs",
                            "uri": "gs://b/logs",
                            "type": {"schemaTitle": "system.Artifact"},
                        }
                    ]
                },
            },
            "outputFile": "/tmp/out.json",
        },
    }


def test_tfx_entrypoint_fails_on_what_kfp_sends_and_succeeds_after_the_repair():
    """tensorflow/tfx#7768 and KFP's executor-logs, reproduced in TFX's own parser."""
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_entrypoint_utils as entry

    def parse(executor_input: dict):
        message = pipeline_spec_pb2.ExecutorInput()
        json_format.ParseDict(executor_input, message)
        inputs = entry.parse_raw_artifact_dict(message.inputs.artifacts)
        outputs = entry.parse_raw_artifact_dict(message.outputs.artifacts)
        return inputs, outputs

    raw = kfp_executor_input()
    with pytest.raises(AttributeError):  # yaml.safe_load("") is None: None.get('title')
        parse(raw)
    without_empty_schema = kfp_executor_input()
    without_empty_schema["inputs"]["artifacts"]["examples"]["artifacts"][0]["type"] = EXAMPLES_TYPE
    with pytest.raises(ImportError):  # "system.Artifact" imported as a Python class
        parse(without_empty_schema)

    changes = container_entrypoint.repair_executor_input(
        raw, {"artifacts": {"examples": {"artifactType": EXAMPLES_TYPE}}}
    )
    assert changes == [
        "input examples: type tfx.Examples from the package",
        "output executor-logs: system.Artifact left to the backend",
    ]
    inputs, outputs = parse(raw)
    assert type(inputs["examples"][0]).__name__ == "Examples"
    assert inputs["examples"][0].uri == "gs://b/e"
    assert set(outputs) == {"statistics"}


def test_entrypoint_is_a_no_op_when_types_are_present():
    executor_input = kfp_executor_input()
    executor_input["inputs"]["artifacts"]["examples"]["artifacts"][0]["type"] = EXAMPLES_TYPE
    del executor_input["outputs"]["artifacts"]["executor-logs"]
    raw = json.dumps(executor_input)
    argv = ["--executor_class_path", "x.Executor", "--json_serialized_invocation_args", raw]
    repaired, changes = container_entrypoint.repair_argv(argv)
    assert changes == [] and repaired is argv and repaired[3] is raw


def test_entrypoint_repairs_the_invocation_argument_in_place():
    spec = {"artifacts": {"examples": {"artifactType": EXAMPLES_TYPE}}}
    argv = [
        "--executor_class_path",
        "x.Executor",
        "--json_serialized_invocation_args",
        json.dumps(kfp_executor_input()),
        "--json_serialized_inputs_spec_args",
        json.dumps(spec),
        "--runner=DirectRunner",
    ]
    repaired, changes = container_entrypoint.repair_argv(argv)
    assert len(changes) == 2
    assert repaired[:3] == argv[:3] and repaired[4:] == argv[4:]
    fixed = json.loads(repaired[3])
    assert fixed["inputs"]["artifacts"]["examples"]["artifacts"][0]["type"] == EXAMPLES_TYPE
    assert "executor-logs" not in fixed["outputs"]["artifacts"]


def test_entrypoint_names_an_input_it_cannot_type():
    with pytest.raises(ValueError, match="input artifact 'examples' arrived without a type"):
        container_entrypoint.repair_executor_input(kfp_executor_input(), {"artifacts": {}})


# Backend rules --------------------------------------------------------------------------------


def resolver_package(folder: Path) -> Path:
    """A TFX pipeline with a Resolver (LatestBlessedModelStrategy), compiled as TFX does:
    what `rocket compile` produced before the gate's baseline became a plain step."""
    from tfx import v1 as tfx

    resolver = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id("latest_blessed_model_resolver")
    pipeline = tfx.dsl.Pipeline(
        pipeline_name="with-resolver", pipeline_root=ROOT, components=[resolver]
    )
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
            default_image=IMAGE, use_pipeline_spec_2_1=True
        )
    )
    job = runner.run(pipeline, write_out=False)
    path = folder / "resolver.yaml"
    path.write_text(yaml.safe_dump({**job["pipelineSpec"], "defaultPipelineRoot": ROOT}))
    return path


def test_a_resolver_executor_is_refused_under_kubeflow_with_the_backends_message(tmp_path):
    package = resolver_package(tmp_path)
    with pytest.raises(PackageRunError) as refused:
        PackageRunner(package, "kubeflow", tmp_path / "root")
    assert str(refused.value).startswith("Failed to compile job: error processing component")
    assert "non-container and non-importer executor not implemented" in str(refused.value)
    assert not (tmp_path / "root").exists()  # refused before anything ran


@pytest.mark.parametrize(
    ("root", "message"),
    [
        ("/mnt/artifacts", "unrecognized pipeline root format: '/mnt/artifacts'"),
        ("file:///mnt/artifacts", "unsupported Cloud bucket: 'file:///mnt/artifacts'"),
        ("azure://container/artifacts", "unsupported Cloud bucket: 'azure://container/"),
    ],
)
def test_kfp_pipeline_root_rules(root, message):
    with pytest.raises(PackageRunError, match=message):
        backend_rules.check_kfp_pipeline_root(root)
    backend_rules.check_kfp_pipeline_root("gs://bucket/root")


def test_tasks_run_after_everything_they_read():
    tasks = {
        "c": {"inputs": {"artifacts": {"x": {"taskOutputArtifact": {"producerTask": "b"}}}}},
        "b": {"dependentTasks": ["a"]},
        "a": {},
        "d": {},
    }
    assert backend_rules.topological_order(tasks) == ["a", "b", "c", "d"]
    with pytest.raises(PackageRunError, match="cycle"):
        backend_rules.topological_order(
            {"a": {"dependentTasks": ["b"]}, "b": {"dependentTasks": ["a"]}}
        )


def test_trigger_conditions_are_evaluated_on_the_task_inputs():
    executor_input = {"inputs": {"parameterValues": {"mode": "full", "steps": 300}}}
    holds = backend_rules.evaluate_condition
    assert holds("inputs.parameter_values['mode'] == 'full'", executor_input, "t")
    assert not holds("inputs.parameter_values['mode'] != 'full'", executor_input, "t")
    assert holds(
        "inputs.parameter_values['steps'] > 100 && inputs.parameter_values['mode'] == 'full'",
        executor_input,
        "t",
    )
    assert holds(
        "inputs.parameter_values['steps'] < 100 || inputs.parameter_values['mode'] == 'full'",
        executor_input,
        "t",
    )
    with pytest.raises(PackageRunError, match="task t: triggerPolicy.condition"):
        holds("size(inputs.parameter_values) > 1", executor_input, "t")


def test_metadata_reaches_downstream_as_mlmd_keeps_it():
    assert backend_rules.mlmd_round_trip(
        {"blessed": True, "splits": ["train"], "info": {"a": 1}, "span": 0, "name": "x"}
    ) == {
        "blessed": 1,
        "splits": {"list": ["train"]},
        "info": {"struct": {"a": 1}},
        "span": 0,
        "name": "x",
    }


def test_no_step_imports_the_cloud_sdk_its_executor_does_not_use(tmp_path):
    """A step is a fresh process (a pod), and each second of imports is paid by every step
    of every run: `tfx.v1` pulls in google.cloud.aiplatform (seconds of import, measured in
    CHANGELOG.md) for names that live in tfx.dsl and tfx.types. Every executor of the
    compiled package is imported here as its step imports it, after TFX's entrypoint."""
    spec = yaml.safe_load(compile_package(tmp_path, "kubeflow").read_text())
    paths = sorted(
        {
            args[args.index("--executor_class_path") + 1]
            for executor in spec["deploymentSpec"]["executors"].values()
            for args in [executor["container"]["args"]]
        }
    )
    assert len(paths) == 11, paths
    code = (
        "import importlib, sys; import pipeline; "
        "import tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor; "
        "heavy = ('tfx.v1', 'google.cloud.aiplatform'); "
        "[importlib.import_module(p.rsplit('.', 1)[0]) for p in sys.argv[1:]]; "
        "print([m for m in heavy if m in sys.modules])"
    )
    imported = subprocess.run(
        [sys.executable, "-c", code, *paths], capture_output=True, text=True, check=True
    )
    assert imported.stdout.strip() == "[]", imported.stderr[-3000:]


def test_package_of_the_other_backend_is_refused(tmp_path):
    kubeflow = compile_package(tmp_path, "kubeflow")
    vertex = compile_package(tmp_path, "vertex")
    with pytest.raises(PackageRunError, match="--backend kubeflow"):
        PackageRunner(kubeflow, "vertex", tmp_path / "r")
    with pytest.raises(PackageRunError, match="--backend vertex"):
        PackageRunner(vertex, "kubeflow", tmp_path / "r")


# Both packages, end to end ---------------------------------------------------------------------


def stand_in(root: Path, uri: str) -> Path:
    assert uri.startswith("gs://"), uri
    return root / GCS_STAND_IN / uri[len("gs://") :]


def serving_files(serving: Path) -> dict[str, bytes]:
    return {str(p.relative_to(serving)): p.read_bytes() for p in serving.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def vertex(tmp_path_factory) -> dict:
    """The Vertex AI package compiled as a user would (gs:// root and data; the data placed
    in the gs:// stand-in) and run as compiled, then again with 2 training steps. KFP's
    runs, first and degraded second, are the MinIO and s3:// packages'
    (tests/test_object_store_packages.py): a stock self-hosted Kubeflow, KFP's backend
    rules, the same gate and Pusher. A kubeflow package with a gs:// root
    (Kubeflow on GKE) runs in tests/test_portable_beam.py, its Beam steps on a job
    service."""
    import rocket_config
    import rocket_seed

    # 60 fixed steps on every row, so the second run (2 steps) is degraded by its step count
    # alone: with validation checks and early stopping, which step the first run keeps
    # depends on 300 validation rows, and its margin over 2 steps can fall under the gate's
    # -0.01 (it did, once, in CI).
    config = rocket_config.with_changes(
        rocket_seed.default_config(), **{"train.train_steps": 60}, **rocket_config.FIXED_STEPS
    )
    folder = tmp_path_factory.mktemp("vertex")
    package = compile_package(
        folder,
        "vertex",
        beam=BeamOptions(direct_running_mode="in_memory"),  # small data, no Beam workers
        config=config,
        # The linear-baseline gate, set so that it refuses nothing here: the Evaluator
        # reads the Trainer's metrics.json on the backend's paths and records it.
        min_lift_over_linear=-1.0,
    )
    root = folder / "root"
    sample_data.write_sample(stand_in(root, f"{DATA}/sample.csv"), 4000)
    setup = {"package": package, "root": root, "serving": stand_in(root, f"{ROOT}/serving")}
    setup["first"] = finish_run(start_run(package, "vertex", root), root)
    serving = setup["serving"]
    setup["served_before"] = serving_files(serving) if serving.exists() else {}
    setup["second"] = finish_run(start_run(package, "vertex", root, "train_steps=2"), root)
    return setup


@pytest.mark.slow
def test_first_run_blesses_and_pushes_a_light_model_that_serves(vertex):
    import rocket_seed
    import tensorflow as tf

    from components.easyrec_example_gen import Column, RowParser

    result, record = vertex["first"]
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert all(t["state"] == "succeeded" for t in record["tasks"]), record["tasks"]
    assert len(record["tasks"]) == 11
    assert "blessed: True" in result.stdout
    # The run's own artifacts: no baseline served yet.
    baseline = outputs_of(record, "ServedModelBaseline")["baseline"][0]
    assert baseline["metadata"]["served_version"] == ""
    blessing = outputs_of(record, "Evaluator")["blessing"][0]
    assert blessing["metadata"]["blessed"] == 1
    assert blessing["metadata"]["min_lift_over_linear"] == -1.0
    assert 0.0 < blessing["metadata"]["linear_baseline_auc"] < 1.0
    pushed = outputs_of(record, "Pusher")["pushed_model"][0]["metadata"]
    destination = pushed["pushed_destination"]
    assert destination.startswith(f"{ROOT}/serving/")
    assert f"pushed: {destination}" in result.stdout
    # The pushed light model loads and answers raw tf.Examples.

    parser = RowParser([Column(f.name, f.type) for f in rocket_seed.TAOBAO_INPUT_FIELDS])
    rows = sample_data.generate_rows(20, seed=9)
    examples = [parser.parse(r.encode(), "x", i) for i, r in enumerate(rows, 1)]
    model = tf.saved_model.load(str(stand_in(vertex["root"], destination)))
    probabilities = model.signatures["serving_default"](
        examples=tf.constant([e.SerializeToString() for e in examples])
    )["probabilities"].numpy()
    assert probabilities.shape == (20,) and ((probabilities > 0) & (probabilities < 1)).all()
    assert vertex["served_before"]  # what the second run must leave alone


@pytest.mark.slow
def test_second_run_with_a_degraded_model_is_not_blessed_and_serving_is_untouched(vertex):
    _, first = vertex["first"]
    result, record = vertex["second"]
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "blessed: False" in result.stdout and "pushed: nothing" in result.stdout
    served_version = outputs_of(first, "Pusher")["pushed_model"][0]["metadata"]["pushed_version"]
    baseline = outputs_of(record, "ServedModelBaseline")["baseline"][0]
    assert baseline["metadata"]["served_version"] == served_version  # what the gate compared
    assert outputs_of(record, "Evaluator")["blessing"][0]["metadata"]["blessed"] == 0
    assert outputs_of(record, "Pusher")["pushed_model"][0]["metadata"]["pushed"] == 0
    assert serving_files(vertex["serving"]) == vertex["served_before"]
    # The backend's cache: Vertex AI keys ExampleGen on its driver's fingerprint of the
    # files (unchanged), so all that reads only the examples is reused (on KFP only
    # SchemaGen would be: the compiled ExampleGen has no cache, test_kubeflow_compile's
    # test_cache_flag_reaches_every_task, and what reads new artifacts runs again,
    # test_a_rerun_reuses_what_the_backends_cache_finds_and_nothing_else).
    reused = {t["name"] for t in record["tasks"] if t["state"] == "cached"}
    upstream = {"EasyRecExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator"}
    assert reused == {*upstream, "AnomaliesGate", "Transform"}, record["tasks"]
    # The run's parameter reached the Trainer as parameterValues only (pipeline spec 2.1).
    trainer_input = json.loads(
        (vertex["root"] / "runs" / record["run_id"] / "Trainer" / "executor_input.json").read_text()
    )["inputs"]
    assert json.loads(trainer_input["parameterValues"]["train_args"]) == {"num_steps": 2}
    assert "parameters" not in trainer_input


@pytest.mark.slow
def test_example_gen_fingerprints_its_input_through_the_driver(vertex):
    """Vertex runs the file-based driver (lifecycle hook); KFP never calls it, and the
    executor computes the same fingerprint itself (tests/test_object_store_packages.py)."""
    _, record = vertex["first"]
    assert example_gen_fingerprint(record).startswith("split:single_split,num_files:1,")
    log = Path(next(t for t in record["tasks"] if t["name"] == "EasyRecExampleGen")["log"])
    assert "Calculated fingerprint" in log.read_text(errors="replace")


def test_parameters_are_checked_as_kfps_driver_checks_them():
    component = {
        "inputDefinitions": {
            "parameters": {
                "config": {"parameterType": "STRING"},
                "steps": {"parameterType": "NUMBER_INTEGER"},
                "splits": {"parameterType": "STRING", "defaultValue": "[]"},
                "optional": {"parameterType": "STRING", "isOptional": True},
            }
        }
    }
    values = {"config": {"a": 1}, "steps": 5.0}
    backend_rules.check_parameter_types(values, component, "T")
    # Any value is JSON text to a STRING input; the launcher adds defaults, not optionals.
    assert values == {"config": '{"a": 1}', "steps": 5.0, "splits": "[]"}
    with pytest.raises(PackageRunError, match="'steps' type mismatch: expect NUMBER_INTEGER"):
        backend_rules.check_parameter_types({"config": "x", "steps": "5"}, component, "T")
    with pytest.raises(PackageRunError, match="non-optional parameter 'steps'"):
        backend_rules.check_parameter_types({"config": "x"}, component, "T")


def tiny_package(folder: Path) -> Path:
    """A hand-written KFP spec whose steps are one-line Python programs: they check what
    the backend handed them and write outputs, so the runner's rules are seen from inside
    a step without TFX."""
    check_input = (
        "import json, pathlib, sys; ex = json.loads(sys.argv[1]); "
        "art = ex['inputs']['artifacts']['data']['artifacts'][0]; "
        "assert art['type'] == {'instanceSchema': ''}, art; "
        "assert art['metadata']['rows'] == 3 and art['metadata']['ok'] == 1, art; "
        "assert ex['inputs']['parameterValues'] == {'n': 7.0, 'label': 'clk'}, ex; "
        "assert 'parameters' not in ex['inputs'], ex"
    )
    produce = (
        "import json, pathlib, sys; ex = json.loads(sys.argv[1]); "
        "out = ex['outputs']['artifacts']['data']['artifacts'][0]; "
        "assert set(ex['outputs']['artifacts']) == {'data', 'executor-logs'}; "
        "pathlib.Path(sys.argv[2]).write_text('7'); "
        "meta = {'artifacts': {'data': {'artifacts': [{'metadata': {'rows': 3, 'ok': True}}]}}}; "
        "pathlib.Path(ex['outputs']['outputFile']).write_text(json.dumps(meta))"
    )
    data_type = {"artifactType": {"schemaTitle": "system.Dataset"}}

    def container(code: str, *args: str) -> dict:
        return {"container": {"image": "i", "command": ["python", "-c", code], "args": list(args)}}

    spec = {
        "pipelineInfo": {"name": "tiny"},
        "defaultPipelineRoot": "gs://b/root",
        "root": {
            "inputDefinitions": {
                "parameters": {"mode": {"parameterType": "STRING", "defaultValue": "fast"}}
            },
            "dag": {
                "tasks": {
                    "produce": {
                        "taskInfo": {"name": "produce"},
                        "componentRef": {"name": "produce"},
                    },
                    "consume": {
                        "taskInfo": {"name": "consume"},
                        "componentRef": {"name": "consume"},
                        "dependentTasks": ["produce"],
                        "inputs": {
                            "artifacts": {
                                "data": {
                                    "taskOutputArtifact": {
                                        "producerTask": "produce",
                                        "outputArtifactKey": "data",
                                    }
                                }
                            },
                            "parameters": {
                                "n": {
                                    "taskOutputParameter": {
                                        "producerTask": "produce",
                                        "outputParameterKey": "n",
                                    }
                                }
                            },
                        },
                    },
                    "only_in_full_mode": {
                        "taskInfo": {"name": "only_in_full_mode"},
                        "componentRef": {"name": "fail"},
                        "inputs": {"parameters": {"mode": {"componentInputParameter": "mode"}}},
                        "triggerPolicy": {"condition": "inputs.parameter_values['mode'] == 'full'"},
                    },
                    "below_the_skipped": {
                        "taskInfo": {"name": "below_the_skipped"},
                        "componentRef": {"name": "fail"},
                        "dependentTasks": ["only_in_full_mode"],
                    },
                }
            },
        },
        "components": {
            "produce": {
                "executorLabel": "produce",
                "outputDefinitions": {
                    "artifacts": {"data": data_type},
                    "parameters": {"n": {"parameterType": "NUMBER_INTEGER"}},
                },
            },
            "consume": {
                "executorLabel": "consume",
                "inputDefinitions": {
                    "artifacts": {"data": data_type},
                    "parameters": {
                        "n": {"parameterType": "NUMBER_INTEGER"},
                        "label": {"parameterType": "STRING", "defaultValue": "clk"},
                    },
                },
            },
            "fail": {
                "executorLabel": "fail",
                "inputDefinitions": {"parameters": {"mode": {"parameterType": "STRING"}}},
            },
        },
        "deploymentSpec": {
            "executors": {
                "produce": container(produce, "{{$}}", "{{$.outputs.parameters['n'].output_file}}"),
                "consume": container(check_input, "{{$}}"),
                "fail": container("raise SystemExit(1)"),
            }
        },
    }
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_kubeflow_rules_seen_from_inside_the_steps(tmp_path):
    """Upstream artifacts with an empty schema and MLMD's metadata, parameterValues only,
    the launcher's defaults, output parameters through their files, executor-logs, and a
    false condition that skips a step and omits the one below it."""
    lines = []
    runner = PackageRunner(tiny_package(tmp_path), "kubeflow", tmp_path / "root", log=lines.append)
    record = runner.run()
    states = {t.name: t.state for t in record.tasks}
    assert states == {
        "produce": "succeeded",
        "consume": "succeeded",
        "only_in_full_mode": "skipped",
        "below_the_skipped": "not run",
    }, "\n".join(lines)
    assert record.succeeded
    produced = next(t for t in record.tasks if t.name == "produce")
    data = produced.outputs["data"][0]
    assert data["uri"].startswith(f"gs://b/root/tiny/{record.run_id}/produce/")
    assert produced.output_parameters == {"n": 7}  # typed as declared (NUMBER_INTEGER)
    # The step's output went to its executor-logs artifact, under the gs:// stand-in.
    logs = list((tmp_path / "root" / "gcs" / "b" / "root" / "tiny").rglob("executor-logs"))
    assert len(logs) == 4 - 2  # produce, consume (the skipped step provisions nothing)
    # A second run continues the metadata ids, as MLMD does.
    second = PackageRunner(
        tiny_package(tmp_path), "kubeflow", tmp_path / "root", log=lines.append
    ).run()
    second_data = next(t for t in second.tasks if t.name == "produce").outputs["data"][0]
    assert second_data["id"] > data["id"]


def test_a_rerun_reuses_what_the_backends_cache_finds_and_nothing_else(tmp_path):
    """driver/cache.go: a task marked enableCache whose key (inputs by value and artifact
    id, outputs without URIs, command, image) matched a succeeded execution is not run and
    hands on the same artifacts. A task without the cache (the compiled ExampleGen) makes
    new artifacts, so everything reading them runs again; --no-cache runs everything."""
    package = tiny_package(tmp_path)
    spec = yaml.safe_load(package.read_text())
    for task in ("produce", "consume"):
        spec["root"]["dag"]["tasks"][task]["cachingOptions"] = {"enableCache": True}
    package.write_text(yaml.safe_dump(spec))
    root, lines = tmp_path / "root", []

    def run(**options) -> dict:
        record = PackageRunner(package, "kubeflow", root, log=lines.append, **options).run()
        assert record.succeeded, "\n".join(lines)
        return {t.name: t for t in record.tasks}

    first = run()
    again = run()
    assert [again[t].state for t in ("produce", "consume")] == ["cached", "cached"]
    assert again["produce"].outputs == first["produce"].outputs  # the same artifact ids
    assert again["produce"].output_parameters == {"n": 7}
    assert "cached: the outputs of this task in run" in Path(again["consume"].log).read_text()
    uncached = run(cache=False)
    assert [uncached[t].state for t in ("produce", "consume")] == ["succeeded", "succeeded"]

    spec["root"]["dag"]["tasks"]["produce"]["cachingOptions"] = {}
    package.write_text(yaml.safe_dump(spec))
    rerun = run()
    assert [rerun[t].state for t in ("produce", "consume")] == ["succeeded", "succeeded"]
    assert rerun["produce"].outputs["data"][0]["id"] > first["produce"].outputs["data"][0]["id"]
