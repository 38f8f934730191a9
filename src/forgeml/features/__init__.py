"""Preprocessing transformers (scikit-learn conventions, pandas DataFrame in and out)."""
from __future__ import annotations

from forgeml.features.clip import OutlierClipper
from forgeml.features.dates import DatetimeParts
from forgeml.features.encode import CategoricalEncoder
from forgeml.features.generate import FeatureGenerator
from forgeml.features.impute import NumericImputer
from forgeml.features.preprocess import Preprocessor
from forgeml.features.text import TextFeatures

__all__ = ["CategoricalEncoder", "DatetimeParts", "FeatureGenerator", "NumericImputer", "OutlierClipper",
           "Preprocessor", "TextFeatures"]
