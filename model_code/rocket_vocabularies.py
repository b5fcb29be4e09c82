"""Every vocabulary of preprocessing_fn in one TFT analyzer: one Beam pass for all of them.

Each `tft.vocabulary` call is its own chain of Beam stages (count, filter, sort, write),
and on 2 cores each chain cost about 4 s of Transform whatever the row count: the
default run's 16 vocabularies took 74 s of TFT analysis of 40,000 rows, the same
features hashed (no vocabulary) 9 s, one vocabulary 12.5 s (pipeline.bench.transform,
2026-12-03). `tft.experimental.ptransform_analyzer` runs one Beam PTransform over all
the features' tokens instead: one count per (feature, token), one group per feature,
one file per feature.

Each file has what `tft.vocabulary(top_k=, frequency_threshold=)` writes (tests compare
the two): the tokens seen at least `frequency_threshold` times, at most `top_k` of them,
by decreasing count and then decreasing bytes, one per line; no empty token and none
with a line break (a text file cannot hold them: they get OOV ids); an empty vocabulary
gets TFT's one dummy entry (a lookup table cannot be built from an empty file). The
files are TFT assets registered under `vocabulary_name(feature)`, so
`TFTransformOutput.vocabulary_file_by_name` and `vocabulary_size_by_name` find them and
`tft.apply_vocabulary` reads them as it reads its own. A feature's counts are gathered
in one place to be sorted and written (its file is one file, as TFT's is): for id spaces
of tens of millions, hash_bucket_size is the better choice (docs/scaling.md).
"""

from __future__ import annotations

import collections
import os

import apache_beam as beam
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam

# What TFT writes into a vocabulary with no token (tft.analyzers'
# get_empy_vocabulary_dummy_value), and into the placeholder file it reads before the
# analysis has run (analyzer_nodes.VocabularyOrderAndWrite).
EMPTY_VOCABULARY_ENTRY = b"49d0cd50-04bb-48c0-bc6f-5b575dce351a"
PLACEHOLDER_CONTENT = b"TEMPORARY_ASSET_VALUE"


def valid_token(token: bytes) -> bool:
    """A token a text vocabulary can hold (as tft.vocabulary's text format decides)."""
    return bool(token) and b"\n" not in token and b"\r" not in token


def ordered_vocabulary(
    counts: dict[bytes, int], frequency_threshold: int | None, top_k: int | None
) -> list[bytes]:
    """tft.vocabulary's contents from token counts."""
    kept = [(n, t) for t, n in counts.items() if valid_token(t)]
    if frequency_threshold:
        kept = [(n, t) for n, t in kept if n >= frequency_threshold]
    kept.sort(reverse=True)  # decreasing count, then decreasing bytes
    if top_k is not None:
        kept = kept[:top_k]
    return [token for _, token in kept] or [EMPTY_VOCABULARY_ENTRY]


class CountVocabularies(tft_beam.experimental.PTransformAnalyzer):
    """Batches of (tokens of feature 0, tokens of feature 1, ...) -> one PCollection per
    feature holding the path of its vocabulary file."""

    def __init__(self, filenames: tuple[str, ...], settings: tuple[tuple, ...]):
        super().__init__()
        self.filenames = filenames  # each feature's file name
        self.settings = settings  # each feature's (frequency_threshold, top_k)

    def expand(self, batches):
        folder = self.base_temp_dir  # TFT's, unique to this analyzer in this run
        filenames, settings = self.filenames, self.settings

        def batch_counts(batch):
            for index, tokens in enumerate(batch):
                counted = collections.Counter(tokens.tolist())
                for token, count in counted.items():
                    yield (index, token), count

        def write(index_and_counts) -> tuple[int, str]:
            index, token_counts = index_and_counts
            threshold, top_k = settings[index]
            tokens = ordered_vocabulary(dict(token_counts), threshold, top_k)
            return index, _write(folder, filenames[index], tokens)

        def every_path(written: list[tuple[int, str]]) -> list[str]:
            paths = dict(written)
            for index, name in enumerate(filenames):  # no token at all: TFT's dummy entry
                if index not in paths:
                    paths[index] = _write(folder, name, [EMPTY_VOCABULARY_ENTRY])
            return [paths[index] for index in range(len(filenames))]

        paths = (
            batches
            | "CountInEachBatch" >> beam.FlatMap(batch_counts)
            | "SumCounts" >> beam.CombinePerKey(sum)
            | "KeyByFeature" >> beam.MapTuple(lambda key, count: (key[0], (key[1], count)))
            | "GroupByFeature" >> beam.GroupByKey()
            | "WriteEach" >> beam.Map(write)
            | "Gather" >> beam.combiners.ToList()
            | "EveryFeature" >> beam.Map(every_path)
        )
        return tuple(
            paths | f"PathOf{index}" >> beam.Map(lambda all_paths, i=index: all_paths[i])
            for index in range(len(filenames))
        )


def _write(folder: str, filename: str, tokens: list[bytes]) -> str:
    tf.io.gfile.makedirs(folder)
    path = os.path.join(folder, filename)
    with tf.io.gfile.GFile(path, "wb") as handle:
        handle.write(b"".join(token + b"\n" for token in tokens))
    return path


def vocabularies(
    tokens: dict[str, tf.Tensor], settings: dict[str, tuple[int | None, int | None]],
    filenames: dict[str, str],
) -> dict[str, tf.Tensor]:  # fmt: skip
    """{feature: its vocabulary file (a deferred asset path for tft.apply_vocabulary)}
    from each feature's 1-D string tokens, its (frequency_threshold, top_k) and the
    file name its vocabulary is registered under."""
    names = sorted(tokens)
    if not names:
        return {}
    paths = tft.experimental.ptransform_analyzer(
        inputs=[tokens[name] for name in names],
        ptransform=CountVocabularies(
            tuple(filenames[name] for name in names), tuple(settings[name] for name in names)
        ),
        output_dtypes=[tf.string] * len(names),
        output_shapes=[[]] * len(names),
        output_asset_default_values=[PLACEHOLDER_CONTENT] * len(names),
        name="vocabularies",
    )
    for name in names:
        tft.annotate_asset(filenames[name], filenames[name])
    return dict(zip(names, paths, strict=True))
