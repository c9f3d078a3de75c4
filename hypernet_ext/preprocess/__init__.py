"""Image preprocessing: turn a folder of raw images into a training set."""
from .captioners import (REGISTRY, Captioner, CaptionerRegistry, CaptionerUnavailableError, FilenameCaptioner,
                         default_registry)
from .focal import face_detector_available
from .options import PreprocessOptions
from .pipeline import PreprocessReport, preprocess

__all__ = [
    "REGISTRY", "Captioner", "CaptionerRegistry", "CaptionerUnavailableError", "FilenameCaptioner",
    "PreprocessOptions", "PreprocessReport", "default_registry", "face_detector_available", "preprocess",
]
