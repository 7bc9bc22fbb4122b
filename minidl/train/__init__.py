"""``minidl.train``: the fit loop, metrics, callbacks, progress display and resumable checkpoints.

>>> from minidl.train import fit, evaluate, predict
>>> from minidl.train.callbacks import EarlyStopping, ModelCheckpoint, CSVLogger

See ``loop.fit`` for the arguments; ``minidl.optim`` and ``minidl.nn`` for what to pass in.
Keras-style ``model.compile(...)`` / ``model.fit(x, y)``: ``minidl.train.keras.Sequential``.
"""

from minidl.train.callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    LRSchedulerCallback,
    ModelCheckpoint,
    TerminateOnNaN,
)
from minidl.train.checkpoint import load_checkpoint, save_checkpoint
from minidl.train.loop import FitState, History, evaluate, fit, predict
from minidl.train.metrics import Accuracy, MeanAbsoluteError, MeanSquaredError, Metric, TopKAccuracy, get_metric

__all__ = [
    "fit", "evaluate", "predict", "History", "FitState", "Callback", "EarlyStopping", "ModelCheckpoint",
    "LRSchedulerCallback", "CSVLogger", "TerminateOnNaN", "save_checkpoint", "load_checkpoint", "Metric",
    "Accuracy", "TopKAccuracy", "MeanSquaredError", "MeanAbsoluteError", "get_metric",
]
