"""model_code/rocket_module.py as the module_file of STOCK TFX components in a pipeline we
did not write: CsvExampleGen on a CSV with a header (numeric ids typed INT64, empty
cells missing), SchemaGen with inferred shapes, Transform and Trainer, no custom_config."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
from tfx import v1 as tfx

from pipeline import sample_data
from pipeline.settings import MODULE_FILE

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def foreign_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("foreign")
    data = root / "data"
    data.mkdir()
    rows = sample_data.generate_rows(2000, seed=5)
    (data / "clicks.csv").write_text(",".join(sample_data.COLUMNS) + "\n" + "\n".join(rows))

    example_gen = tfx.components.CsvExampleGen(input_base=str(data))
    statistics = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema = tfx.components.SchemaGen(statistics=statistics.outputs["statistics"])
    transform = tfx.components.Transform(
        examples=example_gen.outputs["examples"],
        schema=schema.outputs["schema"],
        module_file=MODULE_FILE,
    )
    trainer = tfx.components.Trainer(
        module_file=MODULE_FILE,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        train_args=tfx.proto.TrainArgs(num_steps=20),
        eval_args=tfx.proto.EvalArgs(num_steps=2),
    )
    pipeline = tfx.dsl.Pipeline(
        pipeline_name="foreign",
        pipeline_root=str(root / "pipeline_root"),
        components=[example_gen, statistics, schema, transform, trainer],
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            str(root / "metadata.sqlite")
        ),
    )
    tfx.orchestration.LocalDagRunner().run(pipeline)
    serving = list((root / "pipeline_root" / "Trainer" / "model").glob("*/Format-Serving"))
    assert len(serving) == 1
    graphs = list((root / "pipeline_root" / "Transform" / "transform_graph").glob("*"))
    raw_spec = tft.TFTransformOutput(str(graphs[0])).raw_feature_spec()
    return serving[0], rows, raw_spec


def test_foreign_pipeline_model_serves_its_rows(foreign_run):
    serving_dir, rows, raw_spec = foreign_run
    # CsvExampleGen chose the types (it even reads pid "430548_1007" as the integer
    # 4305481007, as Python's int() does); the served examples follow its schema.
    model = tf.saved_model.load(str(serving_dir))
    examples = []
    for row in rows[:100]:
        example = tf.train.Example()
        for name, cell in zip(sample_data.COLUMNS, row.split(",")):
            if name == "clk" or cell == "":
                continue
            feature = example.features.feature[name]
            if raw_spec[name].dtype == tf.int64:
                feature.int64_list.value.append(int(cell))
            else:
                feature.bytes_list.value.append(cell.encode())
        examples.append(example.SerializeToString())
    only_user = tf.train.Example()
    only_user.features.feature["user_id"].int64_list.value.append(987654321)  # unseen
    examples.append(only_user.SerializeToString())
    out = model.signatures["serving_default"](examples=tf.constant(examples))
    probabilities = out["probabilities"].numpy()
    assert probabilities.shape == (101,)
    assert np.all(np.isfinite(probabilities)) and np.all((probabilities > 0) & (probabilities < 1))
    assert out["logits"].shape == (101, 2)
    assert (serving_dir / "assets.extra" / "tf_serving_warmup_requests").exists()
