"""Shared test setup: Keras 2 for TFT/TFMA, quiet TensorFlow, the real sample the
package ships; the suite budget's bookkeeping (tests/suite_budget.py): which tests are
heavy, the heaviest modules first on the xdist workers, and each module's seconds."""

import gzip
import os
import shutil
from collections import Counter, defaultdict
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402
import suite_budget  # noqa: E402

import pipeline  # noqa: E402,F401  (warning filters)
from pipeline.settings import REAL_SAMPLE  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# What the whole collection held, before `-m`/`-k` deselect: (modules, heavy tests per
# module). tests/test_suite_budget.py compares it with the budget.
COLLECTED = pytest.StashKey[tuple[set[str], Counter]]()


def module_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def is_heavy(item: pytest.Item) -> bool:
    return any(item.get_closest_marker(name) for name in suite_budget.HEAVY_MARKERS)


@pytest.hookimpl(tryfirst=True)  # before the mark plugin deselects
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    modules = {module_of(item.nodeid) for item in items}
    heavy = Counter(module_of(item.nodeid) for item in items if is_heavy(item))
    config.stash[COLLECTED] = (modules, heavy)
    if hasattr(config, "workerinput"):
        # An xdist worker (every worker collects alike): the heaviest modules first, so
        # `--dist loadfile --no-loadscope-reorder` hands them out before the short ones
        # and the workers end together. A heavy module not in the budget yet goes first.
        # The sort is stable: each module's tests stay together and in their order.
        def rank(item: pytest.Item) -> tuple[int, float]:
            module = module_of(item.nodeid)
            if module in suite_budget.MODULES:
                return (1, -suite_budget.MODULES[module].seconds)
            return (0, 0.0) if module in heavy else (2, 0.0)

        items.sort(key=rank)


_MODULE_SECONDS: defaultdict[str, float] = defaultdict(float)  # this process's reports
_HEAVY_MODULES: set[str] = set()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # Under xdist the controller is handed every worker's reports here as well.
    _MODULE_SECONDS[module_of(report.nodeid)] += report.duration
    if any(name in report.keywords for name in suite_budget.HEAVY_MARKERS):
        _HEAVY_MODULES.add(module_of(report.nodeid))


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    """After a run that held budgeted modules: their seconds against the budget's, so a
    module that outgrew its line shows in every `make test` log (a printout, not a
    test: timings on a shared machine are too noisy to fail on)."""
    budgeted = suite_budget.MODULES
    # The modules whose slow or multiworker tests ran (not their fast tests alone).
    measured = {m: _MODULE_SECONDS[m] for m in budgeted if m in _HEAVY_MODULES}
    unbudgeted = sorted(_HEAVY_MODULES - set(budgeted))
    if hasattr(config, "workerinput") or not (measured or unbudgeted):
        return
    write = terminalreporter.write_line
    terminalreporter.section("suite budget (tests/suite_budget.py)")
    write("seconds of all its tests (setup + call + teardown): measured / budgeted")
    for module, budget in sorted(suite_budget.MODULES.items(), key=lambda m: -m[1].seconds):
        if module in measured:
            over = "  (over its budget)" if measured[module] > budget.seconds else ""
            write(f"  {module:<40} {measured[module]:6.0f} / {budget.seconds}{over}")
    for module in unbudgeted:
        write(f"  {module:<40} {_MODULE_SECONDS[module]:6.0f}  (not in the budget yet)")
    other = sum(s for m, s in _MODULE_SECONDS.items() if m not in budgeted and m not in unbudgeted)
    if set(budgeted) <= _HEAVY_MODULES:  # the whole suite ran: the rest compares too
        write(f"  {'every other module':<40} {other:6.0f} / {suite_budget.OTHER_SECONDS}")
    write(
        f"planned wall time {suite_budget.planned_wall_seconds():.0f} s of "
        f"{suite_budget.WALL_SECONDS} s on {suite_budget.WORKERS} workers"
    )


@pytest.fixture(scope="session")
def taobao_sample(tmp_path_factory) -> Path:
    """The shipped real sample, uncompressed, alone in a folder of its own."""
    path = tmp_path_factory.mktemp("taobao_sample") / "taobao_sample.csv"
    with gzip.open(REAL_SAMPLE, "rb") as source, path.open("wb") as target:
        shutil.copyfileobj(source, target)
    return path


def local_pipeline_nodes(tmp_path: Path, config=None) -> dict:
    """{node id: node} of create_pipeline with `rocket run`'s kind of settings (module_file,
    local folders under tmp_path), for `config` or the seed's."""
    import rocket_seed

    from pipeline import tfx_pipeline
    from pipeline.settings import PipelineSettings

    settings = PipelineSettings(
        pipeline_root=str(tmp_path / "root"),
        data_root=str(tmp_path / "data"),
        data_pattern="*.csv",
        serving_dir=str(tmp_path / "serving"),
        config=config or rocket_seed.default_config(),
    )
    return {node.id: node for node in tfx_pipeline.create_pipeline(settings).components}


@pytest.fixture(scope="module")
def s3_endpoint():
    """A real S3 protocol server on loopback (moto's server mode, in this process) for the
    s3:// / minio:// tests; yields its URL. Any credentials are accepted."""
    import socket

    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_env(s3_endpoint, monkeypatch):
    """This process's boto3 pointed at the loopback S3 (as a pod's environment would be)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "minio")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "minio123")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return s3_endpoint
