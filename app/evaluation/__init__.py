"""Evaluation against ground truth: datasets, the run over them, scoring, summaries, multi-view trials.

Data flows one way through the modules: :mod:`.types` (the configuration, jobs and samples) and
:mod:`.scoring` are leaves; :mod:`.truth` scores a finished run against a camera's 3D truth; :mod:`.multiview`
runs the pipeline on a calibrated trial; :mod:`.datasets` is the registry of datasets; :mod:`.runners` runs
jobs; :mod:`.run` evaluates a sequence and a whole dataset; :mod:`.summary` aggregates and formats.
"""

from .datasets import DATASETS, Dataset, dataset, list_sequences
from .run import compare_on_windows, evaluate_sample, evaluate_sequence, read_results, run_evaluation
from .runners import RayRunner, SequentialRunner, failed_record
from .scoring import plausibility, score
from .summary import KINDS, METRICS, PHYSICS_EXTRAS, PUBLISHED_H36M, compare_optimizers, format_comparison, summarize
from .types import EvalConfig, Sample, SequenceSpec, sequence_seed

__all__ = [
    "DATASETS",
    "KINDS",
    "METRICS",
    "PHYSICS_EXTRAS",
    "PUBLISHED_H36M",
    "Dataset",
    "EvalConfig",
    "RayRunner",
    "Sample",
    "SequenceSpec",
    "SequentialRunner",
    "compare_on_windows",
    "compare_optimizers",
    "dataset",
    "evaluate_sample",
    "evaluate_sequence",
    "failed_record",
    "format_comparison",
    "list_sequences",
    "plausibility",
    "read_results",
    "run_evaluation",
    "score",
    "sequence_seed",
    "summarize",
]
