"""`rocket compile`: the KFP v2 YAML and the Vertex PipelineJob JSON, checked as protos.

Compiling needs no credentials: these tests run with GOOGLE_APPLICATION_CREDENTIALS
pointing at a missing file, so any attempt to reach gs:// would fail.
"""

from __future__ import annotations

import importlib
import json
import shutil
from pathlib import Path

import pytest
import rocket_config
import rocket_seed
import yaml
from conftest import local_pipeline_nodes
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from pipeline import cli, kubeflow_compiler, tfx_pipeline
from pipeline.kubeflow_compiler import BeamOptions, CompileError, CompileOptions
from pipeline.settings import MAX_AUC_DROP, MIN_AUC, MODULE_FILE

DEFAULT_STEPS = rocket_config.TrainConfig().train_steps

IMAGE = "europe-docker.pkg.dev/acme/ml/rocket-launching-tfx:0.1.0"
ROOT = "gs://acme-ml/rocket"
DATA = "gs://acme-ml/data/taobao"
COMPONENTS = (
    "EasyRecExampleGen",
    "StatisticsGen",
    "SchemaGen",
    "ExampleValidator",
    "AnomaliesGate",
    "Transform",
    "Trainer",
    "ServedModelBaseline",
    "Evaluator",
    "EvaluationReport",
    "Pusher",
)
BEAM_COMPONENTS = (
    "EasyRecExampleGen",
    "StatisticsGen",
    "Transform",
    "Evaluator",
)
# `rocket compile` options of a PortableRunner package (a job server, default workers).
PORTABLE = ("--beam-runner=PortableRunner", "--beam-job-endpoint=js:8099")
# (consumer, input key) -> (producer, output key): the data flow of create_pipeline.
EDGES = {
    ("StatisticsGen", "examples"): ("EasyRecExampleGen", "examples"),
    ("ExampleValidator", "statistics"): ("StatisticsGen", "statistics"),
    ("ExampleValidator", "schema"): ("SchemaGen", "schema"),
    ("AnomaliesGate", "anomalies"): ("ExampleValidator", "anomalies"),
    ("Transform", "examples"): ("EasyRecExampleGen", "examples"),
    ("Transform", "schema"): ("SchemaGen", "schema"),
    ("Trainer", "examples"): ("Transform", "transformed_examples"),
    ("Trainer", "transform_graph"): ("Transform", "transform_graph"),
    ("Trainer", "schema"): ("SchemaGen", "schema"),
    ("Evaluator", "examples"): ("EasyRecExampleGen", "examples"),
    ("Evaluator", "model"): ("Trainer", "model"),
    ("ServedModelBaseline", "candidate"): ("Trainer", "model"),
    ("Evaluator", "baseline_model"): ("ServedModelBaseline", "baseline"),
    ("Evaluator", "model_run"): ("Trainer", "model_run"),
    ("EvaluationReport", "evaluation"): ("Evaluator", "evaluation"),
    ("EvaluationReport", "blessing"): ("Evaluator", "blessing"),
    ("EvaluationReport", "model_run"): ("Trainer", "model_run"),
    ("Pusher", "model"): ("Trainer", "model"),
    ("Pusher", "model_blessing"): ("Evaluator", "blessing"),
}


@pytest.fixture(autouse=True)
def no_credentials(monkeypatch, tmp_path):
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-such-key.json"))
    monkeypatch.setenv("NO_GCE_CHECK", "True")


def compile_to(tmp_path: Path, target: str = "kubeflow", **changes):
    suffix = ".yaml" if target == "kubeflow" else ".json"
    settings = {"pipeline_root": ROOT, "data": DATA, "image": IMAGE, **changes}
    options = CompileOptions(target=target, output=tmp_path / f"pipeline{suffix}", **settings)
    return options, kubeflow_compiler.compile_pipeline(options)


def compile_argv(target: str, output: Path, *options: str) -> list[str]:
    """`rocket compile` of the test data and image to `output`, with `options`."""
    return ["compile", f"--target={target}", f"--output={output}", f"--pipeline-root={ROOT}",
            f"--data={DATA}", f"--image={IMAGE}", *options]  # fmt: skip


def parse_spec(path: Path) -> pipeline_spec_pb2.PipelineSpec:
    spec = pipeline_spec_pb2.PipelineSpec()
    json_format.ParseDict(yaml.safe_load(path.read_text()), spec)  # unknown field: error
    return spec


def container_args(spec: pipeline_spec_pb2.PipelineSpec, task: str) -> list[str]:
    label = spec.components[spec.root.dag.tasks[task].component_ref.name].executor_label
    return list(spec.deployment_spec.fields["executors"].struct_value[label]["container"]["args"])


def executors(spec: pipeline_spec_pb2.PipelineSpec) -> dict:
    return json_format.MessageToDict(spec.deployment_spec)["executors"]


def test_kubeflow_yaml_is_a_pipeline_spec_with_the_whole_dag(tmp_path):
    options, compiled = compile_to(tmp_path)
    spec = parse_spec(compiled.path)
    tasks = spec.root.dag.tasks
    assert spec.pipeline_info.name == "rocket-launching"
    assert spec.default_pipeline_root == ROOT  # else KFP would use its MinIO default
    assert spec.schema_version == "2.1.0"
    assert set(COMPONENTS) <= set(tasks)

    # Every node create_pipeline builds is one task of the DAG, and nothing else is.
    nodes = tfx_pipeline.create_pipeline(kubeflow_compiler.build_settings(options)).components
    assert {node.id for node in nodes} == set(tasks)

    for (consumer, key), (producer, output) in EDGES.items():
        source = tasks[consumer].inputs.artifacts[key].task_output_artifact
        assert (source.producer_task, source.output_artifact_key) == (producer, output), (
            consumer,
            key,
        )
        assert producer in tasks[consumer].dependent_tasks
    # Transform waits for the data contract's gate (an ordering edge without data).
    assert "AnomaliesGate" in tasks["Transform"].dependent_tasks


def test_create_pipeline_wires_the_components_as_designed(tmp_path):
    """The local pipeline itself (no compiler): each input's producer and output key, the
    gate before Transform, the Pusher fed by the Evaluator's blessing."""
    nodes = local_pipeline_nodes(tmp_path)
    assert set(nodes) == set(COMPONENTS)
    wired = {
        (node_id, key): (channel.producer_component_id, channel.output_key)
        for node_id, node in nodes.items()
        for key, channel in node.inputs.items()
    }
    assert wired == EDGES
    assert "AnomaliesGate" in {n.id for n in nodes["Transform"].upstream_nodes}


def test_every_executor_runs_the_image_with_our_code(tmp_path):
    _, compiled = compile_to(tmp_path)
    spec = parse_spec(compiled.path)
    containers = {k: v["container"] for k, v in executors(spec).items() if "container" in v}
    assert len(containers) >= len(COMPONENTS)
    for label, container in containers.items():
        assert container["image"] == IMAGE, label
        # Our wrapper of TFX's entrypoint (pipeline/container_entrypoint.py).
        assert container["command"] == ["python", "-m", "pipeline.container_entrypoint"]
        assert importlib.util.find_spec("pipeline.container_entrypoint") is not None
    example_gen_args = container_args(spec, "EasyRecExampleGen")
    class_path = example_gen_args[example_gen_args.index("--executor_class_path") + 1]
    assert class_path == "components.easyrec_example_gen.executor.Executor"


def test_module_code_comes_by_import_path_from_the_image(tmp_path):
    _, compiled = compile_to(tmp_path)
    spec = parse_spec(compiled.path)
    transform = spec.root.dag.tasks["Transform"].inputs.parameters
    trainer = spec.root.dag.tasks["Trainer"].inputs.parameters
    assert transform["preprocessing_fn"].runtime_value.constant.string_value == (
        "rocket_module.preprocessing_fn"
    )
    assert trainer["run_fn"].runtime_value.constant.string_value == "rocket_module.run_fn"
    for params in (transform, trainer):
        assert "module_file" not in params and "module_path" not in params
    # The names resolve in the installed project, as they will in the image.
    for dotted in ("rocket_module.preprocessing_fn", "rocket_module.run_fn"):
        module, _, name = dotted.rpartition(".")
        assert callable(getattr(importlib.import_module(module), name))


def test_runtime_parameters_have_defaults_and_feed_example_gen_and_trainer(tmp_path):
    _, compiled = compile_to(tmp_path, data_pattern="part-*")
    spec = parse_spec(compiled.path)
    params = spec.root.input_definitions.parameters
    assert params["data_root"].default_value.string_value == DATA
    assert json.loads(params["train_args"].default_value.string_value) == {
        "num_steps": DEFAULT_STEPS
    }
    tasks = spec.root.dag.tasks
    assert (
        tasks["EasyRecExampleGen"].inputs.parameters["input_base"].component_input_parameter
        == "data_root"
    )
    input_config = tasks["EasyRecExampleGen"].inputs.parameters["input_config"]
    assert "part-*" in input_config.runtime_value.constant.string_value
    assert tasks["Trainer"].inputs.parameters["train_args"].component_input_parameter == (
        "train_args"
    )
    assert compiled.parameters == {
        "data_root": DATA,
        "train_args": json.dumps({"num_steps": DEFAULT_STEPS}),
        "max_bad_rows": 0,
        "min_auc": MIN_AUC,
        "max_auc_drop": MAX_AUC_DROP,
    }


def test_the_gate_and_the_bad_row_limit_are_runtime_parameters(tmp_path):
    """Set per run without recompiling (`--param max_auc_drop=0.02`): typed as KFP's driver
    checks them, defaults from the compile options, and an option that is off
    (--min-lift-over-linear not given) is not one."""
    from pipeline.submit import SubmitError, resolve_params

    _, compiled = compile_to(tmp_path, max_bad_rows=5, min_lift_over_linear=0.01)
    spec = parse_spec(compiled.path)
    params = spec.root.input_definitions.parameters
    kinds = {name: pipeline_spec_pb2.ParameterType.ParameterTypeEnum.Name(
        params[name].parameter_type) for name in params}  # fmt: skip
    assert kinds["max_bad_rows"] == "NUMBER_INTEGER"
    assert (
        kinds["min_auc"]
        == kinds["max_auc_drop"]
        == kinds["min_lift_over_linear"]
        == ("NUMBER_DOUBLE")
    )
    assert params["max_bad_rows"].default_value.number_value == 5
    assert params["min_lift_over_linear"].default_value.number_value == 0.01
    tasks = spec.root.dag.tasks
    evaluator = tasks["Evaluator"].inputs.parameters
    for name in ("min_auc", "max_auc_drop", "min_lift_over_linear"):
        assert evaluator[name].component_input_parameter == name
    assert tasks["EasyRecExampleGen"].inputs.parameters["max_bad_rows"].component_input_parameter
    document = yaml.safe_load(compiled.path.read_text())
    assert resolve_params(document, {"max_auc_drop": "0.02", "max_bad_rows": "3"}) == {
        "max_auc_drop": 0.02,
        "max_bad_rows": 3,
    }
    with pytest.raises(SubmitError, match="--param max_bad_rows=x: not a valid number_integer"):
        resolve_params(document, {"max_bad_rows": "x"})
    _, default = compile_to(tmp_path)
    assert "min_lift_over_linear" not in default.parameters


def test_dataflow_arguments_on_the_beam_components(tmp_path):
    beam = BeamOptions(
        runner="DataflowRunner",
        project="acme",
        region="europe-west4",
        temp_location="gs://acme-ml/tmp",
        machine_type="n1-standard-8",
        max_workers=12,
    )
    _, compiled = compile_to(tmp_path, beam=beam)
    spec = parse_spec(compiled.path)
    expected = {
        "--runner=DataflowRunner",
        "--project=acme",
        "--region=europe-west4",
        "--temp_location=gs://acme-ml/tmp",
        "--machine_type=n1-standard-8",
        "--max_num_workers=12",
        f"--sdk_container_image={IMAGE}",
    }
    for task in BEAM_COMPONENTS:
        args = set(container_args(spec, task))
        assert expected <= args, (task, expected - args)
        assert "--runner=DirectRunner" not in args


def test_direct_runner_by_default(tmp_path):
    _, compiled = compile_to(tmp_path)
    spec = parse_spec(compiled.path)
    for task in BEAM_COMPONENTS:
        args = container_args(spec, task)
        assert "--runner=DirectRunner" in args
        assert not [a for a in args if a.startswith(("--project=", "--temp_location="))]

    # What every package compiled before the portable runners has, to the byte.
    assert BeamOptions().pipeline_args(IMAGE) == (
        "--runner=DirectRunner",
        "--direct_running_mode=multi_processing",
        "--direct_num_workers=0",
    )


def test_portable_runner_arguments_on_the_beam_components(tmp_path):
    beam = BeamOptions(
        runner="PortableRunner",
        job_endpoint="flink-beam-jobserver:8099",
        environment="EXTERNAL:localhost:50000",
    )
    _, compiled = compile_to(tmp_path, beam=beam)
    spec = parse_spec(compiled.path)
    expected = [
        "--runner=PortableRunner",
        "--job_endpoint=flink-beam-jobserver:8099",
        "--environment_type=EXTERNAL",
        "--environment_config=localhost:50000",
        f"--sdk_container_image={IMAGE}",
        "--sdk_location=container",
    ]
    for task in BEAM_COMPONENTS:
        args = container_args(spec, task)
        assert [a for a in args if a in expected] == expected, task
        assert not [a for a in args if "DirectRunner" in a or a.startswith("--direct_")], task


def test_compile_prints_where_the_beam_steps_go(tmp_path, capsys):
    output = tmp_path / "p.yaml"
    argv = compile_argv("kubeflow", output, *PORTABLE, "--beam-environment=PROCESS")
    assert cli._main(argv) == cli.EXIT_OK
    printed = capsys.readouterr().out
    assert "  Beam steps: PortableRunner through the job server js:8099, SDK workers PROCESS\n" in (
        printed
    )
    assert cli._main(compile_argv("kubeflow", output, *PORTABLE)) == cli.EXIT_OK
    assert f"SDK workers DOCKER:{IMAGE}\n" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("beam", "environment"),
    [
        (
            BeamOptions(runner="PortableRunner", job_endpoint="js:8099"),
            ("DockerEnvironment", "container_image", IMAGE),  # our image by default
        ),
        (
            BeamOptions(runner="PortableRunner", job_endpoint="js:8099", environment="DOCKER:a/b"),
            ("DockerEnvironment", "container_image", "a/b"),
        ),
        (
            BeamOptions(runner="FlinkRunner", job_endpoint="js:8099", environment="PROCESS",
                        flink_master="flink-jobmanager:8081"),
            ("ProcessEnvironment", "command", "/opt/apache/beam/boot"),
        ),
        (
            BeamOptions(runner="SparkRunner", job_endpoint="js:8099",
                        environment="PROCESS:/usr/local/bin/boot",
                        spark_master_url="spark://spark-master:7077"),
            ("ProcessEnvironment", "command", "/usr/local/bin/boot"),
        ),
        (
            BeamOptions(runner="FlinkRunner", job_endpoint="js:8099",
                        environment="EXTERNAL:beam-worker-pool:50000"),
            ("ExternalEnvironment", "url", "beam-worker-pool:50000"),
        ),
    ],
)  # fmt: skip
def test_beam_reads_the_portable_arguments_as_meant(beam, environment):
    """Beam's own option parser, validator and environment builder on the compiled args:
    the names are Beam's, and the SDK workers' environment is the one asked for."""
    from apache_beam.options import pipeline_options as po
    from apache_beam.options.pipeline_options_validator import PipelineOptionsValidator
    from apache_beam.transforms import environments

    beam.validate()
    options = po.PipelineOptions(list(beam.pipeline_args(IMAGE)))
    assert options.view_as(po.StandardOptions).runner == beam.runner
    assert options.view_as(po.PortableOptions).job_endpoint == "js:8099"
    assert not PipelineOptionsValidator(options, beam.runner).validate()
    if beam.runner == "FlinkRunner":
        assert options.view_as(po.FlinkRunnerOptions).flink_master == (
            beam.flink_master or "[auto]"
        )
    if beam.spark_master_url:
        assert options.view_as(po.SparkRunnerOptions).spark_master_url == beam.spark_master_url
    built = environments.Environment.from_options(options.view_as(po.PortableOptions))
    kind, attribute, value = environment
    assert type(built).__name__ == kind
    assert getattr(built, attribute) == value


def test_cache_flag_reaches_every_task(tmp_path):
    _, cached = compile_to(tmp_path)
    # KFP never runs ExampleGen's driver (which fingerprints the input files), so its cache
    # key would only hold the folder's name: new files there must not hit an old entry.
    components = {
        name: t
        for name, t in parse_spec(cached.path).root.dag.tasks.items()
        if name != "EasyRecExampleGen"
    }
    assert all(t.caching_options.enable_cache for t in components.values())
    example_gen = parse_spec(cached.path).root.dag.tasks["EasyRecExampleGen"]
    assert not example_gen.caching_options.enable_cache
    # Vertex runs the driver, whose fingerprint goes into its cache key: cache kept.
    _, vertex = compile_to(tmp_path / "vertex", target="vertex")
    vertex_tasks = vertex.job["pipelineSpec"]["root"]["dag"]["tasks"].values()
    assert all(t["cachingOptions"]["enableCache"] for t in vertex_tasks)
    _, uncached = compile_to(tmp_path / "nocache", enable_cache=False)
    tasks = parse_spec(uncached.path).root.dag.tasks.values()
    assert not any(t.caching_options.enable_cache for t in tasks)


def test_vertex_json_is_a_pipeline_job(tmp_path):
    _, compiled = compile_to(tmp_path, target="vertex", serving_dir="gs://acme-ml/serving")
    job_dict = json.loads(compiled.path.read_text())
    assert set(job_dict) >= {"pipelineSpec", "runtimeConfig"}
    job = pipeline_spec_pb2.PipelineJob()
    json_format.ParseDict(job_dict, job)
    assert job.runtime_config.gcs_output_directory == ROOT
    assert job.runtime_config.parameter_values["data_root"].string_value == DATA
    assert set(COMPONENTS) <= set(job_dict["pipelineSpec"]["root"]["dag"]["tasks"])
    pusher = job_dict["pipelineSpec"]["root"]["dag"]["tasks"]["Pusher"]["inputs"]["parameters"]
    assert "gs://acme-ml/serving" in pusher["push_destination"]["runtimeValue"]["constant"]


def test_config_and_train_steps_go_into_the_package(tmp_path):
    config_file = tmp_path / "rocket.config"
    config_file.write_text(
        "model_config { model_class: 'RocketLaunching'\n"
        "  feature_groups { group_name: 'all' feature_names: 'user_id' wide_deep: DEEP }\n"
        "  rocket_launching { share_dnn { hidden_units: [32] }\n"
        "    booster_dnn { hidden_units: [32, 16] } light_dnn { hidden_units: [8] } } }\n"
    )
    output = tmp_path / "p.yaml"
    code = cli._main(
        compile_argv(
            "kubeflow", output, f"--config={config_file}", "--train-steps=77", "--min-auc=0.6"
        )
    )
    assert code == cli.EXIT_OK
    spec = parse_spec(output)
    trainer = spec.root.dag.tasks["Trainer"].inputs.parameters
    custom = json.loads(trainer["custom_config"].runtime_value.constant.string_value)
    rocket = json.loads(custom["rocket_config"])
    assert rocket["model"]["light_dnn"]["hidden_units"] == [8]
    default = spec.root.input_definitions.parameters["train_args"].default_value.string_value
    assert json.loads(default) == {"num_steps": 77}
    evaluator = spec.root.dag.tasks["Evaluator"].inputs.parameters
    eval_config = json.loads(evaluator["eval_config"].runtime_value.constant.string_value)
    (auc,) = [m for m in eval_config["metrics_specs"][0]["metrics"] if m["class_name"] == "AUC"]
    (gate,) = auc["per_slice_thresholds"]
    assert gate["threshold"]["value_threshold"]["lower_bound"] == pytest.approx(0.6)


def gate_values(spec: pipeline_spec_pb2.PipelineSpec) -> dict:
    """What a package sets of the gate and the input: runtime parameters (their defaults)
    feeding the RocketEvaluator and ExampleGen; the EvalConfig's AUC thresholds, which the
    executor overwrites with them, hold the same values."""
    tasks = spec.root.dag.tasks
    defaults = spec.root.input_definitions.parameters

    def value(task: str, name: str):
        given = tasks[task].inputs.parameters.get(name)
        if given is None:
            return None
        assert given.component_input_parameter == name  # a runtime parameter
        return defaults[name].default_value.number_value

    evaluator = tasks["Evaluator"].inputs.parameters
    eval_config = json.loads(evaluator["eval_config"].runtime_value.constant.string_value)
    (auc,) = [m for m in eval_config["metrics_specs"][0]["metrics"] if m["class_name"] == "AUC"]
    (gate,) = auc["per_slice_thresholds"]
    values = {
        "min_auc": value("Evaluator", "min_auc"),
        "max_auc_drop": value("Evaluator", "max_auc_drop"),
        "min_lift_over_linear": value("Evaluator", "min_lift_over_linear"),
        "max_bad_rows": value("EasyRecExampleGen", "max_bad_rows"),
    }
    assert gate["threshold"]["value_threshold"]["lower_bound"] == pytest.approx(values["min_auc"])
    assert -gate["threshold"]["change_threshold"]["absolute"] == pytest.approx(
        values["max_auc_drop"]
    )
    return values


def load_spec(path: Path, target: str) -> pipeline_spec_pb2.PipelineSpec:
    if target == "kubeflow":
        return parse_spec(path)
    spec = pipeline_spec_pb2.PipelineSpec()
    json_format.ParseDict(json.loads(path.read_text())["pipelineSpec"], spec)
    return spec


@pytest.mark.parametrize("target", ["kubeflow", "vertex"])
def test_gate_and_input_options_go_into_the_package(tmp_path, target):
    """`rocket compile` takes `rocket run`'s gate and input options (one definition in
    pipeline/cli/common.py), and the package carries their values."""
    output = tmp_path / ("p.yaml" if target == "kubeflow" else "p.json")
    argv = compile_argv(target, output)
    gate = [
        "--min-auc=0.55",
        "--max-auc-drop=0.03",
        "--min-lift-over-linear=0.002",
        "--max-bad-rows=7",
        "--min-class-examples=5",
        "--eval-fraction=0.25",
    ]
    assert cli._main([*argv, *gate]) == cli.EXIT_OK
    spec = load_spec(output, target)
    assert gate_values(spec) == pytest.approx(
        {"min_auc": 0.55, "max_auc_drop": 0.03, "min_lift_over_linear": 0.002, "max_bad_rows": 7}
    )
    evaluator = spec.root.dag.tasks["Evaluator"].inputs.parameters
    eval_config = json.loads(evaluator["eval_config"].runtime_value.constant.string_value)
    counts = [
        m["per_slice_thresholds"][0]["threshold"]["value_threshold"]["lower_bound"]
        for m in eval_config["metrics_specs"][0]["metrics"]
        if m["class_name"] in ("EvalPositives", "EvalNegatives")
    ]
    assert counts == [5, 5]
    example_gen = spec.root.dag.tasks["EasyRecExampleGen"].inputs.parameters
    output_config = json.loads(example_gen["output_config"].runtime_value.constant.string_value)
    buckets = {
        split["name"]: split["hash_buckets"] for split in output_config["split_config"]["splits"]
    }
    assert buckets == {"train": 75, "eval": 25}

    # Without them: the same defaults as `rocket run` (no linear-lift gate, strict rows).
    default = tmp_path / "default" / output.name
    assert cli._main([*argv[:2], f"--output={default}", *argv[3:]]) == cli.EXIT_OK
    assert gate_values(load_spec(default, target)) == pytest.approx(
        {
            "min_auc": MIN_AUC,
            "max_auc_drop": MAX_AUC_DROP,
            "min_lift_over_linear": None,
            "max_bad_rows": 0,
        }
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"max_auc_drop": -0.1}, "--max-auc-drop -0.1: must be between 0 and 1"),
        ({"max_auc_drop": float("nan")}, "--max-auc-drop nan: must be between 0 and 1"),
        ({"max_bad_rows": -1}, "--max-bad-rows -1: must be 0 or more"),
        ({"min_class_examples": -1}, "--min-class-examples -1: must be 0 or more"),
        (
            {"min_lift_over_linear": float("inf")},
            "--min-lift-over-linear inf: must be a finite number",
        ),
    ],
)
def test_compile_options_check_the_gate_as_the_cli_does(tmp_path, changes, message):
    with pytest.raises(CompileError, match=message):
        compile_to(tmp_path, **changes)
    assert not list(tmp_path.iterdir())


def test_compiling_writes_nothing_under_the_pipeline_root(tmp_path):
    """A local serving folder shows it directly: it must not even be created (and the gs://
    root cannot be reached without credentials)."""
    root = tmp_path / "root"
    for target, name in (("kubeflow", "p.yaml"), ("vertex", "p.json")):
        options = CompileOptions(
            target=target,
            output=tmp_path / name,
            pipeline_root=ROOT,
            data=DATA,
            image=IMAGE,
            serving_dir=str(root / "serving"),
        )
        kubeflow_compiler.compile_pipeline(options)
        assert (tmp_path / name).is_file()
    assert not root.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.json", "p.yaml"]


def test_module_file_would_have_written_a_wheel_under_the_root(tmp_path):
    """The check above can fail: given a module_file (a copy of model_code/ here), TFX
    packages its folder into the pipeline root while compiling. This is what
    module_in_image avoids."""
    from dataclasses import replace

    from tfx import v1 as tfx

    root = tmp_path / "root"
    options = CompileOptions(
        target="kubeflow",
        output=tmp_path / "p.yaml",
        pipeline_root=str(root),
        data=DATA,
        image=IMAGE,
    )
    module_copy = tmp_path / "model_code"
    shutil.copytree(
        Path(MODULE_FILE).parent, module_copy, ignore=shutil.ignore_patterns("*.egg-info")
    )
    settings = replace(
        kubeflow_compiler.build_settings(options),
        module_in_image=False,
        module_file=str(module_copy / "rocket_module.py"),
    )
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(default_image=IMAGE)
    )
    runner.run(tfx_pipeline.create_pipeline(settings), write_out=False)
    assert list(root.rglob("*.whl")), "TFX no longer packages module_file at compile time"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target=kubeflow", "--output=x.json"], "--output x.json"),
        (["--target=vertex", "--output=x.json", "--pipeline-root=/tmp/r"], "--pipeline-root"),
        (["--beam-runner=DataflowRunner", "--dataflow-project=p"], "--dataflow-region"),
        (
            [
                "--beam-runner=DataflowRunner",
                "--dataflow-project=p",
                "--dataflow-region=r",
                "--dataflow-temp-location=/tmp/t",
            ],
            "--dataflow-temp-location /tmp/t",
        ),
        (["--dataflow-project=p"], "--dataflow-project: only used with"),
        (
            ["--beam-runner=PortableRunner"],
            "--beam-runner PortableRunner needs --beam-job-endpoint",
        ),
        (["--beam-runner=FlinkRunner"], "--beam-runner FlinkRunner needs --beam-job-endpoint"),
        (
            ["--beam-runner=PortableRunner", "--beam-job-endpoint=js"],
            "--beam-job-endpoint js: give",
        ),
        (
            ["--beam-runner=SparkRunner", "--beam-job-endpoint=js:99999"],
            "--beam-job-endpoint js:99999",
        ),
        (
            [*PORTABLE, "--beam-environment=EXTERNAL"],
            "--beam-environment EXTERNAL: give the SDK worker",
        ),
        ([*PORTABLE, "--beam-environment=EXTERNAL:pool"], "--beam-environment EXTERNAL:pool: give"),
        (
            [*PORTABLE, "--beam-environment=LOOPBACK"],
            "--beam-environment LOOPBACK: give EXTERNAL:HOST",
        ),
        ([*PORTABLE, "--beam-environment=PROCESS:boot"], "PROCESS:COMMAND takes the absolute path"),
        (
            [*PORTABLE, "--beam-environment=DOCKER:a b"],
            "--beam-environment DOCKER:a b: DOCKER:IMAGE",
        ),
        (
            ["--beam-job-endpoint=js:8099"],
            "--beam-job-endpoint: only used with --beam-runner PortableRunner, FlinkRunner or",
        ),
        (
            ["--beam-environment=PROCESS"],
            "--beam-environment: only used with --beam-runner Portable",
        ),
        (
            [*PORTABLE, "--dataflow-project=p"],
            "--dataflow-project: only used with --beam-runner DataflowRunner",
        ),
        ([*PORTABLE, "--direct-running-mode=in_memory"], "--direct-running-mode: only used with"),
        (
            [*PORTABLE, "--flink-master=f:8081"],
            "--flink-master: only used with --beam-runner FlinkRunner",
        ),
        (
            [*PORTABLE, "--spark-master-url=spark://s:7077"],
            "--spark-master-url: only used with --beam-runner SparkRunner",
        ),
        (
            [
                "--beam-runner=FlinkRunner",
                "--beam-job-endpoint=js:8099",
                "--flink-master=http://f:8081",
            ],
            "--flink-master http://f:8081: give the Flink JobManager",
        ),
        (
            [
                "--beam-runner=SparkRunner",
                "--beam-job-endpoint=js:8099",
                "--spark-master-url=local[4]",
            ],
            "--spark-master-url local[4]: give spark://HOST:PORT",
        ),
        (
            ["--beam-runner=SparkRunner", "--beam-job-endpoint=js:8099", "--flink-master=f:8081"],
            "--flink-master: only used with --beam-runner FlinkRunner",
        ),
        (["--data=gs://b/d/x.csv", "--data-pattern=*.txt"], "--data-pattern"),
        (["--data=gs://"], "--data gs://:"),
        (["--pipeline-name=Rocket_Launching"], "--pipeline-name"),
        (["--min-auc=1.5"], "--min-auc"),
        (["--max-auc-drop=1.5"], "argument --max-auc-drop: 1.5: must be between 0 and 1"),
        (["--max-auc-drop=-0.01"], "argument --max-auc-drop: -0.01: must be between 0 and 1"),
        (["--max-bad-rows=-1"], "argument --max-bad-rows: -1: must be 0 or more"),
        (["--max-bad-rows=2.5"], "argument --max-bad-rows: '2.5' is not an integer"),
        (["--min-lift-over-linear=x"], "argument --min-lift-over-linear: 'x' is not a number"),
        (["--min-lift-over-linear=nan"], "--min-lift-over-linear: nan: must be between -1 and 1"),
        (["--min-lift-over-linear=1.5"], "--min-lift-over-linear: 1.5: must be between -1 and 1"),
    ],
)
def test_bad_options_are_usage_errors_naming_the_option(tmp_path, capsys, args, message):
    base = {
        "--target": "kubeflow",
        "--output": str(tmp_path / "p.yaml"),
        "--pipeline-root": ROOT,
        "--data": DATA,
        "--image": IMAGE,
    }
    for arg in args:
        base.pop(arg.split("=")[0], None)
    argv = ["compile", *(f"{k}={v}" for k, v in base.items()), *args]
    assert cli._main(argv) == cli.EXIT_USAGE
    assert message in capsys.readouterr().err
    assert not (tmp_path / "p.yaml").exists()


@pytest.mark.parametrize(
    ("data", "pattern", "expected"),
    [
        ("gs://b/data", None, ("gs://b/data", "*.csv")),
        ("gs://b/data/", "*", ("gs://b/data", "*")),
        ("gs://b/data/part-00.csv", None, ("gs://b/data", "part-00.csv")),
        ("gs://b/data/day=1/*.csv.gz", None, ("gs://b/data/day=1", "*.csv.gz")),
        ("/mnt/data/taobao", "*", ("/mnt/data/taobao", "*")),
    ],
)
def test_split_data_path(data, pattern, expected):
    assert kubeflow_compiler.split_data_path(data, pattern) == expected


def test_split_data_path_rejects_globs_in_folders():
    with pytest.raises(CompileError, match="only the last part"):
        kubeflow_compiler.split_data_path("gs://b/*/x.csv")


def test_local_runs_name_the_module_by_import_path_with_its_fingerprint(tmp_path):
    """`rocket run` settings: the installed module's functions by import path (no wheel to
    build and pip-install), its code's fingerprint in custom_config so an edit reruns
    Transform and Trainer despite the cache, a TrainArgs proto, no runtime parameter."""
    from tfx.orchestration import data_types

    from pipeline.settings import PREPROCESSING_FN, RUN_FN

    nodes = local_pipeline_nodes(tmp_path)
    assert nodes["Transform"].exec_properties["preprocessing_fn"] == PREPROCESSING_FN
    assert nodes["Trainer"].exec_properties["run_fn"] == RUN_FN
    fingerprint = tfx_pipeline.code_fingerprint()
    for name in ("Transform", "Trainer"):
        assert nodes[name].exec_properties.get("module_file") is None
        custom_config = json.loads(nodes[name].exec_properties["custom_config"])
        assert custom_config[tfx_pipeline.CODE_FINGERPRINT_KEY] == fingerprint
    for node in nodes.values():
        for value in node.exec_properties.values():
            assert not isinstance(value, data_types.RuntimeParameter), node.id
    assert nodes["EasyRecExampleGen"].exec_properties["input_base"] == str(tmp_path / "data")
    assert not (tmp_path / "root").exists()


VERTEX_TRAINER = "tfx.extensions.google_cloud_ai_platform.trainer.executor.GenericExecutor"


@pytest.mark.parametrize("target", ["vertex", "kubeflow"])
def test_vertex_training_runs_the_trainer_as_a_worker_pool(tmp_path, target):
    output = tmp_path / ("p.json" if target == "vertex" else "p.yaml")
    code = cli._main(
        compile_argv(
            target, output, "--vertex-training", "--training-workers=3",
            "--training-machine-type=n1-highmem-16", "--project=acme-ml", "--region=europe-west4",
        )
    )  # fmt: skip
    assert code == cli.EXIT_OK
    spec = load_spec(output, target)
    args = container_args(spec, "Trainer")
    assert args[args.index("--executor_class_path") + 1] == VERTEX_TRAINER
    trainer = spec.root.dag.tasks["Trainer"].inputs.parameters
    custom = json.loads(trainer["custom_config"].runtime_value.constant.string_value)
    assert custom["ai_platform_enable_vertex"] is True
    assert custom["ai_platform_vertex_region"] == "europe-west4"
    training = custom["ai_platform_training_args"]
    assert training["project"] == "acme-ml"
    pools = training["job_spec"]["worker_pool_specs"]
    assert [pool["replica_count"] for pool in pools] == [1, 2]  # chief + 2 workers
    for pool in pools:
        assert pool["machine_spec"] == {"machine_type": "n1-highmem-16"}
        assert pool["container_spec"] == {"image_uri": IMAGE}
    # run_fn by import path and the model configuration reach the job unchanged.
    assert trainer["run_fn"].runtime_value.constant.string_value == "rocket_module.run_fn"
    assert "rocket_config" in custom
    # Only the Trainer changes: the other components keep the stock executors.
    transform_args = container_args(spec, "Transform")
    assert "google_cloud_ai_platform" not in " ".join(transform_args)


def test_without_vertex_training_the_trainer_runs_in_its_pod(tmp_path):
    _, compiled = compile_to(tmp_path)
    spec = parse_spec(compiled.path)
    args = container_args(spec, "Trainer")
    assert args[args.index("--executor_class_path") + 1] == (
        "tfx.components.trainer.executor.GenericExecutor"
    )
    trainer = spec.root.dag.tasks["Trainer"].inputs.parameters
    custom = json.loads(trainer["custom_config"].runtime_value.constant.string_value)
    assert set(custom) == {"rocket_config"}


def test_one_training_worker_is_a_single_chief_pool():
    training = kubeflow_compiler.VertexTraining(
        enabled=True, project="acme-ml", region="us-central1"
    )
    pools = training.worker_pool_specs(IMAGE)
    assert pools == [
        {
            "machine_spec": {"machine_type": kubeflow_compiler.DEFAULT_TRAINING_MACHINE_TYPE},
            "replica_count": 1,
            "container_spec": {"image_uri": IMAGE},
        }
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--training-workers=2"], "--training-workers: only used with --vertex-training"),
        (["--vertex-training", "--region=europe-west4"], "--vertex-training needs --project"),
        (["--vertex-training", "--project=acme-ml"], "--vertex-training needs --region"),
        (
            ["--vertex-training", "--project=acme-ml", "--region=eu", "--training-workers=2"],
            "--region eu",
        ),
        (
            [
                "--vertex-training",
                "--project=acme-ml",
                "--region=europe-west4",
                "--training-workers=0",
            ],
            "--training-workers 0",
        ),
        (
            [
                "--vertex-training",
                "--project=acme-ml",
                "--region=europe-west4",
                "--training-machine-type=big machine",
            ],
            "--training-machine-type big machine",
        ),
    ],
)
def test_bad_vertex_training_options_name_the_option(tmp_path, capsys, args, message):
    argv = compile_argv("vertex", tmp_path / "p.json", *args)
    assert cli._main(argv) == cli.EXIT_USAGE
    assert message in capsys.readouterr().err
    assert not (tmp_path / "p.json").exists()


@pytest.mark.parametrize("target", ["kubeflow", "vertex"])
def test_only_executor_kinds_open_source_kfp_runs(tmp_path, target):
    """backend/src/v2/compiler/visitor.go refuses every executor but container and
    importer; the ExampleGen driver is a lifecycle hook Vertex runs and KFP ignores."""
    _, compiled = compile_to(tmp_path, target=target)
    spec = compiled.spec
    kinds = {kind for executor in spec["deploymentSpec"]["executors"].values() for kind in executor}
    assert kinds == {"container"}
    label = spec["components"]["EasyRecExampleGen"]["executorLabel"]
    hook = spec["deploymentSpec"]["executors"][label]["container"]["lifecycle"]["preCacheCheck"]
    assert hook["command"][-1] == "tfx.orchestration.kubeflow.v2.file_based_example_gen.driver"


def test_every_artifact_type_imports_by_the_title_tfx_reads(tmp_path):
    """TFX's entrypoint imports each artifact's class from its schema title: a custom type
    whose title is no Python path (as `rocket.EvaluationReport` was) fails its step."""
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_entrypoint_utils as entry
    from tfx.utils import import_utils

    _, compiled = compile_to(tmp_path)
    titles = set()
    for component in compiled.spec["components"].values():
        for side in ("inputDefinitions", "outputDefinitions"):
            for definition in component.get(side, {}).get("artifacts", {}).values():
                type_schema = pipeline_spec_pb2.ArtifactTypeSchema()
                json_format.ParseDict(definition["artifactType"], type_schema)
                class_path = entry._retrieve_class_path(type_schema)
                assert import_utils.import_class_by_path(class_path), class_path
                titles.add(class_path)
    assert "components.RocketEvaluationReport" in titles


@pytest.mark.parametrize(
    ("target", "root", "message"),
    [
        ("kubeflow", "file:///mnt/artifacts", "needs a gs://, s3:// or minio:// pipeline root"),
        ("kubeflow", "/mnt/artifacts", "unrecognized pipeline root format"),
        ("vertex", "s3://bucket/rocket", "Vertex AI needs a gs:// pipeline root"),
        ("vertex", "minio://mlpipeline/v2/artifacts", "Vertex AI needs a gs:// pipeline root"),
        ("vertex", "/mnt/artifacts", "Vertex AI needs a gs:// pipeline root"),
    ],
)
def test_pipeline_roots_the_backend_refuses_are_refused(tmp_path, target, root, message):
    """minio:// and s3:// roots on kubeflow: tests/test_object_store.py."""
    with pytest.raises(CompileError, match=message):
        compile_to(tmp_path, target=target, pipeline_root=root)
    assert not list(tmp_path.iterdir())  # nothing written


def test_tuning_puts_tfx_tuner_between_transform_and_trainer(tmp_path):
    """--tune: TFX's Tuner reads what the Trainer reads, with the trial budget in its
    custom_config, and its best hyperparameters feed the Trainer; compiled, the Tuner
    names tuner_fn by import path like the other steps."""
    from pipeline import settings as pipeline_settings

    settings = pipeline_settings.PipelineSettings(
        pipeline_root=str(tmp_path / "root"),
        data_root=str(tmp_path / "data"),
        data_pattern="*.csv",
        serving_dir=str(tmp_path / "serving"),
        config=rocket_seed.default_config(),
        tune_trials=4,
    )
    nodes = {n.id: n for n in tfx_pipeline.create_pipeline(settings).components}
    assert set(nodes) == {*COMPONENTS, "Tuner"}
    wired = {
        (node_id, key): (channel.producer_component_id, channel.output_key)
        for node_id, node in nodes.items()
        for key, channel in node.inputs.items()
    }
    assert wired == {
        **EDGES,
        ("Tuner", "examples"): ("Transform", "transformed_examples"),
        ("Tuner", "transform_graph"): ("Transform", "transform_graph"),
        ("Tuner", "schema"): ("SchemaGen", "schema"),
        ("Trainer", "hyperparameters"): ("Tuner", "best_hyperparameters"),
    }
    tuner_config = json.loads(nodes["Tuner"].exec_properties["custom_config"])
    trainer_config = json.loads(nodes["Trainer"].exec_properties["custom_config"])
    assert tuner_config == {**trainer_config, "tune_trials": 4}
    assert (
        nodes["Tuner"].exec_properties["train_args"]
        == (nodes["Trainer"].exec_properties["train_args"])
    )

    _, compiled = compile_to(tmp_path, tune_trials=4)
    spec = parse_spec(compiled.path)
    tuner = spec.root.dag.tasks["Tuner"].inputs.parameters
    assert tuner["tuner_fn"].runtime_value.constant.string_value == "rocket_module.tuner_fn"
    assert "module_file" not in tuner
    assert "Tuner" in spec.root.dag.tasks["Trainer"].dependent_tasks
    assert callable(importlib.import_module("rocket_module").tuner_fn)


def test_code_fingerprint_changes_with_any_module_file(tmp_path):
    """An edit, a new file or a renamed one in the module folder changes the fingerprint
    Transform and Trainer are cached by; the same files give the same one."""
    (tmp_path / "rocket_module.py").write_text("x = 1\n")
    (tmp_path / "notes.txt").write_text("not code")
    first = tfx_pipeline.code_fingerprint(str(tmp_path))
    assert tfx_pipeline.code_fingerprint(str(tmp_path)) == first
    (tmp_path / "notes.txt").write_text("still not code")
    assert tfx_pipeline.code_fingerprint(str(tmp_path)) == first
    (tmp_path / "rocket_module.py").write_text("x = 2\n")
    edited = tfx_pipeline.code_fingerprint(str(tmp_path))
    assert edited != first
    (tmp_path / "rocket_extra.py").write_text("")
    assert tfx_pipeline.code_fingerprint(str(tmp_path)) not in (first, edited)
