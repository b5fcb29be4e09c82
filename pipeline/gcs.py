"""Object-store staging for compiled runs: put the data in, get results out. gs:// goes
through google-cloud-storage; s3:// and minio:// (a self-hosted Kubeflow's MinIO, AWS)
through boto3 (components/object_store.py, endpoint and credentials from the environment).

`upload_data` copies the same files `rocket run --data` would read (a file, a folder's
*.csv, or all of its data files) into a gs:// folder, which is then `rocket compile
--data`. `download` copies everything under a gs:// prefix (a pushed model, a run's
artifacts) to a local folder, keeping the relative paths.

The client uses Application Default Credentials. When STORAGE_EMULATOR_HOST is set,
google-cloud-storage talks to that emulator anonymously, as the tests do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from components import object_store
from pipeline import data_source
from pipeline.errors import UsageError

_GCS_URI = re.compile(r"gs://([a-z0-9][a-z0-9._-]{1,220}[a-z0-9])(?:/(.*))?")


class GcsError(UsageError):
    """A gs:// path or a local path cannot be used; the message names it."""


@dataclass(frozen=True)
class Uploaded:
    uris: tuple[str, ...]
    data_option: str  # what to give `rocket compile --data`


def parse_uri(uri: str, what: str) -> tuple[str, str]:
    """gs://bucket/some/prefix -> ("bucket", "some/prefix")."""
    match = _GCS_URI.fullmatch(uri.strip())
    if not match:
        raise GcsError(f"{what} {uri}: not a gs://bucket/path URI")
    return match.group(1), (match.group(2) or "").strip("/")


def make_client(project: str | None = None):
    from google.cloud import storage

    return storage.Client(project=project)


def _not_found(error: Exception) -> bool:
    from google.api_core import exceptions

    return isinstance(error, exceptions.NotFound)


def upload_data(local: str, destination: str, client=None) -> Uploaded:
    """Uploads the data files of `local` into the gs://, s3:// or minio:// folder
    `destination`."""
    s3 = object_store.is_object_store_uri(destination)
    scheme = destination.split("://", 1)[0] if s3 else "gs"
    bucket_name, prefix = (object_store.parse_uri if s3 else parse_uri)(
        destination, "upload-data destination"
    )
    if not prefix:
        raise GcsError(
            f"upload-data destination {destination}: give a folder in the bucket, "
            f"e.g. {scheme}://{bucket_name}/data"
        )
    try:
        source = data_source.resolve(local, Path("."))
    except data_source.InputError as error:
        raise GcsError(str(error).replace("--data", "upload-data source", 1)) from None
    if s3:
        uris = []
        for file in source.files:
            uri = f"{scheme}://{bucket_name}/{prefix}/{Path(file).name}"
            object_store.upload(file, uri, client)
            uris.append(uri)
        return Uploaded(tuple(uris), _data_option(f"{scheme}://{bucket_name}/{prefix}", source))
    client = client or make_client()
    bucket = client.bucket(bucket_name)
    uris = []
    for file in source.files:
        name = f"{prefix}/{Path(file).name}"
        try:
            bucket.blob(name).upload_from_filename(file)
        except Exception as error:
            if _not_found(error):
                raise GcsError(f"gs://{bucket_name}: no such bucket (or no access)") from None
            raise
        uris.append(f"gs://{bucket_name}/{name}")
    return Uploaded(tuple(uris), _data_option(f"gs://{bucket_name}/{prefix}", source))


def _data_option(folder: str, source: data_source.DataSource) -> str:
    """The `rocket compile --data` value that reads exactly the uploaded files."""
    from pipeline.kubeflow_compiler import split_data_path

    if source.pattern == "*.csv":
        return folder
    candidate = f"{folder}/{source.pattern}"
    if source.pattern != "*" and split_data_path(candidate) == (folder, source.pattern):
        return candidate  # a file name compile recognises as a file
    return f"{folder} --data-pattern '{source.pattern}'"


def download(source: str, local: str | Path, client=None) -> list[Path]:
    """Copies the object `source`, or every object under the prefix `source`, into
    `local`, keeping paths relative to the prefix."""
    if object_store.is_object_store_uri(source):
        keys = object_store.list_keys(source, client)
        if not keys:
            raise GcsError(f"download source {source}: no object there")
        return object_store.download(source, local, client, keys=keys)
    bucket_name, prefix = parse_uri(source, "download source")
    client = client or make_client()
    local = Path(local)
    try:
        blobs = [
            b
            for b in client.list_blobs(bucket_name, prefix=prefix or None)
            if b.name == prefix or not prefix or b.name.startswith(prefix + "/")
        ]
    except Exception as error:
        if _not_found(error):
            raise GcsError(f"gs://{bucket_name}: no such bucket (or no access)") from None
        raise
    planned: dict[Path, str] = {}  # local file -> object name; checked before any write
    for blob in blobs:
        if blob.name.endswith("/"):  # folder placeholder objects
            continue
        relative = PurePosixPath(blob.name).name if blob.name == prefix else blob.name
        if prefix and blob.name != prefix:
            relative = blob.name[len(prefix) + 1 :]
        parts = PurePosixPath(relative).parts
        if ".." in parts or PurePosixPath(relative).is_absolute():
            raise GcsError(f"gs://{bucket_name}/{blob.name}: unsafe object name")
        planned[local.joinpath(*parts)] = blob.name
    if not planned:
        raise GcsError(f"download source {source}: no object there")
    _check_no_file_folder_clash(planned, bucket_name, local)
    by_name = {blob.name: blob for blob in blobs}
    for target, name in planned.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        by_name[name].download_to_filename(str(target))
    return list(planned)


def _check_no_file_folder_clash(planned: dict[Path, str], bucket: str, local: Path) -> None:
    """Object stores allow both `a/b` and `a/b/c`; a file system cannot hold a file and a
    folder of one name. Refused before anything is written, naming both."""
    for target, name in planned.items():
        if target.is_dir():
            raise GcsError(f"{target} is a folder where gs://{bucket}/{name} would be a file")
        for parent in (p for p in target.parents if local in p.parents):  # below `local`
            if parent in planned:
                raise GcsError(
                    f"gs://{bucket}/{planned[parent]} and gs://{bucket}/{name} cannot both be "
                    "downloaded: one would be a file and a folder of the same local name"
                )
            if parent.is_file():
                raise GcsError(f"{parent} is a file where gs://{bucket}/{name} needs a folder")
