"""Checkpoints: ``minidl.save(obj, f)`` and ``minidl.load(f)``, safe by construction.

``f`` is a path or an open binary file (``open(..., "wb")``, ``io.BytesIO``), as in ``torch.save``.
What can be saved: nested dicts (str or int keys), lists and tuples of Tensors, numpy arrays, numpy
scalars and plain values (None, bool, int, float, str), and whole Modules (see ``minidl.serialization``).
That covers a whole training state::

    minidl.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                 "scheduler": sched.state_dict(), "epoch": epoch,
                 "rng": generator.get_state()}, "checkpoint.npz")
    state = minidl.load("checkpoint.npz")

**The format** is a ``.npz`` file (a zip archive; numpy's own format): one ``.npy`` member per array,
stored uncompressed, plus a ``header.json`` member with the format name and version, the minidl version,
the tree of the saved object (where each array goes) and, for each array, its shape, dtype and SHA-256.
We chose npz over safetensors because it needs nothing but numpy, stores every numpy dtype and 0-d arrays,
and its zip container already checks a CRC-32 per member; the JSON header carries what safetensors'
string-only metadata could not (nested structure, int keys, tuples, non-finite floats, modules).
Format version 2 added module and function nodes; a file without them is still written as version 1.

**Nothing is ever unpickled or executed.** minidl reads the zip and the ``.npy`` headers itself and
refuses, with a ``CheckpointError`` naming the member and the problem, anything it did not write:
compressed or encrypted members, object (pickled) arrays, pickle files, sizes larger than the file,
headers over ``MAX_HEADER_BYTES`` or nested deeper than ``MAX_DEPTH``, arrays that disagree with the
header or their SHA-256. No allocation is larger than what the file really holds.

**Writes to a path are atomic**: the file is written under a temporary name in the same folder
(``.NAME.<random>.tmp``, locked while it is written), flushed and fsynced, then renamed over the target
(``os.replace``), and the folder is fsynced so the rename survives a power cut. A crash half-way leaves
the previous checkpoint untouched; temporaries left by a killed process are removed by the next save of
the same target. An existing target keeps its permission bits; a FIFO or device is never replaced.

>>> import minidl, os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "ckpt.npz")
>>> minidl.save({"w": minidl.ones(2), "epoch": 3}, path)
>>> minidl.load(path)
{'w': tensor([1., 1.]), 'epoch': 3}
"""

from minidl.io.format import FORMAT_NAME, FORMAT_VERSION, HEADER, MAX_DEPTH, MAX_HEADER_BYTES, CheckpointError, FileLike
from minidl.io.reading import load, read_header
from minidl.io.writing import save

__all__ = ["CheckpointError", "FORMAT_NAME", "FORMAT_VERSION", "FileLike", "HEADER", "MAX_DEPTH",
           "MAX_HEADER_BYTES", "load", "read_header", "save"]
