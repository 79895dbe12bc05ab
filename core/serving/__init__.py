"""The models that answer: registered genre models as self-contained MLflow pyfunc models, and the
predictor that asks them about an audio file.

- :mod:`core.serving.pyfunc`: feature-row and audio models, logged with their code and pinned
  requirements (:func:`~core.serving.pyfunc.log_feature_model`, :func:`~core.serving.pyfunc.log_audio_model`);
  :mod:`core.serving.embedding_model` (an MLP on musicnn embeddings, audio in) and
  :mod:`core.serving.zeroshot` (pretrained taggers mapped to FMA's genres, no training).
- :mod:`core.serving.predictor`: load registered versions by their card, predict files.
- :mod:`core.serving.commands`: ``python -m core predict``.

The versions, cards and aliases these models are registered under are :mod:`core.registry`'s.
"""
