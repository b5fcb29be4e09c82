"""No TFX sdist for Beam runners that stage nothing.

A TFX Beam component given any beam_pipeline_args but none naming its dependencies
(extra_packages, setup_file, requirements_file, sdk_container_image) builds an sdist of
TFX itself for the workers (tfx/utils/dependency_utils.py, called by
BaseBeamExecutor.__init__): 6.6 s and 49 MB here, in a temporary directory it never
deletes, once per Beam component of every run. Beam's DirectRunner, in memory or in
local processes, stages no packages, so the sdist is never read: a test suite of pipeline
runs filled a CI machine's disk with them. Remote runners keep TFX's behaviour (ours name
the image: kubeflow_compiler.BeamOptions).
"""

from __future__ import annotations

import functools

# The names Beam's create_runner accepts for its direct runners (lower case, without a
# module path).
DIRECT_RUNNERS = frozenset(
    {"direct", "directrunner", "bundlebaseddirectrunner", "switchingdirectrunner"}
)


def stages_packages(beam_pipeline_args: list[str]) -> bool:
    """Whether the runner these args choose ships packages to its workers (Beam's default
    runner, when none is named, is the DirectRunner)."""
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

    runner = PipelineOptions(flags=list(beam_pipeline_args)).view_as(StandardOptions).runner
    if runner is None:
        return False
    name = runner if isinstance(runner, str) else type(runner).__name__
    return name.rsplit(".", 1)[-1].lower() not in DIRECT_RUNNERS


def skip_tfx_sdist_on_direct_runner() -> None:
    """Make TFX add its sdist to beam_pipeline_args only for runners that stage packages.
    Idempotent; call before the pipeline's Beam components start."""
    from tfx.utils import dependency_utils

    original = dependency_utils.make_beam_dependency_flags
    if getattr(original, "skips_direct_runner", False):
        return

    @functools.wraps(original)
    def make_beam_dependency_flags(beam_pipeline_args: list[str]) -> list[str]:
        if not stages_packages(beam_pipeline_args):
            return beam_pipeline_args
        return original(beam_pipeline_args)

    make_beam_dependency_flags.skips_direct_runner = True
    dependency_utils.make_beam_dependency_flags = make_beam_dependency_flags
