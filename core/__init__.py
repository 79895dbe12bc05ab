"""FMA Genre Lab: music genre classification on the FMA dataset.

Layers (data flows one way, see README.md): data -> audio -> features -> models -> study -> tracking,
with predict on top. The CLI (`python -m core`) and the dashboard call into these; nothing here imports
the dashboard.
"""
from core import quiet as _quiet

_quiet.install_if_inherited()  # a worker of a quiet CLI keeps TensorFlow's start-up lines off the terminal
