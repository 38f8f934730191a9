"""Where ``FittedPipeline`` used to live; it is now ``forgeml.pipeline.fitted.FittedPipeline``.

Kept as an alias because a pickle names the class by its module path: models saved before the move say
``forgeml.api.predictor.FittedPipeline`` and must still load.
"""
from __future__ import annotations

from forgeml.pipeline.fitted import FittedPipeline

__all__ = ["FittedPipeline"]
