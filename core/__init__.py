"""FMA Genre Lab: music genre classification on the FMA dataset.

Layers (data flows one way, see README.md): data -> audio -> features -> models -> study -> tracking,
with predict on top. The CLI (`python -m core`) and the dashboard call into these; nothing here imports
the dashboard.
"""
