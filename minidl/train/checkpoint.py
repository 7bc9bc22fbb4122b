"""Save and restore a whole training run: model, optimizer, scheduler(s), epoch, history, random state, callbacks.

Resuming from a checkpoint saved after epoch ``k`` gives *bit-identical* parameters to the run that
never stopped, provided everything random is restored too: the default generator (dropout, init) and
the generator that shuffles the training data (``loader.generator``). ``save_checkpoint`` stores them
all; ``load_checkpoint`` puts them back and returns the loaded dict, whose ``["epoch"]`` is where to
continue::

    ckpt = load_checkpoint("last.npz", model, optimizer, scheduler, loader=train_loader, callbacks=callbacks)
    fit(model, loss_fn, optimizer, train_loader, epochs=20, scheduler=scheduler, callbacks=callbacks,
        initial_epoch=ckpt["epoch"])

The file is an ordinary ``minidl.save`` checkpoint: ``{"model", "optimizer", "scheduler", "epoch",
"history", "rng": {"default": ..., "loader": ...}, "callbacks": {state_key: ...}, "classes": {...}}``
plus any ``extra`` values. ``"scheduler"`` is one state dict, or a list of them when a run has several
schedulers (``fit``'s own first, then those of the ``LRSchedulerCallback``s in the order given).

**Loading is all or nothing.** Every entry is checked against the object it goes into (the optimizer and
scheduler on a scratch copy, the model by ``Module.load_state_dict``, which checks before writing) and only
then is anything changed: a load that raises leaves the model, optimizer, schedulers, generators and
callbacks exactly as they were.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from minidl.io import CheckpointError, load, save
from minidl.random import Generator, default_generator


def _generators(loader: Any, generators: dict[str, Generator] | None) -> dict[str, Generator]:
    found = {"default": default_generator()}
    if isinstance(getattr(loader, "generator", None), Generator):
        found["loader"] = loader.generator
    found.update(generators or {})
    return found


def _many(scheduler: Any) -> bool:
    return isinstance(scheduler, list | tuple)


def _class_names(obj: Any) -> str | list[str]:
    return [type(o).__name__ for o in obj] if _many(obj) else type(obj).__name__


def save_checkpoint(path: str | Path, model: Any, optimizer: Any = None, scheduler: Any = None, *,
                    epoch: int | None = None, history: Any = None, loader: Any = None,
                    generators: dict[str, Generator] | None = None, callbacks: Sequence[Any] = (),
                    scaler: Any = None, **extra: Any) -> None:
    """Write everything needed to resume training to ``path`` (atomically, see ``minidl.io``).

    ``scheduler`` is one scheduler or a list of them; ``callbacks`` contribute their ``state_dict()``
    (a ``ModelCheckpoint(save_best_only=True)`` its best value) under their ``state_key``; ``scaler``, a
    ``minidl.amp.GradScaler``, its scale and growth tracker under ``"scaler"``.
    """
    state: dict[str, Any] = {"model": model.state_dict()}
    classes: dict[str, Any] = {"model": type(model).__name__}
    if optimizer is not None:
        state["optimizer"], classes["optimizer"] = optimizer.state_dict(), type(optimizer).__name__
    if scheduler is not None:
        state["scheduler"] = [s.state_dict() for s in scheduler] if _many(scheduler) else scheduler.state_dict()
        classes["scheduler"] = _class_names(scheduler)
    if scaler is not None:
        state["scaler"] = scaler.state_dict()
    if epoch is not None:
        state["epoch"] = int(epoch)
    if history is not None:
        state["history"] = history.state_dict()
    state["rng"] = {name: g.get_state() for name, g in _generators(loader, generators).items()}
    saved_callbacks = {cb.state_key: cb.state_dict() for cb in callbacks if cb.state_dict()}
    if saved_callbacks:
        state["callbacks"] = saved_callbacks
    state["classes"] = classes
    state.update(extra)
    save(state, path)


def load_checkpoint(path: str | Path, model: Any, optimizer: Any = None, scheduler: Any = None, *,
                    loader: Any = None, generators: dict[str, Generator] | None = None,
                    callbacks: Sequence[Any] = (), scaler: Any = None) -> dict[str, Any]:
    """Restore what ``save_checkpoint`` wrote into the given objects; returns the loaded dict (``["epoch"]``).

    All or nothing: everything is checked first, then assigned; on any mismatch (model keys or shapes, an
    optimizer or scheduler of another class or over other parameters, an entry the file lacks, a callback
    whose state was not saved) it raises and nothing has changed. Entries of the file that no argument asks
    for are ignored (pass only ``model`` to evaluate a checkpoint).
    """
    state = load(path)
    if not isinstance(state, dict) or "model" not in state:
        raise CheckpointError(f"{path}: not a save_checkpoint file (no 'model' entry); a weights-only file "
                              f"(ModelCheckpoint(save_weights_only=True)) loads with "
                              f"model.load_state_dict(minidl.load(path))")
    loads = _checked_loads(path, state, optimizer, scheduler, _generators(loader, generators), callbacks)
    if scaler is not None:  # a minidl.amp.GradScaler: its scale and growth tracker
        saved = _entry(path, state, "scaler", "a GradScaler")
        _rehearse(path, "scaler", scaler, copy.deepcopy(scaler).load_state_dict, saved)
        loads.append((scaler.load_state_dict, saved))
    model.load_state_dict(state["model"])  # checks keys and shapes before writing: a failure changes nothing
    for load_into, saved in loads:  # each was rehearsed on a copy: none of them can fail now
        load_into(saved)
    return state


def _checked_loads(path: str | Path, state: dict[str, Any], optimizer: Any, scheduler: Any,
                   generators: dict[str, Generator], callbacks: Sequence[Any]) -> list[tuple[Callable, Any]]:
    """Check every entry the caller asked for, changing nothing; returns the ``(load, saved)`` pairs to run."""
    classes = state.get("classes", {})
    loads: list[tuple[Callable, Any]] = []
    if optimizer is not None:
        saved = _entry(path, state, "optimizer", "an optimizer")
        _check_class(path, "optimizer", classes.get("optimizer"), optimizer)
        _rehearse(path, "optimizer", optimizer, _optimizer_copy(optimizer).load_state_dict, saved)
        loads.append((optimizer.load_state_dict, saved))
    if scheduler is not None:
        saved = _entry(path, state, "scheduler", "a scheduler")
        given, stored = list(scheduler) if _many(scheduler) else [scheduler], _as_list(saved)
        names = classes.get("scheduler")
        if _many(scheduler) != isinstance(saved, list) or len(given) != len(stored):
            raise CheckpointError(f"{path}: the checkpoint holds the state of {names or f'{len(stored)} scheduler(s)'}"
                                  f" but {_class_names(scheduler)} was given; pass the schedulers of the run that "
                                  f"saved it, in its order (fit's own first, then its LRSchedulerCallbacks')")
        for i, (s, s_saved) in enumerate(zip(given, stored)):
            name = names[i] if isinstance(names, list) and i < len(names) else names
            _check_class(path, "scheduler", name, s)
            _rehearse(path, "scheduler", s, _scheduler_copy(s).load_state_dict, s_saved)
            loads.append((s.load_state_dict, s_saved))
    for name, g in generators.items():
        if name in state.get("rng", {}):
            _rehearse(path, f"rng[{name!r}]", g, copy.deepcopy(g).set_state, state["rng"][name])
            loads.append((g.set_state, state["rng"][name]))
    saved_callbacks = state.get("callbacks", {})
    for cb in callbacks:
        if not cb.state_dict():
            continue  # nothing to restore (a CSVLogger, a ModelCheckpoint that keeps every epoch, ...)
        if cb.state_key not in saved_callbacks:
            raise CheckpointError(f"{path}: the checkpoint holds no state for the callback {cb.state_key}; it holds "
                                  f"{sorted(saved_callbacks) or 'none'} (was it saved by another run's callbacks?)")
        saved = saved_callbacks[cb.state_key]
        _rehearse(path, cb.state_key, cb, copy.deepcopy(cb).load_state_dict, saved)
        loads.append((cb.load_state_dict, saved))
    return loads


def _as_list(saved: Any) -> list[Any]:
    return saved if isinstance(saved, list) else [saved]


def _entry(path: str | Path, state: dict[str, Any], key: str, what: str) -> Any:
    if key not in state:
        raise CheckpointError(f"{path}: {what} was given but the checkpoint holds no {key!r} entry (it has "
                              f"{sorted(state)}); load it without {key}=, or resume from a full checkpoint")
    return state[key]


def _check_class(path: str | Path, key: str, saved_name: str | None, obj: Any) -> None:
    """Refuse the state of another class (an Adam's state would load silently into an SGD and be ignored)."""
    if saved_name is not None and saved_name != type(obj).__name__:
        raise CheckpointError(f"{path}: the checkpoint's {key} state was saved from {saved_name}, but "
                              f"{type(obj).__name__} was given; resume with {saved_name}")


def _rehearse(path: str | Path, key: str, obj: Any, load_into_copy: Callable[[Any], Any], saved: Any) -> None:
    """Run a load on a copy of ``obj``: it raises what the real load would raise, and ``obj`` stays unchanged."""
    try:
        load_into_copy(saved)
    except Exception as e:
        e.add_note(f"load_checkpoint({str(path)!r}): the {key!r} entry does not fit the given "
                   f"{type(obj).__name__}; nothing was loaded")
        raise


def _optimizer_copy(optimizer: Any) -> Any:
    """A copy sharing the parameters but not the groups' dicts or the state: loading into it leaves ``optimizer``."""
    scratch = copy.copy(optimizer)
    scratch.param_groups = [dict(group) for group in optimizer.param_groups]
    scratch.state = {}
    return scratch


def _scheduler_copy(scheduler: Any) -> Any:
    """A deep copy that shares the optimizer (a load sets the scheduler's numbers, never the optimizer's)."""
    optimizer = scheduler.optimizer
    return copy.deepcopy(scheduler, {id(optimizer): optimizer})
