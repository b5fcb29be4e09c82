"""The orchestrators a package is compiled for (`rocket compile --target`) and run under
(`rocket run-package --backend`). TensorFlow-free, so the CLI imports it cheaply."""

KUBEFLOW, VERTEX = "kubeflow", "vertex"
BACKENDS = (KUBEFLOW, VERTEX)
