"""emoedge: speech emotion recognition on Raspberry Pi-class devices."""

from .frontend import FrontendConfig, StreamingFrontend, compute_features
from .quantization import InputQuantization, features_to_int8

__version__ = "0.1.0"

__all__ = [
    "FrontendConfig",
    "InputQuantization",
    "StreamingFrontend",
    "__version__",
    "compute_features",
    "features_to_int8",
]
