"""`rocket upload-data` and `rocket download`: data to gs://, artifacts back."""

from __future__ import annotations

import argparse

from pipeline.cli.common import EXIT_OK


def add_parser(sub) -> None:
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
    upload.set_defaults(handler=upload_data_command)
    download.set_defaults(handler=download_command)


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
