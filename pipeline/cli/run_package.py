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
        "it. gs:// paths are stood in for by ROOT/gcs/<bucket>/...",
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
    run_package.set_defaults(handler=command)


def command(args: argparse.Namespace) -> int:
    from pipeline import submit
    from pipeline.package_run.records import verdict
    from pipeline.package_run.runner import PackageRunner

    record = PackageRunner(
        Path(args.package),
        args.backend,
        Path(args.root),
        submit.parse_params(args.param),
        pipeline_root=args.pipeline_root,
    ).run()
    print(f"[run-package] run {record.run_id}: record in {record.folder / 'run.json'}")
    for task in record.tasks:
        print(f"  {task.name:<28} {task.state:<10} {task.seconds:7.1f}s")
    for line in verdict(record):
        print(line)
    return EXIT_OK if record.succeeded else EXIT_ERROR
