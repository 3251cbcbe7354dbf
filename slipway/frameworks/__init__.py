"""Save, load, train and serve models per framework (PyTorch and Keras here).

Modules that import torch or keras are imported only by the code that needs them,
so the core install (no deep-learning extras) can still list the built-ins.
"""
