"""`rocket upload-data` and `rocket download`: data to gs://, s3:// or minio://, results
back. s3:// / minio:// take the endpoint and credentials from the environment
(AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, or an AWS profile)."""

from __future__ import annotations

import argparse

from components.object_store import is_object_store_uri
from pipeline.cli.common import EXIT_OK


def add_parser(sub) -> None:
    upload = sub.add_parser(
        "upload-data",
        help="copy EasyRec data files to a gs://, s3:// or minio:// folder for `rocket compile`",
    )
    upload.add_argument("local", help="a data file or folder (as for `rocket run --data`)")
    upload.add_argument("destination", help="gs://bucket/folder (or s3://, minio://)")
    upload.add_argument("--project", help="Google Cloud project of the client")
    download = sub.add_parser(
        "download",
        help="copy a gs://, s3:// or minio:// object or folder (pushed model, artifacts) locally",
    )
    download.add_argument("source", help="gs://bucket/path (or s3://, minio://)")
    download.add_argument("local", help="local folder")
    download.add_argument("--project", help="Google Cloud project of the client")
    upload.set_defaults(handler=upload_data_command)
    download.set_defaults(handler=download_command)


def upload_data_command(args: argparse.Namespace) -> int:
    from pipeline import gcs

    client = None if is_object_store_uri(args.destination) else gcs.make_client(args.project)
    uploaded = gcs.upload_data(args.local, args.destination, client)
    for uri in uploaded.uris:
        print(f"[upload] {uri}")
    print(f"compile with: --data {uploaded.data_option}")
    return EXIT_OK


def download_command(args: argparse.Namespace) -> int:
    from pipeline import gcs

    client = None if is_object_store_uri(args.source) else gcs.make_client(args.project)
    written = gcs.download(args.source, args.local, client)
    print(f"[download] {len(written)} file(s) from {args.source} into {args.local}")
    return EXIT_OK
