"""`rocket bench`: the accuracy / latency trade-off Rocket Launching is adopted for,
measured side by side in one process.

Why one process and side by side: the machine is shared, so absolute numbers drift with
the neighbours' load. Every comparison here is a ratio of numbers measured in the same
run, interleaved round by round (serving, training), on the same data and the same
batches. The TFX pipeline is run only for the `pipeline` part; the model parts run TFT's
analysis once per dataset in-process (tft_beam, DirectRunner) and reuse the
TFTransformOutput and the transformed data for every model variant.

Output: DIR/benchmark.json (top-level keys exactly quality, sweep, serving, training,
pipeline, and scale when the settings have a scale part: full mode), DIR/quality_vs_latency.png,
DIR/latency_vs_batch.png, DIR/benchmark.md. The scale part (pipeline.bench.scale) runs
last, in subprocesses of its own; `rocket bench --only scale` runs it alone.

Modules, each importing only those above it:

- settings: BenchSettings, ScaleSettings, BenchError, the file names and variant names
- transform: the one TFT runner (analysis, and optionally the transformed examples)
- data: BenchData, reading, splitting and analysing the datasets
- targets: every part's targets, met or missed
- quality: the variants over the seeds, gap_closed, the quality block
- timing, serving, training: the serving and training-time parts
- pipeline_runs: the `rocket run` parts (pipeline, pipeline_at_size)
- scale_data, scale: the large-id-space part's rows, and its parent side;
  scale_worker is its child process (`python -m pipeline.bench.scale_worker`), never
  imported by the parent
- plots, report: benchmark.json, benchmark.md and the PNG plots
- runner: run_bench and the `--only` runs
"""
