"""The operator library: on-device, per-element-vmapped `OperatorModule`s.

Every operator transforms a batch dict (leading batch axis) inside one compiled
function; random draws are keyed on (stream key, epoch, record index). Stochastic
operators default to `OperatorConfig(stochastic=True, stream_name='augment')` and
need `rngs=nnx.Rngs(augment=seed)`.
"""

from datarax.operators.batch_mix import CutMix, MixUp
from datarax.operators.color import (
    Brightness, ColorJitter, Contrast, Grayscale, Hue, RandomGrayscale, Saturation)
from datarax.operators.composite import RandomApply, RandomChoice, Sequential
from datarax.operators.convert import ConvertDtype, Rescale
from datarax.operators.crop import CenterCrop, RandomCrop, RandomResizedCrop
from datarax.operators.erase import Cutout, RandomErasing
from datarax.operators.flip import RandomFlip
from datarax.operators.generic import ElementOperator, MapOperator
from datarax.operators.image_operator import ImageOperator
from datarax.operators.noise_blur import GaussianBlur, GaussianNoise
from datarax.operators.normalize import Normalize
from datarax.operators.resize import Resize
from datarax.operators.rotate import Rotate
from datarax.operators.sequence import OneHot, PadOrTruncate, Standardize

__all__ = [
    "Brightness", "CenterCrop", "ColorJitter", "Contrast", "ConvertDtype", "CutMix",
    "Cutout", "ElementOperator", "GaussianBlur", "GaussianNoise", "Grayscale", "Hue",
    "ImageOperator", "MapOperator", "MixUp", "Normalize", "OneHot", "PadOrTruncate",
    "RandomApply", "RandomChoice", "RandomCrop", "RandomErasing", "RandomFlip",
    "RandomGrayscale", "RandomResizedCrop", "Rescale", "Resize", "Rotate", "Saturation",
    "Sequential", "Standardize",
]
