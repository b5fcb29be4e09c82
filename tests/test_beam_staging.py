"""TFX builds no sdist of itself for a Beam component on the DirectRunner
(pipeline/beam_staging.py), and still does for runners that stage packages."""

import pytest
from tfx.dsl.components.base.base_beam_executor import BaseBeamExecutor
from tfx.utils import dependency_utils

from pipeline import beam_staging


class BeamExecutor(BaseBeamExecutor):
    def Do(self, input_dict, output_dict, exec_properties):  # noqa: N802 (TFX's name)
        raise AssertionError("not run")


@pytest.mark.parametrize(
    ("args", "stages"),
    [
        ([], False),
        (["--direct_running_mode=in_memory", "--direct_num_workers=1"], False),
        (["--runner=DirectRunner", "--direct_running_mode=multi_processing"], False),
        (["--runner=direct"], False),
        (["--runner=apache_beam.runners.direct.direct_runner.BundleBasedDirectRunner"], False),
        (["--runner=FlinkRunner", "--job_endpoint=localhost:8099"], True),
        (["--runner=DataflowRunner", "--project=p"], True),
    ],
)
def test_which_runners_stage_packages(args, stages):
    assert beam_staging.stages_packages(args) is stages


@pytest.fixture
def tfx_sdist_calls(monkeypatch):
    """TFX's make_beam_dependency_flags replaced by a recorder (no 49 MB sdist is built),
    then wrapped as the pipeline runs wrap it."""
    calls = []

    def tfx_original(args):
        calls.append(list(args))
        return [*args, "--extra_package=/tmp/tfx_ephemeral.tar.gz"]

    monkeypatch.setattr(dependency_utils, "make_beam_dependency_flags", tfx_original)
    beam_staging.skip_tfx_sdist_on_direct_runner()
    beam_staging.skip_tfx_sdist_on_direct_runner()  # idempotent: wrapped once
    return calls


def test_a_beam_executor_on_the_direct_runner_gets_no_tfx_sdist(tfx_sdist_calls):
    args = ["--direct_running_mode=multi_processing", "--direct_num_workers=0"]
    executor = BeamExecutor(BeamExecutor.Context(beam_pipeline_args=args))
    assert not any(a.startswith("--extra_package") for a in executor._beam_pipeline_args)
    assert tfx_sdist_calls == []


def test_a_beam_executor_on_a_remote_runner_still_gets_it(tfx_sdist_calls):
    args = ["--runner=FlinkRunner", "--job_endpoint=localhost:8099"]
    executor = BeamExecutor(BeamExecutor.Context(beam_pipeline_args=args))
    assert "--extra_package=/tmp/tfx_ephemeral.tar.gz" in executor._beam_pipeline_args
    assert tfx_sdist_calls == [args]
