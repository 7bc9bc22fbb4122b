"""``torch.utils.data.dataloader``'s names, from :mod:`minidl.data`."""

from minidl.data.collate import default_collate, default_convert
from minidl.data.loader import DataLoader
from minidl.data.worker import WorkerInfo, get_worker_info

__all__ = ["DataLoader", "WorkerInfo", "default_collate", "default_convert", "get_worker_info"]
