"""SavedModels that serve raw tf.Examples: the light net (Format-Serving) and the booster.

A `ServingModule` holds the TFT layer and one NetPath only, so the light export has no
booster variable in it. `serving_default` takes serialized tf.Examples without a label
and returns the click probability; a missing feature is an empty id list (zero
embedding) and an unseen id falls into an OOV bucket, so neither is rejected.
"""

from __future__ import annotations

import rocket_model
import tensorflow as tf
import tensorflow_transform as tft

SIGNATURE_INPUT = "examples"
PROBABILITIES = "probabilities"
LOGITS = "logits"


class ServingModule(tf.Module):
    def __init__(
        self, path: rocket_model.NetPath, tft_output: tft.TFTransformOutput, label_field: str
    ):
        super().__init__(name=f"{path.name}_serving")
        self.path = path
        self.tft_layer = tft_output.transform_features_layer()
        self._raw_spec = {
            name: spec
            for name, spec in tft_output.raw_feature_spec().items()
            if name != label_field
        }

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=SIGNATURE_INPUT)])
    def serve(self, examples: tf.Tensor) -> dict:
        raw = tf.io.parse_example(examples, self._raw_spec)
        transformed = self.tft_layer(raw)
        logits = self.path.logits(transformed)
        probabilities = rocket_model.probabilities_from_logits(logits, self.path.num_class)
        return {PROBABILITIES: probabilities, LOGITS: logits}


def export_net(
    path: rocket_model.NetPath, tft_output: tft.TFTransformOutput, label_field: str, export_dir: str
) -> None:
    module = ServingModule(path, tft_output, label_field)
    tf.saved_model.save(
        module, export_dir, signatures={"serving_default": module.serve.get_concrete_function()}
    )
