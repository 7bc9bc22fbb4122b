"""``minidl.optim``: optimizers and learning-rate schedulers (PyTorch names and update rules).

>>> import minidl, minidl.nn as nn
>>> model = nn.Linear(4, 2)
>>> opt = minidl.optim.AdamW(model.parameters(), lr=1e-3)
>>> sched = minidl.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)

Every rule updates the parameters in place through a kernel of their backend (``sgd_update``,
``adam_update``, ``rmsprop_update``, ``adagrad_update``), so a faster backend can fuse it; ``Adadelta``
and ``LBFGS`` are written with the array module of the parameters' backend (``p.backend.xp``).

``step(closure)`` works as in PyTorch: the closure (re-)computes the loss with gradients enabled and
``step`` returns its result; ``LBFGS`` requires one and may call it several times per step.
"""

from minidl.optim import lr_scheduler
from minidl.optim.adadelta import Adadelta
from minidl.optim.adagrad import Adagrad
from minidl.optim.adam import Adam, AdamW
from minidl.optim.lbfgs import LBFGS
from minidl.optim.optimizer import Optimizer
from minidl.optim.rmsprop import RMSprop
from minidl.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "LBFGS", "lr_scheduler"]
