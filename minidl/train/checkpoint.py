"""Save and restore a whole training run: model, optimizer, scheduler, epoch, history and random state.

Resuming from a checkpoint saved after epoch ``k`` gives *bit-identical* parameters to the run that
never stopped, provided everything random is restored too: the default generator (dropout, init) and
the generator that shuffles the training data (``loader.generator``). ``save_checkpoint`` stores them
all; ``load_checkpoint`` puts them back and returns the epoch to continue from::

    ckpt = load_checkpoint("last.npz", model, optimizer, scheduler, loader=train_loader)
    fit(model, loss_fn, optimizer, train_loader, epochs=20, scheduler=scheduler, initial_epoch=ckpt["epoch"])

The file is an ordinary ``minidl.save`` checkpoint: ``{"model", "optimizer", "scheduler", "epoch",
"history", "rng": {"default": ..., "loader": ...}}`` plus any ``extra`` values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from minidl.io import load, save
from minidl.random import Generator, default_generator


def _generators(loader: Any, generators: dict[str, Generator] | None) -> dict[str, Generator]:
    found = {"default": default_generator()}
    if isinstance(getattr(loader, "generator", None), Generator):
        found["loader"] = loader.generator
    found.update(generators or {})
    return found


def save_checkpoint(path: str | Path, model: Any, optimizer: Any = None, scheduler: Any = None, *,
                    epoch: int | None = None, history: Any = None, loader: Any = None,
                    generators: dict[str, Generator] | None = None, **extra: Any) -> None:
    """Write everything needed to resume training to ``path`` (atomically, see ``minidl.io``)."""
    state: dict[str, Any] = {"model": model.state_dict()}
    if optimizer is not None:
        state["optimizer"] = optimizer.state_dict()
    if scheduler is not None:
        state["scheduler"] = scheduler.state_dict()
    if epoch is not None:
        state["epoch"] = int(epoch)
    if history is not None:
        state["history"] = history.state_dict()
    state["rng"] = {name: g.get_state() for name, g in _generators(loader, generators).items()}
    state.update(extra)
    save(state, path)


def load_checkpoint(path: str | Path, model: Any, optimizer: Any = None, scheduler: Any = None, *,
                    loader: Any = None, generators: dict[str, Generator] | None = None) -> dict[str, Any]:
    """Restore what ``save_checkpoint`` wrote into the given objects; returns the loaded dict (``["epoch"]``).

    The file is read and checked completely before anything is changed; a model whose keys or shapes do not
    match raises without being modified.
    """
    state = load(path)
    model.load_state_dict(state["model"])
    if optimizer is not None and "optimizer" in state:
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and "scheduler" in state:
        scheduler.load_state_dict(state["scheduler"])
    for name, g in _generators(loader, generators).items():
        if name in state.get("rng", {}):
            g.set_state(state["rng"][name])
    return state
