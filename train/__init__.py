"""emoedge.train: datasets, models and training (needs the ``train`` extra).

Nothing here imports TensorFlow at module import time.
"""
