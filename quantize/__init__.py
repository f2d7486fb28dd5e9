"""emoedge.quantize: pruning, int8 conversion and audit (needs the ``train`` extra).

Nothing here imports TensorFlow at module import time.
"""
