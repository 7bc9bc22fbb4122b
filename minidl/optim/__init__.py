"""``minidl.optim``: optimizers and learning-rate schedulers (PyTorch names and update rules).

>>> import minidl, minidl.nn as nn
>>> model = nn.Linear(4, 2)
>>> opt = minidl.optim.AdamW(model.parameters(), lr=1e-3)
>>> sched = minidl.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)

Every rule updates the parameters in place through a kernel of their backend (``sgd_update``,
``adam_update``, ``rmsprop_update``, ``adagrad_update``), so a faster backend can fuse it.
"""

from minidl.optim import lr_scheduler
from minidl.optim.adagrad import Adagrad
from minidl.optim.adam import Adam, AdamW
from minidl.optim.optimizer import Optimizer
from minidl.optim.rmsprop import RMSprop
from minidl.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "lr_scheduler"]
