"""emoedge: speech emotion recognition on Raspberry Pi-class devices.

Importing emoedge loads numpy only; audio decoding, the interpreter and the
model file reader are imported when first used.
"""

from .frontend import FrontendConfig, StreamingFrontend, compute_features
from .quantization import InputQuantization, features_to_int8

__version__ = "0.1.0"

_LAZY = {
    "load_model": "recognizer",
    "EmotionModel": "recognizer",
    "StreamingRecognizer": "recognizer",
    "ClipError": "recognizer",
    "AudioError": "audio",
    "ModelConfigError": "metadata",
    "ModelMetadata": "metadata",
    "Prediction": "results",
    "WindowResult": "results",
}

__all__ = [
    "AudioError",
    "ClipError",
    "EmotionModel",
    "FrontendConfig",
    "InputQuantization",
    "ModelConfigError",
    "ModelMetadata",
    "Prediction",
    "StreamingFrontend",
    "StreamingRecognizer",
    "WindowResult",
    "__version__",
    "compute_features",
    "features_to_int8",
    "load_model",
]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'emoedge' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f".{module}", __name__), name)
