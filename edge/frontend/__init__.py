"""The integer-only feature frontend, a numpy port of TFLite Micro's microfrontend."""

from .config import FrontendConfig
from .pipeline import StreamingFrontend, build_tables, compute_features

__all__ = ["FrontendConfig", "StreamingFrontend", "build_tables", "compute_features"]
