"""`rocket` command line: run the pipeline locally, compile it for Kubeflow / Vertex AI,
submit a compiled package.

Exit codes: 0 the run completed (blessed and pushed, or rejected by the Evaluator: the
verdict is printed and in run_summary.json); 3 with --require-push, the run completed but
nothing was pushed; 1 an error (message on stderr); 2 bad command-line usage.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import math
import os
import sys
import time
import traceback
from pathlib import Path

import pipeline  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from pipeline.benchmark import BenchError
from pipeline.gcs import GcsError
from pipeline.kubeflow_compiler import DEFAULT_TRAINING_MACHINE_TYPE, CompileError
from pipeline.package_runner import PackageRunError
from pipeline.settings import (
    EVAL_FRACTION,
    MAX_AUC_DROP,
    MIN_AUC,
    MIN_CLASS_EXAMPLES,
    REAL_SAMPLE,
)
from pipeline.submit import SubmitError

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_NOT_BLESSED = 0, 1, 2, 3


def _count(minimum: int):
    """An argparse type: an integer of at least `minimum` (a count of rows, steps, ...)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value}: must be {minimum} or more")
        return value

    return parse


def _number_in(low: float, high: float, open_interval: bool = False):
    """An argparse type: a finite number in [low, high], or in (low, high) when open."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        inside = low < value < high if open_interval else low <= value <= high
        if not (math.isfinite(value) and inside):
            bounds = f"between {low:g} and {high:g}" + (", exclusive" if open_interval else "")
            raise argparse.ArgumentTypeError(f"{text}: must be {bounds}")
        return value

    return parse


_FRACTION = _number_in(0.0, 1.0, open_interval=True)  # a share of the rows
_AUC = _number_in(0.0, 1.0)  # an AUC, or a difference of two


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rocket", description="Rocket Launching CTR model as a TFX pipeline."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the whole pipeline locally (Beam DirectRunner)")
    run.add_argument("--data", help="EasyRec CSV file or folder (default: generated sample)")
    run.add_argument(
        "--rows",
        type=_count(1),
        default=None,
        help="rows of the generated sample when --data is not given (50000)",
    )
    run.add_argument("--seed", type=int, default=0, help="seed of the generated sample")
    run.add_argument("--config", help="EasyRec text-format configuration (default: the seed's)")
    run.add_argument("--output", default="output", help="output folder (default: ./output)")
    run.add_argument(
        "--min-auc",
        type=_AUC,
        default=MIN_AUC,
        help=f"bless the light model only at this eval AUC or above ({MIN_AUC})",
    )
    run.add_argument(
        "--min-class-examples",
        type=_count(0),
        default=MIN_CLASS_EXAMPLES,
        help="bless only with at least N eval clicks and N eval non-clicks "
        f"({MIN_CLASS_EXAMPLES}; 0: no minimum)",
    )
    run.add_argument(
        "--max-bad-rows",
        type=_count(0),
        default=0,
        help="set up to N malformed rows aside in OUTPUT/bad_rows/ instead of failing (0)",
    )
    run.add_argument(
        "--max-auc-drop",
        type=_AUC,
        default=MAX_AUC_DROP,
        help="bless only if the light AUC is at most this far below the served "
        f"model's ({MAX_AUC_DROP}; a first run has no baseline)",
    )
    run.add_argument(
        "--eval-fraction",
        type=_FRACTION,
        default=EVAL_FRACTION,
        help=f"share of rows hashed into the eval split ({EVAL_FRACTION})",
    )
    run.add_argument("--train-steps", type=_count(1), help="training steps (default from config)")
    run.add_argument("--batch-size", type=_count(1), help="training batch size (default 512)")
    run.add_argument(
        "--runner",
        choices=("beam", "local"),
        default="beam",
        help="TFX orchestrator: BeamDagRunner (default) or LocalDagRunner",
    )
    run.add_argument(
        "--require-push",
        action="store_true",
        help="exit with code 3 when the model is not blessed and pushed",
    )
    run.add_argument("--no-cache", action="store_true", help="rerun every component")
    run.add_argument("--verbose", action="store_true", help="show TFX/Beam logs")
    _add_bench_parser(sub)
    _add_compile_parser(sub)
    _add_submit_parser(sub)
    _add_run_package_parser(sub)
    _add_convert_parser(sub)
    _add_gcs_parsers(sub)
    return parser


def _add_bench_parser(sub) -> None:
    bench = sub.add_parser(
        "bench",
        help="benchmark quality, light-net sweep, serving, training and pipeline time",
        description="Measures everything side by side in one run and writes "
        "DIR/benchmark.json, DIR/benchmark.md and PNG plots.",
    )
    bench.add_argument(
        "--quick", action="store_true", help="smaller run (about 10 minutes on 2 cores)"
    )
    bench.add_argument(
        "--data", help="EasyRec CSV file or folder for the quality part (default: generator)"
    )
    bench.add_argument(
        "--only",
        choices=("scale", "size"),
        help="run one part alone: scale = Transform (1 and 2 Beam workers) and Trainer with "
        "1,000,000 user ids and 500,000 ad ids (about 15 minutes); size = the default "
        "`rocket run` and one at 300,000 rows and 1,200 steps (about 15 minutes)",
    )
    bench.add_argument("--output", required=True, help="output folder")


def _add_gcs_parsers(sub) -> None:
    upload = sub.add_parser(
        "upload-data", help="copy EasyRec data files to a gs:// folder for `rocket compile`"
    )
    upload.add_argument("local", help="a data file or folder (as for `rocket run --data`)")
    upload.add_argument("destination", help="gs://bucket/folder")
    upload.add_argument("--project", help="Google Cloud project of the client")
    download = sub.add_parser(
        "download", help="copy a gs:// object or folder (pushed model, artifacts) locally"
    )
    download.add_argument("source", help="gs://bucket/path")
    download.add_argument("local", help="local folder")
    download.add_argument("--project", help="Google Cloud project of the client")


def _add_compile_parser(sub) -> None:
    compile_ = sub.add_parser(
        "compile",
        help="compile for Kubeflow Pipelines (KFP v2 YAML) or Vertex AI (PipelineJob JSON)",
        description="Needs no cloud credentials or network: nothing is written but --output.",
    )
    compile_.add_argument("--target", choices=("kubeflow", "vertex"), required=True)
    compile_.add_argument(
        "--output", required=True, help="package file: .yaml for kubeflow, .json for vertex"
    )
    compile_.add_argument(
        "--pipeline-root", required=True, help="artifact root, e.g. gs://bucket/rocket"
    )
    compile_.add_argument(
        "--data",
        required=True,
        help="data folder (runtime parameter data_root), e.g. gs://bucket/data; "
        "or one file / a glob in a folder",
    )
    compile_.add_argument(
        "--data-pattern", help="files of the --data folder to read (default *.csv)"
    )
    compile_.add_argument(
        "--image", required=True, help="container image built from infra/Dockerfile"
    )
    compile_.add_argument("--config", help="EasyRec text-format configuration")
    compile_.add_argument(
        "--serving-dir", help="where the Pusher pushes (default: <pipeline-root>/serving)"
    )
    compile_.add_argument(
        "--min-auc", type=_AUC, default=MIN_AUC, help=f"blessing threshold ({MIN_AUC})"
    )
    compile_.add_argument(
        "--min-class-examples",
        type=_count(0),
        default=MIN_CLASS_EXAMPLES,
        help=f"eval clicks and non-clicks needed to bless ({MIN_CLASS_EXAMPLES})",
    )
    compile_.add_argument(
        "--eval-fraction",
        type=_FRACTION,
        default=EVAL_FRACTION,
        help=f"eval split ({EVAL_FRACTION})",
    )
    compile_.add_argument(
        "--train-steps", type=_count(1), help="default of the train_args runtime parameter"
    )
    compile_.add_argument("--batch-size", type=_count(1), help="training batch size (default 512)")
    compile_.add_argument("--pipeline-name", help="KFP pipeline name (rocket-launching)")
    compile_.add_argument(
        "--no-cache", action="store_true", help="turn KFP's step cache off in the package"
    )
    compile_.add_argument(
        "--beam-runner", choices=("DirectRunner", "DataflowRunner"), default="DirectRunner"
    )
    compile_.add_argument(
        "--direct-running-mode",
        choices=("multi_processing", "multi_threading", "in_memory"),
        help="DirectRunner: Beam workers in processes (default, every core of the pod), "
        "threads, or in the step's own process (small data)",
    )
    compile_.add_argument("--dataflow-project")
    compile_.add_argument("--dataflow-region")
    compile_.add_argument("--dataflow-temp-location", help="gs:// staging/temp folder")
    compile_.add_argument("--dataflow-machine-type", help="e.g. n1-standard-4")
    compile_.add_argument("--dataflow-max-workers", type=int)
    compile_.add_argument(
        "--vertex-training",
        action="store_true",
        help="run the Trainer as a Vertex AI custom training job (TFX's Google Cloud "
        "extension Trainer); needs --project and --region",
    )
    compile_.add_argument(
        "--training-workers",
        type=int,
        help="--vertex-training: machines in the worker pool (1 chief + N-1 workers, "
        "MultiWorkerMirroredStrategy when N > 1; default 1)",
    )
    compile_.add_argument(
        "--training-machine-type",
        help=f"--vertex-training: machine type (default {DEFAULT_TRAINING_MACHINE_TYPE})",
    )
    compile_.add_argument("--project", help="--vertex-training: Google Cloud project of the job")
    compile_.add_argument("--region", help="--vertex-training: Vertex AI region of the job")


def _add_convert_parser(sub) -> None:
    convert = sub.add_parser(
        "convert-taobao",
        help="turn the public Taobao display-ad raw files into EasyRec-format rows (Beam)",
        description="Writes OUTPUT/train/part-*.csv and OUTPUT/eval/part-*.csv (no header, "
        "the 20 EasyRec Taobao columns). `rocket run --data OUTPUT` trains on train/ and "
        "evaluates on the later eval/. "
        "Arguments after `--` go to Beam, e.g. -- --runner=DataflowRunner --project=P ...",
    )
    convert.add_argument("--raw-sample", required=True, help="raw_sample.csv (path or glob)")
    convert.add_argument("--ad-feature", required=True, help="ad_feature.csv (path or glob)")
    convert.add_argument("--user-profile", required=True, help="user_profile.csv (path or glob)")
    convert.add_argument("--behavior-log", required=True, help="behavior_log.csv (path or glob)")
    convert.add_argument("--output", required=True, help="output folder (local or gs://)")
    convert.add_argument(
        "--history-days",
        type=float,
        default=7.0,
        help="tag lists: behaviour at most this many days before the impression (7)",
    )
    convert.add_argument(
        "--max-tags", type=int, default=50, help="tag lists: the most recent N events (50)"
    )
    convert.add_argument(
        "--eval-days",
        type=float,
        default=1.0,
        help="eval split: the impressions of the last N days of raw_sample (1)",
    )
    convert.add_argument(
        "--eval-start",
        type=int,
        help="eval split: impressions at or after this unix time (overrides --eval-days)",
    )
    convert.add_argument("beam_args", nargs="*", help="Beam pipeline options, after `--`")


def _add_submit_parser(sub) -> None:
    submit = sub.add_parser(
        "submit", help="send a compiled package to Kubeflow Pipelines or Vertex AI"
    )
    submit.add_argument("package", help="pipeline.yaml (Kubeflow) or pipeline.json (--vertex)")
    submit.add_argument("--host", help="Kubeflow Pipelines API URL, e.g. http://localhost:8080")
    submit.add_argument("--namespace", help="Kubeflow namespace (multi-user deployments)")
    submit.add_argument("--token", help="bearer token for the Kubeflow API")
    submit.add_argument("--experiment", default="rocket-launching", help="Kubeflow experiment")
    submit.add_argument("--run-name", help="run name (default: pipeline name + UTC time)")
    submit.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="runtime parameter (data_root, train_args; train_steps=N is a shorthand)",
    )
    submit.add_argument(
        "--pipeline-root",
        help="Kubeflow: the run's pipeline root (default: the package's defaultPipelineRoot, "
        "which the KFP backend itself never reads)",
    )
    submit.add_argument("--vertex", action="store_true", help="submit to Vertex AI Pipelines")
    submit.add_argument("--project", help="Google Cloud project (--vertex)")
    submit.add_argument("--region", help="Vertex AI region, e.g. us-central1 (--vertex)")
    submit.add_argument("--service-account", help="service account the run uses (--vertex)")


def _add_run_package_parser(sub) -> None:
    run_package = sub.add_parser(
        "run-package",
        help="execute a compiled package on this machine under its backend's rules",
        description="Runs every step of a compiled package as a local process, in "
        "dependency order, with the inputs that Kubeflow Pipelines or Vertex AI would hand "
        "it. gs:// paths are stood in for by ROOT/gcs/<bucket>/...",
    )
    run_package.add_argument("package", help="pipeline.yaml (kubeflow) or pipeline.json (vertex)")
    run_package.add_argument("--backend", choices=("kubeflow", "vertex"), required=True)
    run_package.add_argument(
        "--root", required=True, help="local folder for artifacts, metadata and run logs"
    )
    run_package.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE", help="runtime parameter"
    )
    run_package.add_argument(
        "--pipeline-root", help="the run's pipeline root (default: the package's)"
    )


def _load_config(args: argparse.Namespace):
    import rocket_config

    if args.config:
        from pipeline import easyrec_config

        config = easyrec_config.load(args.config)
    else:
        config = rocket_config.default_config()
    train = {}
    if args.train_steps is not None:
        train["train.train_steps"] = args.train_steps
    if args.batch_size is not None:
        train["train.batch_size"] = args.batch_size
    return rocket_config.with_changes(config, **train) if train else config


class RunLock:
    """One `rocket run` per output folder: a second one would corrupt the SQLite MLMD."""

    def __init__(self, output: Path):
        output.mkdir(parents=True, exist_ok=True)
        self.path = output / ".rocket-run.lock"
        self._handle = None

    def __enter__(self) -> RunLock:
        self._handle = self.path.open("w")
        try:
            fcntl.flock(self._handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._handle.close()
            raise RuntimeError(
                f"another `rocket run` is using {self.path.parent}; wait for it to finish "
                "or choose another --output"
            ) from None
        self._handle.write(str(os.getpid()))
        self._handle.flush()
        return self

    def __exit__(self, *exc_info) -> None:
        fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._handle.close()


def _print_summary(summary: dict) -> None:
    def fmt(value):
        return "n/a" if value is None else f"{value:.4f}"

    print("")
    print("Rocket Launching run")
    print(f"  light AUC (Evaluator, eval split): {fmt(summary['light_auc'])}")
    print(f"  booster AUC (Evaluator, eval split): {fmt(summary['booster_auc'])}")
    print(f"  light GAUC / booster GAUC: {fmt(summary['light_gauc'])} / "
          f"{fmt(summary['booster_gauc'])}")  # fmt: skip
    baseline = summary["baseline_light_auc"]
    baseline_text = "none (first run)" if baseline is None else fmt(baseline)
    print(f"  served light AUC (baseline): {baseline_text}")
    print(f"  rows: train {summary['train_rows']}, eval {summary['eval_rows']}")
    if summary.get("bad_rows"):
        print(f"  bad rows set aside: {summary['bad_rows']} (see bad_rows/)")
    print(f"  blessed: {summary['blessed']}")
    for reason in summary.get("not_blessed_reasons") or []:
        print(f"    - {reason}")
    print(f"  pushed: {summary['pushed_model_dir'] or 'nothing pushed'}")
    print(f"  report: {summary['report']}")
    print(f"  wall time: {summary['wall_seconds']:.1f}s")


def run_command(args: argparse.Namespace) -> int:
    started = time.time()
    output = Path(args.output).resolve()
    from pipeline import data_source, local_runner, run_summary, tfx_pipeline
    from pipeline.settings import PipelineSettings

    config = _load_config(args)
    with RunLock(output):
        source = data_source.resolve(
            args.data, output, args.rows or data_source.DEFAULT_ROWS, args.seed, allow_splits=True
        )
        print(f"[data] {len(source.files)} file(s) under {source.root} matching {source.pattern}")
        if source.splits:
            print(
                "[data] predefined splits "
                + ", ".join(f"{name}: {pattern}" for name, pattern in source.splits)
                + " (--eval-fraction is not used)"
            )
        settings = PipelineSettings(
            pipeline_root=str(output / "pipeline_root"),
            data_root=source.root,
            data_pattern=source.pattern,
            serving_dir=str(output / "serving"),
            config=config,
            min_auc=args.min_auc,
            min_class_examples=args.min_class_examples,
            max_auc_drop=args.max_auc_drop,
            max_bad_rows=args.max_bad_rows,
            eval_fraction=args.eval_fraction,
            data_splits=source.splits,
            metadata_path=str(output / "metadata.sqlite"),
            enable_cache=not args.no_cache,
            beam_pipeline_args=("--direct_running_mode=in_memory", "--direct_num_workers=1"),
        )
        if not args.verbose:
            local_runner.quiet_logs()
        progress = local_runner.run(
            tfx_pipeline.create_pipeline(settings), runner=args.runner, quiet=not args.verbose
        )
        summary = run_summary.summarize(settings.metadata_path)
        summary["bad_rows"] = run_summary.collect_bad_rows(summary, output / "bad_rows")
        summary["wall_seconds"] = round(time.time() - started, 1)
        summary["component_seconds"] = progress.seconds
        summary["reused_components"] = progress.reused
        summary["data"] = list(source.files)
        (output / run_summary.SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    _print_summary(summary)
    print(f"  summary: {output / run_summary.SUMMARY_FILE}")
    if args.require_push and not summary["pushed"]:
        return EXIT_NOT_BLESSED
    return EXIT_OK


def bench_command(args: argparse.Namespace) -> int:
    from pipeline import benchmark

    settings = benchmark.BenchSettings.quick() if args.quick else benchmark.BenchSettings.full()
    if args.only:
        if args.quick or args.data:
            raise BenchError(
                f"--only {args.only} runs its full-size part on data it generates: it takes "
                "neither --quick nor --data"
            )
        run_alone = {"scale": benchmark.run_scale_only, "size": benchmark.run_size_only}
        run_alone[args.only](
            Path(args.output).resolve(),
            settings,
            command=f"rocket bench --only {args.only} --output {args.output}",
        )
        return EXIT_OK
    command = "rocket bench" + (" --quick" if args.quick else "")
    command += (f" --data {args.data}" if args.data else "") + f" --output {args.output}"
    benchmark.run_bench(
        Path(args.output).resolve(),
        settings,
        data=args.data,
        real_sample=REAL_SAMPLE,
        command=command,
    )
    return EXIT_OK


def compile_command(args: argparse.Namespace) -> int:
    from pipeline import kubeflow_compiler as kc

    beam = kc.BeamOptions(
        runner=args.beam_runner,
        direct_running_mode=args.direct_running_mode,
        project=args.dataflow_project,
        region=args.dataflow_region,
        temp_location=args.dataflow_temp_location,
        machine_type=args.dataflow_machine_type,
        max_workers=args.dataflow_max_workers,
    )
    options = kc.CompileOptions(
        target=args.target,
        output=Path(args.output),
        pipeline_root=args.pipeline_root,
        data=args.data,
        image=args.image,
        config=_load_config(args),
        serving_dir=args.serving_dir,
        data_pattern=args.data_pattern,
        min_auc=args.min_auc,
        min_class_examples=args.min_class_examples,
        eval_fraction=args.eval_fraction,
        pipeline_name=args.pipeline_name or kc.PIPELINE_NAME,
        enable_cache=not args.no_cache,
        beam=beam,
        training=kc.VertexTraining(
            enabled=args.vertex_training,
            workers=args.training_workers,
            machine_type=args.training_machine_type,
            project=args.project,
            region=args.region,
        ),
    )
    compiled = kc.compile_pipeline(options)
    tasks = compiled.spec["root"]["dag"]["tasks"]
    print(f"[compile] {args.target} package: {compiled.path} ({len(tasks)} steps)")
    for name, default in compiled.parameters.items():
        print(f"  runtime parameter {name} = {default}")
    if args.vertex_training:
        pools = options.training.worker_pool_specs(args.image)
        replicas = sum(pool["replica_count"] for pool in pools)
        machine = pools[0]["machine_spec"]["machine_type"]
        print(
            f"  Trainer: Vertex AI custom job in {args.project}/{args.region}, "
            f"{replicas} x {machine}"
        )
    return EXIT_OK


def submit_command(args: argparse.Namespace) -> int:
    from pipeline import submit

    params = submit.parse_params(args.param)
    if args.vertex:
        for option in ("host", "namespace", "token", "pipeline_root"):
            if getattr(args, option):
                flag = "--" + option.replace("_", "-")
                raise submit.SubmitError(f"{flag}: only for Kubeflow (without --vertex)")
        submit.check_service_account(args.service_account)
        job = submit.build_vertex_job(
            args.package, args.project, args.region, params, run_name=args.run_name
        )
        run = submit.submit_vertex(job, args.service_account)
    else:
        for option in ("project", "region", "service_account"):
            if getattr(args, option):
                flag = "--" + option.replace("_", "-")
                raise submit.SubmitError(f"{flag}: only with --vertex")
        if not args.host:
            raise submit.SubmitError("--host: required to submit to Kubeflow Pipelines")
        run = submit.submit_kubeflow(
            args.package,
            args.host,
            params,
            experiment=args.experiment,
            run_name=args.run_name,
            namespace=args.namespace,
            token=args.token,
            pipeline_root=args.pipeline_root,
        )
    print(f"run id: {run.run_id}")
    print(f"run url: {run.url}")
    return EXIT_OK


def run_package_command(args: argparse.Namespace) -> int:
    from pipeline import package_runner, submit

    record = package_runner.PackageRunner(
        Path(args.package),
        args.backend,
        Path(args.root),
        submit.parse_params(args.param),
        pipeline_root=args.pipeline_root,
    ).run()
    print(f"[run-package] run {record.run_id}: record in {record.folder / 'run.json'}")
    for task in record.tasks:
        print(f"  {task.name:<28} {task.state:<10} {task.seconds:7.1f}s")
    for line in package_runner.verdict(record):
        print(line)
    return EXIT_OK if record.succeeded else EXIT_ERROR


def convert_taobao_command(args: argparse.Namespace) -> int:
    from pipeline import taobao_convert

    started = time.time()
    options = taobao_convert.ConvertOptions(
        raw_sample=args.raw_sample,
        ad_feature=args.ad_feature,
        user_profile=args.user_profile,
        behavior_log=args.behavior_log,
        output=args.output,
        history_days=args.history_days,
        max_tags=args.max_tags,
        eval_days=args.eval_days,
        eval_start=args.eval_start,
        beam_args=tuple(args.beam_args),
    )
    try:
        files = taobao_convert.prepare(options)
    except taobao_convert.TaobaoInputError as error:  # an option, a missing input, the output
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        result = taobao_convert.run(options, files)  # a bad row is an error (exit 1)
    except taobao_convert.TaobaoInputError as error:  # e.g. a raw sample with no rows
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR
    counts = result.counts
    print(
        f"[convert-taobao] {counts.get('train_rows', 0)} train rows -> "
        f"{args.output}/train/, {counts.get('eval_rows', 0)} eval rows -> {args.output}/eval/ "
        f"({time.time() - started:.1f}s)"
    )
    print(
        f"  impressions without a profile: {counts.get('impressions_without_profile', 0)}, "
        f"without an ad: {counts.get('impressions_without_ad', 0)}"
    )
    # The folder, not OUTPUT/train: `--data OUTPUT` keeps the time-ordered eval/ split.
    print(f"  train with: rocket run --data {args.output}")
    return EXIT_OK


def upload_data_command(args: argparse.Namespace) -> int:
    from pipeline import gcs

    uploaded = gcs.upload_data(args.local, args.destination, gcs.make_client(args.project))
    for uri in uploaded.uris:
        print(f"[upload] {uri}")
    print(f"compile with: --data {uploaded.data_option}")
    return EXIT_OK


def download_command(args: argparse.Namespace) -> int:
    from pipeline import gcs

    written = gcs.download(args.source, args.local, gcs.make_client(args.project))
    print(f"[download] {len(written)} file(s) from {args.source} into {args.local}")
    return EXIT_OK


def _error_message(error: BaseException) -> str:
    """The most useful line: our own input errors even when Beam wrapped them."""
    seen = error
    while seen is not None:
        text = str(seen)
        for words in ("bad input row at ", "bad input header at ", "bad input file "):
            marker = text.find(words)
            if marker >= 0:
                return text[marker:].splitlines()[0].strip(" '\"")
        seen = seen.__cause__ or seen.__context__
    return f"{type(error).__name__}: {error}"


def _main(argv: list[str] | None) -> int:
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return EXIT_OK if exit_.code in (0, None) else EXIT_USAGE
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        if args.command == "run":
            return run_command(args)
        if args.command == "bench":
            return bench_command(args)
        if args.command == "compile":
            return compile_command(args)
        if args.command == "submit":
            return submit_command(args)
        if args.command == "run-package":
            return run_package_command(args)
        if args.command == "upload-data":
            return upload_data_command(args)
        if args.command == "download":
            return download_command(args)
        if args.command == "convert-taobao":
            return convert_taobao_command(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_ERROR
    except PackageRunError as error:  # refused under the backend's rules
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except (CompileError, SubmitError, GcsError, BenchError) as error:  # bad option/file/path
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as error:  # noqa: BLE001 - the CLI reports every failure the same way
        if getattr(args, "verbose", False):
            traceback.print_exc()
        print(f"error: {_error_message(error)}", file=sys.stderr)
        return EXIT_ERROR
    parser.error(f"unknown command {args.command}")
    return EXIT_USAGE


def main(argv: list[str] | None = None) -> None:
    code = _main(argv)
    sys.stdout.flush()
    sys.stderr.flush()
    # TFX/Beam have been seen to finish their work and then crash at interpreter exit
    # (SIGSEGV, code 139). Everything is written and flushed: leave without teardown so
    # the exit code is the run's.
    os._exit(code)


if __name__ == "__main__":
    main()
