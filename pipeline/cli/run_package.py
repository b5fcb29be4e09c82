"""`rocket run-package`: execute a compiled package here under its backend's rules."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.backends import BACKENDS
from pipeline.cli.common import EXIT_ERROR, EXIT_OK


def add_parser(sub) -> None:
    run_package = sub.add_parser(
        "run-package",
        help="execute a compiled package on this machine under its backend's rules",
        description="Runs every step of a compiled package as a local process, in "
        "dependency order, with the inputs that Kubeflow Pipelines or Vertex AI would hand "
        "it. gs:// paths are stood in for by ROOT/gcs/<bucket>/...; s3:// and minio:// "
        "paths go to the S3 endpoint given (--object-store-endpoint), with the launcher's "
        "download and upload around each step.",
    )
    run_package.add_argument("package", help="pipeline.yaml (kubeflow) or pipeline.json (vertex)")
    run_package.add_argument("--backend", choices=BACKENDS, required=True)
    run_package.add_argument(
        "--root", required=True, help="local folder for artifacts, metadata and run logs"
    )
    run_package.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE", help="runtime parameter"
    )
    run_package.add_argument(
        "--pipeline-root", help="the run's pipeline root (default: the package's)"
    )
    run_package.add_argument(
        "--object-store-endpoint",
        metavar="URL",
        help="S3 endpoint standing in for the cluster's MinIO/S3 (the launcher's and the "
        "steps'), e.g. http://127.0.0.1:9000",
    )
    run_package.add_argument(
        "--secret",
        action="append",
        default=[],
        metavar="NAME:KEY=VALUE",
        help="a key of a Kubernetes secret the package reads (secretAsEnv), e.g. "
        "mlpipeline-minio-artifact:accesskey=minio",
    )
    run_package.add_argument(
        "--no-cache",
        action="store_true",
        help="run every step: reuse no execution of an earlier run under --root and record "
        "none (the backend's run-level caching switch)",
    )
    run_package.set_defaults(handler=command)


def command(args: argparse.Namespace) -> int:
    from pipeline import submit
    from pipeline.package_run.launcher import parse_secrets
    from pipeline.package_run.records import verdict
    from pipeline.package_run.runner import PackageRunner

    record = PackageRunner(
        Path(args.package),
        args.backend,
        Path(args.root),
        submit.parse_params(args.param),
        pipeline_root=args.pipeline_root,
        object_store_endpoint=args.object_store_endpoint,
        secrets=parse_secrets(args.secret),
        cache=not args.no_cache,
    ).run()
    print(f"[run-package] run {record.run_id}: record in {record.folder / 'run.json'}")
    for task in record.tasks:
        print(f"  {task.name:<28} {task.state:<10} {task.seconds:7.1f}s")
    for line in verdict(record):
        print(line)
    return EXIT_OK if record.succeeded else EXIT_ERROR
