"""From a joint configuration to a fitted-ready scikit-learn pipeline, and the joint space it comes from."""
from __future__ import annotations

from forgeml.pipeline.builder import build_pipeline, split_config
from forgeml.pipeline.joint import default_configs, family_config, joint_space
from forgeml.pipeline.space import prep_defaults, prep_space

__all__ = ["build_pipeline", "default_configs", "family_config", "joint_space", "prep_defaults", "prep_space",
           "split_config"]
