"""The bench's one TFT runner: the project's preprocessing_fn with the default config's
raw schema (rocket_preprocessing.raw_feature_spec), analysed on Beam's DirectRunner, as
TFX's Transform runs it. The quality part analyses in-memory examples with one worker;
the scale part's worker reads TFRecord files with several and also writes the
transformed examples."""

from __future__ import annotations

import functools
import shutil
import time
from pathlib import Path


def run_tft(
    config,
    examples: list[bytes] | str,
    transform_fn_dir: Path,
    temp_dir: Path,
    beam_args: list[str],
    transformed_prefix: Path | None = None,
) -> float:
    """TFT analysis of `examples` (serialized tf.Examples in memory, or a TFRecord file
    pattern), the transform graph written to `transform_fn_dir` with the raw schema
    beside it (as TFX's Transform writes it: the export's serving spec comes from it).
    With `transformed_prefix`, the examples are read again, transformed and written as
    gzipped transformed tf.Examples (statistics disabled, as in the project's pipeline).
    Returns the seconds of the Beam pipeline."""
    import apache_beam as beam
    import rocket_preprocessing
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils
    from tfx_bsl.coders import example_coder
    from tfx_bsl.public import tfxio

    schema = schema_utils.schema_from_feature_spec(rocket_preprocessing.raw_feature_spec(config))
    telemetry = ["rocket_bench"]
    if isinstance(examples, str):
        source = tfxio.TFExampleRecord(
            file_pattern=examples, schema=schema, telemetry_descriptors=telemetry
        )

        def read(p, label):
            return p | label >> source.BeamSource()
    else:
        source = tfxio.TFExampleBeamRecord(
            physical_format="inmem", telemetry_descriptors=telemetry, schema=schema
        )

        def read(p, label):
            return p | label >> beam.Create(examples) | f"{label}Decode" >> source.BeamSource()

    fn = functools.partial(
        rocket_preprocessing.preprocessing_fn,
        custom_config={rocket_preprocessing.CONFIG_KEY: config.to_json()},
    )
    shutil.rmtree(transform_fn_dir, ignore_errors=True)
    options = beam.options.pipeline_options.PipelineOptions(beam_args)

    class Encode(beam.DoFn):
        def __init__(self, transformed_schema):
            self.schema = transformed_schema

        def setup(self):
            self.encoder = example_coder.RecordBatchToExamplesEncoder(self.schema)

        def process(self, element):
            record_batch, _ = element
            yield from self.encoder.encode(record_batch)

    started = time.time()
    with tft_beam.Context(temp_dir=str(temp_dir), force_tf_compat_v1=False):
        with beam.Pipeline(options=options) as p:
            analyze = read(p, "ReadAnalyze")
            transform_fn = (analyze, source.TensorAdapterConfig()) | tft_beam.AnalyzeDataset(fn)
            _ = transform_fn | tft_beam.WriteTransformFn(str(transform_fn_dir))
            if transformed_prefix is not None:
                again = read(p, "ReadTransform")
                transformed, _ = (
                    (again, source.TensorAdapterConfig()),
                    transform_fn,
                ) | tft_beam.TransformDataset(output_record_batches=True)
                _ = (
                    transformed
                    | "Encode" >> beam.ParDo(Encode(transform_fn[1].schema))
                    | "Write"
                    >> beam.io.WriteToTFRecord(str(transformed_prefix), file_name_suffix=".gz")
                )
    seconds = time.time() - started
    metadata_io.write_metadata(
        dataset_metadata.DatasetMetadata(schema),
        str(transform_fn_dir / tft.TFTransformOutput.RAW_METADATA_DIR),
    )
    return seconds


class ExampleFiles:
    """What the Trainer's fn_args.data_accessor does for tf.Example files: a tfxio
    TFExampleRecord's TensorFlowDataset with the given (transformed) schema."""

    @staticmethod
    def tf_dataset_factory(file_pattern, options, schema):
        from tfx_bsl.public import tfxio

        record = tfxio.TFExampleRecord(
            file_pattern=file_pattern, schema=schema, telemetry_descriptors=["rocket_bench"]
        )
        return record.TensorFlowDataset(options)
