"""`rocket upload-data` / `rocket download` against a GCS emulator on loopback (the real
google-cloud-storage client, talking HTTP to gcp-storage-emulator)."""

from __future__ import annotations

import socket
import time

import pytest

from pipeline import cli, gcs

gcp_storage_emulator = pytest.importorskip("gcp_storage_emulator.server")
BUCKET = "acme-ml"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def emulator(monkeypatch):
    port = _free_port()
    server = gcp_storage_emulator.create_server("127.0.0.1", port, in_memory=True)
    server.start()
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{port}")
    client = gcs.make_client(project="acme")
    client.create_bucket(BUCKET)
    try:
        yield client
    finally:
        server.stop()


def blob_texts(client, prefix: str) -> dict[str, str]:
    return {b.name: b.download_as_text() for b in client.list_blobs(BUCKET, prefix=prefix)}


def test_upload_a_folder_sends_its_csv_files_only(emulator, tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    (data / "part-0.csv").write_text("1,0,a\n")
    (data / "part-1.csv").write_text("0,0,b\n")
    (data / "README.md").write_text("not data")
    code = cli._main(["upload-data", str(data), f"gs://{BUCKET}/data/day1/"])
    out, err = capsys.readouterr()
    assert code == cli.EXIT_OK, err
    assert blob_texts(emulator, "data/") == {
        "data/day1/part-0.csv": "1,0,a\n",
        "data/day1/part-1.csv": "0,0,b\n",
    }
    assert f"compile with: --data gs://{BUCKET}/data/day1\n" in out


def test_upload_one_file_and_a_folder_without_csv(emulator, tmp_path):
    single = tmp_path / "taobao_sample.txt"
    single.write_text("1,0,x\n")
    uploaded = gcs.upload_data(str(single), f"gs://{BUCKET}/one", emulator)
    assert uploaded.uris == (f"gs://{BUCKET}/one/taobao_sample.txt",)
    assert uploaded.data_option == f"gs://{BUCKET}/one/taobao_sample.txt"
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "part-00000").write_text("0,1,y\n")
    uploaded = gcs.upload_data(str(folder), f"gs://{BUCKET}/plain", emulator)
    assert uploaded.data_option == f"gs://{BUCKET}/plain --data-pattern '*'"
    assert blob_texts(emulator, "plain/") == {"plain/part-00000": "0,1,y\n"}
    odd = tmp_path / "clicks"  # no data suffix: compile would take the path for a folder
    odd.write_text("1,1,z\n")
    uploaded = gcs.upload_data(str(odd), f"gs://{BUCKET}/odd", emulator)
    assert uploaded.data_option == f"gs://{BUCKET}/odd --data-pattern 'clicks'"


def test_upload_errors_name_the_path(emulator, tmp_path, capsys):
    data = tmp_path / "d.csv"
    data.write_text("1\n")
    cases = [
        (["upload-data", str(data), "file:///x/y"], "not a gs://bucket/path URI"),
        (["upload-data", str(data), f"gs://{BUCKET}"], "give a folder in the bucket"),
        (["upload-data", str(tmp_path / "nope"), f"gs://{BUCKET}/d"], "no such file"),
        (["upload-data", str(data), "gs://no-such-bucket/d"], "gs://no-such-bucket: no such"),
    ]
    for argv, message in cases:
        assert cli._main(argv) == cli.EXIT_USAGE, argv
        assert message in capsys.readouterr().err
    assert blob_texts(emulator, "") == {}


def test_download_a_pushed_model_keeps_the_tree(emulator, tmp_path, capsys):
    bucket = emulator.bucket(BUCKET)
    pushed = {
        "rocket/serving/1764288000/saved_model.pb": "graph",
        "rocket/serving/1764288000/variables/variables.index": "index",
        "rocket/serving/1764288000/assets.extra/tf_serving_warmup_requests": "warm",
        "rocket/serving-other/unrelated.txt": "not under the prefix",
    }
    for name, text in pushed.items():
        bucket.blob(name).upload_from_string(text)
    target = tmp_path / "model"
    code = cli._main(["download", f"gs://{BUCKET}/rocket/serving", str(target)])
    out, err = capsys.readouterr()
    assert code == cli.EXIT_OK, err
    files = {str(p.relative_to(target)): p.read_text() for p in target.rglob("*") if p.is_file()}
    assert files == {
        "1764288000/saved_model.pb": "graph",
        "1764288000/variables/variables.index": "index",
        "1764288000/assets.extra/tf_serving_warmup_requests": "warm",
    }
    assert "3 file(s)" in out
    # One object by its full name.
    single = gcs.download(
        f"gs://{BUCKET}/rocket/serving/1764288000/saved_model.pb", tmp_path / "one", emulator
    )
    assert [p.read_text() for p in single] == ["graph"]
    assert single[0] == tmp_path / "one" / "saved_model.pb"


def test_an_object_and_a_folder_of_one_name_are_refused_before_writing(emulator, tmp_path, capsys):
    """Before: a raw FileExistsError after some files were already written."""
    bucket = emulator.bucket(BUCKET)
    for name in ("n/a.txt", "n/b", "n/b/c.txt"):
        bucket.blob(name).upload_from_string(name)
    code = cli._main(["download", f"gs://{BUCKET}/n", str(tmp_path / "out")])
    assert code == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert f"gs://{BUCKET}/n/b and gs://{BUCKET}/n/b/c.txt cannot both be downloaded" in err
    assert not (tmp_path / "out").exists()  # nothing written, not even n/a.txt


def test_download_of_nothing_is_an_error(emulator, tmp_path, capsys):
    assert cli._main(["download", f"gs://{BUCKET}/missing", str(tmp_path)]) == cli.EXIT_USAGE
    assert f"gs://{BUCKET}/missing: no object there" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_local_paths_are_not_gcs_uris():
    with pytest.raises(gcs.GcsError, match="not a gs://"):
        gcs.parse_uri("/tmp/x", "download source")
    assert gcs.parse_uri("gs://acme-ml/a/b/", "x") == ("acme-ml", "a/b")
