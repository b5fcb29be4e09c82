"""`rocket run-package`: execute a compiled package on this machine under the rules of the
backend it is meant for, so the exact file a user will submit is tested first.

A test bench for packages, not an orchestrator. Each step runs its compiled command and
arguments as a local process (this environment's Python standing in for the image's), in
dependency order, with an ExecutorInput built the way the chosen backend builds it:

kubeflow (open-source Kubeflow Pipelines 2.x; files under kubeflow/pipelines backend/src/v2):
- executors other than container and importer are refused with the backend's own
  message (compiler/visitor.go);
- the pipeline root is the run's (what `rocket submit` passes), else the package's
  defaultPipelineRoot, checked as objectstore/config.go checks it;
- only `parameterValues` are filled (driver/resolve.go), component defaults added as the
  launcher adds them for `{{$}}` (component/launcher_v2.go, addDefaultParams);
- upstream artifacts carry their MLMD id as `name`, their uri and metadata, and an EMPTY
  `instanceSchema` (metadata/client.go, GetOutputArtifactsByExecutionId); metadata goes
  through MLMD's conversion (metadata/converter.go: booleans become 1/0, lists and dicts
  come back wrapped, `display_name` is added);
- outputs get `<root>/<pipeline>/<run id>/<task>/<uuid>/<key>` URIs with the declared
  type, plus the `executor-logs` output of type `system.Artifact` (driver/driver.go,
  provisionOutputs); the ExecutorOutput file sits in the task's root; a missing one means
  no output metadata (launcher_v2.go, getExecutorOutputFile);
- lifecycle hooks are never called; a step whose `triggerPolicy.condition` is false is
  skipped and the steps below it are not run (Argo's Omitted);
- a task with `cachingOptions.enableCache` whose cache key (driver/cache.go
  getFingerPrint: input parameter values, input artifact names, output specs without
  URIs, command, arguments, image) matches a succeeded execution of an earlier run of the
  same pipeline under the same root is not run: its outputs are reused (state `cached`).
  The compiled ExampleGen has no cache (kubeflow_compiler), so on KFP only what does not
  read the examples (SchemaGen) is reused by a rerun.

vertex (Vertex AI Pipelines, closed source: the rules TFX's own container code expects,
tfx/orchestration/kubeflow/v2/container and file_based_example_gen/driver.py):
- artifact types are kept; the file-based ExampleGen driver (`lifecycle.preCacheCheck`)
  runs before the step, writing the ExecutorOutput file the step then reads;
- the root is the PipelineJob's runtimeConfig.gcsOutputDirectory;
- the cache key as KFP's, computed after the lifecycle hook: the file-based ExampleGen's
  fingerprint of its input files is in it, so a rerun on the same files reuses ExampleGen
  and what only reads its examples (Vertex AI's documented cache key).

What it cannot show: the image itself (the steps import this checkout), the real
driver and launcher (artifact upload/download, retries, pod specs), object-store
behaviour (gs:// is stood in for by the folder `ROOT/gcs/<bucket>/...`: every gs:// path a
step receives is rewritten to it, the package is not), the cache's server (one JSON file),
Dataflow, quotas and IAM.

The modules: `backend_rules` (what each backend checks, refuses and converts: pure
functions), `records` (what a run leaves: task and run records, the artifact store, the
verdict), `runner` (PackageRunner: runs the steps as local processes).
"""
