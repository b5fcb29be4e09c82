"""`rocket compile`: the KFP v2 package for Kubeflow Pipelines or Vertex AI."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.backends import BACKENDS
from pipeline.cli.common import EXIT_OK, add_pipeline_options, load_config, pipeline_option_values
from pipeline.kubeflow_compiler import (
    BEAM_ENVIRONMENTS,
    BEAM_RUNNERS,
    DEFAULT_TRAINING_MACHINE_TYPE,
    DIRECT_RUNNER,
    MINIO_ENDPOINT,
)


def add_parser(sub) -> None:
    compile_ = sub.add_parser(
        "compile",
        help="compile for Kubeflow Pipelines (KFP v2 YAML) or Vertex AI (PipelineJob JSON)",
        description="Needs no cloud credentials or network: nothing is written but --output. "
        "The gate, input and training options are rocket run's, fixed in the package.",
    )
    compile_.add_argument("--target", choices=BACKENDS, required=True)
    compile_.add_argument(
        "--output", required=True, help="package file: .yaml for kubeflow, .json for vertex"
    )
    compile_.add_argument(
        "--pipeline-root",
        required=True,
        help="artifact root, e.g. gs://bucket/rocket; kubeflow also takes a stock cluster's "
        "MinIO (minio://mlpipeline/v2/artifacts) or s3://bucket/path",
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
        "--object-store-endpoint",
        help="s3:// / minio:// data or serving folder: the S3 endpoint the steps use "
        f"(default for minio:// {MINIO_ENDPOINT}; for s3:// AWS)",
    )
    compile_.add_argument(
        "--object-store-secret",
        help="Kubernetes secret whose keys accesskey/secretkey the steps get as AWS "
        "credentials (default for minio:// mlpipeline-minio-artifact; for s3:// none: "
        "the pod's own identity, e.g. IRSA)",
    )
    add_pipeline_options(compile_, compiled=True)
    compile_.add_argument("--pipeline-name", help="KFP pipeline name (rocket-launching)")
    compile_.add_argument(
        "--no-cache", action="store_true", help="turn KFP's step cache off in the package"
    )
    compile_.add_argument("--beam-runner", choices=BEAM_RUNNERS, default=DIRECT_RUNNER)
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
        "--beam-job-endpoint",
        metavar="HOST:PORT",
        help="PortableRunner, FlinkRunner, SparkRunner: the cluster's Beam job server",
    )
    compile_.add_argument(
        "--beam-environment",
        help="PortableRunner, FlinkRunner, SparkRunner: where the SDK workers run, "
        f"{', '.join(BEAM_ENVIRONMENTS)} (default DOCKER with --image)",
    )
    compile_.add_argument(
        "--flink-master",
        metavar="HOST:PORT",
        help="FlinkRunner: the Flink JobManager (default: the job server's own)",
    )
    compile_.add_argument(
        "--spark-master-url",
        metavar="spark://HOST:PORT",
        help="SparkRunner: the Spark master (default: the job server's own)",
    )
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
    compile_.set_defaults(handler=command)


def command(args: argparse.Namespace) -> int:
    from pipeline import kubeflow_compiler as kc

    beam = kc.BeamOptions(
        runner=args.beam_runner,
        direct_running_mode=args.direct_running_mode,
        project=args.dataflow_project,
        region=args.dataflow_region,
        temp_location=args.dataflow_temp_location,
        machine_type=args.dataflow_machine_type,
        max_workers=args.dataflow_max_workers,
        job_endpoint=args.beam_job_endpoint,
        environment=args.beam_environment,
        flink_master=args.flink_master,
        spark_master_url=args.spark_master_url,
    )
    options = kc.CompileOptions(
        target=args.target,
        output=Path(args.output),
        pipeline_root=args.pipeline_root,
        data=args.data,
        image=args.image,
        config=load_config(args),
        serving_dir=args.serving_dir,
        data_pattern=args.data_pattern,
        pipeline_name=args.pipeline_name or kc.PIPELINE_NAME,
        enable_cache=not args.no_cache,
        beam=beam,
        object_store=kc.ObjectStoreAccess(
            endpoint=args.object_store_endpoint, secret=args.object_store_secret
        ),
        training=kc.VertexTraining(
            enabled=args.vertex_training,
            workers=args.training_workers,
            machine_type=args.training_machine_type,
            project=args.project,
            region=args.region,
        ),
        **pipeline_option_values(args),
    )
    compiled = kc.compile_pipeline(options)
    tasks = compiled.spec["root"]["dag"]["tasks"]
    print(f"[compile] {args.target} package: {compiled.path} ({len(tasks)} steps)")
    for name, default in compiled.parameters.items():
        print(f"  runtime parameter {name} = {default}")
    if args.beam_runner in kc.PORTABLE_RUNNERS:
        workers = args.beam_environment or f"DOCKER:{args.image}"
        print(
            f"  Beam steps: {args.beam_runner} through the job server {args.beam_job_endpoint}, "
            f"SDK workers {workers}"
        )
    if args.vertex_training:
        pools = options.training.worker_pool_specs(args.image)
        replicas = sum(pool["replica_count"] for pool in pools)
        machine = pools[0]["machine_spec"]["machine_type"]
        print(
            f"  Trainer: Vertex AI custom job in {args.project}/{args.region}, "
            f"{replicas} x {machine}"
        )
    return EXIT_OK
