"""Complete models built from ``minidl.nn`` layers.

>>> from minidl.models import GPT, GPTConfig
>>> model = GPT(GPTConfig(vocab_size=10, block_size=8, n_layer=1, n_head=2, n_embd=16))
>>> model.num_parameters()
3600
"""

from minidl.models.gpt import GPT, GPTConfig

__all__ = ["GPT", "GPTConfig"]
