"""Evaluation: Tatoeba bitext retrieval, STS (STS17, stsb_multi_mt), held-out MSE/translation accuracy."""

from training.evaluation.runner import ALL_TASKS, default_eval_dir, evaluate_encoder

__all__ = ["ALL_TASKS", "default_eval_dir", "evaluate_encoder"]
