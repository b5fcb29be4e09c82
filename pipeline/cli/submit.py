"""`rocket submit`: send a compiled package to Kubeflow Pipelines or Vertex AI."""

from __future__ import annotations

import argparse

from pipeline.cli.common import EXIT_OK


def add_parser(sub) -> None:
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
    submit.set_defaults(handler=command)


def command(args: argparse.Namespace) -> int:
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
