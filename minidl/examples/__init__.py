"""Runnable examples that reproduce the classic programs: ``python -m minidl.examples NAME``.

Each example is a module with a ``main(argv)`` function that prints its progress and final metrics.
"""

from __future__ import annotations

import importlib

EXAMPLES: dict[str, str] = {
    "mnist_cnn": "The Keras MNIST CNN (Conv 32 3x3, MaxPool, Dense 128, Dense 10; Adam): test accuracy after 2 epochs",
    "lenet": "LeNet (Conv 6@5x5, pool, Conv 16@5x5, pool, 120, 84, 10; SGD momentum) on Fashion-MNIST at 32x32",
    "char_lstm": "A character-level LSTM language model on Shakespeare",
    "char_gpt": "A character-level GPT on Shakespeare",
    "regression": "Dense regression on scikit-learn's diabetes data beside closed-form least squares",
    "transfer": "Transfer learning: a pretrained CNN backbone, frozen, with a new sigmoid head",
    "mnist1d": "The MNIST-1D results table (logistic regression, MLP, CNN, GRU) beside the paper's",
    "compress": "The MNIST CNN made smaller: pruning, int8 static/dynamic quantization and QAT, measured",
}


def run(name: str, argv: list[str] | None = None) -> object:
    """Run example ``name`` with command-line arguments ``argv``."""
    if name not in EXAMPLES:
        raise SystemExit(f"unknown example {name!r}; choose one of: {', '.join(EXAMPLES)}")
    module = importlib.import_module(f"minidl.examples.{name}")
    return module.main(argv or [])
