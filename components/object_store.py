"""S3-compatible object stores (MinIO, AWS S3): the `s3://` and `minio://` paths of a
self-hosted Kubeflow, for what TFX's and Beam's file I/O cannot open.

Why boto3: TensorFlow has no S3 file system of its own, tensorflow-io 0.37.1 (the latest)
aborts under TF 2.16 ("pure virtual method called", tensorflow/io#2039), and `minio://`
is a scheme of Kubeflow Pipelines only. KFP's launcher moves the *artifacts* between the
object store and the step's pod (pipeline/container_entrypoint.py); this module, shared
by the components and the CLI, moves what is not an artifact: the raw data (`--data`),
the serving folder (`--serving-dir`), and `rocket upload-data` / `download`.

`minio://bucket/key` and `s3://bucket/key` name the same object on the configured
endpoint, as in KFP (backend/src/v2/objectstore/config.go). Endpoint and credentials come
from the environment by boto3's own chain, never from a package: AWS_ENDPOINT_URL (a
MinIO service), AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (a compiled package fills them
from the cluster's secret), or the pod's IAM role (IRSA) on AWS.

Folders follow the launcher's rules (objectstore/object_store.go, UploadBlob and
DownloadBlob): a folder is the objects under `prefix/`, an object whose key is the prefix
itself is a file, empty files are objects, empty folders do not exist.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath

SCHEMES = ("s3://", "minio://")
_URI = re.compile(r"(s3|minio)://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(.*))?")
ENDPOINT_ENV = "AWS_ENDPOINT_URL"  # the endpoint boto3 (and make_client) reads
# A stock Kubeflow's MinIO credentials (keys accesskey / secretkey): the secret KFP's
# launcher reads (backend/src/v2/objectstore/config.go) and compiled steps get.
MINIO_SECRET = "mlpipeline-minio-artifact"
# KFP's launcher (backend/src/v2/component/launcher_v2.go, LocalPathForURI): where an
# artifact at such a URI sits in the step's pod.
LAUNCHER_MOUNTS = {"minio://": "minio", "s3://": "s3"}


class ObjectStoreError(ValueError):
    """An s3:// / minio:// path cannot be used or reached; the message names it (the CLI
    reports it as a usage error, exit 2)."""


def is_object_store_uri(uri: str | None) -> bool:
    return bool(uri) and str(uri).startswith(SCHEMES)


def parse_uri(uri: str, what: str = "path") -> tuple[str, str]:
    """s3://bucket/some/key -> ("bucket", "some/key")."""
    match = _URI.fullmatch(uri.strip())
    if not match:
        raise ObjectStoreError(
            f"{what} {uri}: not an s3://BUCKET/PATH or minio://BUCKET/PATH URI (a bucket "
            "name is 3-63 lowercase letters, digits, '.' and '-')"
        )
    return match.group(2), (match.group(3) or "").strip("/")


def launcher_local_path(uri: str, mount_root: str = "/") -> str:
    """The pod-local path KFP's launcher gives an artifact at `uri` (LocalPathForURI:
    minio://b/k -> /minio/b/k, s3://b/k -> /s3/b/k), under `mount_root`."""
    for scheme, mount in LAUNCHER_MOUNTS.items():
        if uri.startswith(scheme):
            return os.path.join(mount_root, mount, uri[len(scheme) :])
    raise ObjectStoreError(f"{uri}: not an s3:// or minio:// URI")


def remote_uri_for_local(path: str, mount_root: str = "/") -> str | None:
    """The inverse of launcher_local_path, or None for a path outside the mounts."""
    for scheme, mount in LAUNCHER_MOUNTS.items():
        base = os.path.join(mount_root, mount) + "/"
        if path.startswith(base):
            return scheme + path[len(base) :]
    return None


def make_client(endpoint: str | None = None, credentials: dict | None = None):
    """A boto3 S3 client: endpoint and credentials from the environment (AWS_ENDPOINT_URL,
    AWS_ACCESS_KEY_ID, ...) unless given. Path-style addressing with a custom endpoint:
    MinIO serves buckets as paths unless its domain is configured."""
    import boto3
    from botocore.config import Config

    endpoint = endpoint or os.environ.get(f"{ENDPOINT_ENV}_S3") or os.environ.get(ENDPOINT_ENV)
    style = "path" if endpoint else "auto"
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        config=Config(s3={"addressing_style": style}, retries={"mode": "standard"}),
        **(credentials or {}),
    )


def _call(what: str, uri: str, function, *args, **kwargs):
    """Runs a boto3 call; a missing bucket, denied access or an unreachable endpoint
    becomes an ObjectStoreError naming the URI."""
    from botocore import exceptions

    try:
        return function(*args, **kwargs)
    except exceptions.ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchBucket", "404") and what != "head":
            raise ObjectStoreError(f"{uri}: no such bucket (or no access)") from None
        if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            raise ObjectStoreError(
                f"{uri}: access denied ({code}); check the credentials"
            ) from None
        raise
    except (exceptions.EndpointConnectionError, exceptions.NoCredentialsError) as error:
        raise ObjectStoreError(f"{uri}: {error}") from None


def list_keys(uri: str, client=None) -> list[str]:
    """Keys of the object `uri` and of every object under `uri/`."""
    bucket, prefix = parse_uri(uri)
    client = client or make_client()
    keys = []
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    for page in _call("list", uri, lambda: list(pages)):
        for item in page.get("Contents", []):
            key = item["Key"]
            if not prefix or key == prefix or key.startswith(prefix + "/"):
                keys.append(key)
    return keys


def list_folders(uri: str, client=None) -> list[str]:
    """Names of the 'folders' directly under `uri/` (common prefixes)."""
    bucket, prefix = parse_uri(uri)
    client = client or make_client()
    start = prefix + "/" if prefix else ""
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=start, Delimiter="/"
    )
    names = []
    for page in _call("list", uri, lambda: list(pages)):
        for common in page.get("CommonPrefixes", []):
            names.append(common["Prefix"][len(start) :].rstrip("/"))
    return names


def exists(uri: str, client=None) -> bool:
    from botocore import exceptions

    bucket, key = parse_uri(uri)
    client = client or make_client()
    try:
        _call("head", uri, client.head_object, Bucket=bucket, Key=key)
    except exceptions.ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True


def _relative(key: str, prefix: str, uri: str) -> PurePosixPath:
    relative = PurePosixPath(PurePosixPath(key).name if key == prefix else key[len(prefix) :])
    relative = PurePosixPath(str(relative).lstrip("/"))
    if ".." in relative.parts or relative.is_absolute():
        raise ObjectStoreError(f"{uri}: unsafe object name {key!r}")
    return relative


def download(uri: str, local: str | Path, client=None, keys: Iterable[str] | None = None):
    """Copies the object `uri`, or every object under `uri/`, into the folder `local`,
    keeping paths relative to the prefix. Returns the local files written."""
    bucket, prefix = parse_uri(uri)
    client = client or make_client()
    keys = list(list_keys(uri, client) if keys is None else keys)
    local = Path(local)
    written = []
    for key in keys:
        if key.endswith("/"):  # folder placeholder objects some tools create
            continue
        target = local / _relative(key, prefix, uri)
        if target.is_dir():
            raise ObjectStoreError(f"{target} is a folder where s3://{bucket}/{key} is a file")
        target.parent.mkdir(parents=True, exist_ok=True)
        _call("get", uri, client.download_file, bucket, key, str(target))
        written.append(target)
    return written


def _local_files(local: Path) -> Iterator[tuple[Path, str]]:
    if local.is_file():
        yield local, ""
        return
    for path in sorted(local.rglob("*")):
        if path.is_file():
            yield path, path.relative_to(local).as_posix()


def upload(local: str | Path, uri: str, client=None, last: Iterable[str] = ()) -> list[str]:
    """Copies the file `local`, or every file under the folder `local`, to `uri` (a key,
    or `uri/<relative path>`); files whose relative path is in `last` go last. Returns
    the keys written."""
    bucket, prefix = parse_uri(uri)
    local = Path(local)
    if not local.exists():
        raise ObjectStoreError(f"{local}: no such file or folder to upload")
    client = client or make_client()
    last = set(last)
    files = sorted(_local_files(local), key=lambda item: item[1] in last)
    keys = []
    for path, relative in files:
        key = f"{prefix}/{relative}".strip("/") if relative else prefix
        _call("put", uri, client.upload_file, str(path), bucket, key)
        keys.append(key)
    return keys


def copy_folder(source: str, destination: str, client=None, last: Iterable[str] = ()) -> None:
    """Server-side copy of every object under `source/` to `destination/` (same bucket
    or not); objects whose relative path is in `last` go last."""
    source_bucket, source_prefix = parse_uri(source)
    bucket, prefix = parse_uri(destination)
    client = client or make_client()
    last = set(last)
    relatives = [k[len(source_prefix) + 1 :] for k in list_keys(source, client)]
    for relative in sorted(relatives, key=lambda r: r in last):
        _call(
            "copy",
            destination,
            client.copy_object,
            Bucket=bucket,
            Key=f"{prefix}/{relative}",
            CopySource={"Bucket": source_bucket, "Key": f"{source_prefix}/{relative}"},
        )


def delete_folder(uri: str, client=None) -> None:
    """Deletes every object under `uri/` (and `uri` itself)."""
    bucket, _ = parse_uri(uri)
    client = client or make_client()
    keys = list_keys(uri, client)
    for start in range(0, len(keys), 1000):  # DeleteObjects takes up to 1000 keys
        batch = [{"Key": key} for key in keys[start : start + 1000]]
        _call("delete", uri, client.delete_objects, Bucket=bucket, Delete={"Objects": batch})
