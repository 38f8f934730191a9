"""Free-text columns as a few dense numbers: TF-IDF reduced by truncated SVD, plus length and word count.

Memory stays bounded on large text: a column whose fit rows hold more than ``hash_above`` characters in total
(``HASH_ABOVE`` = 20 million) is vectorised by ``HashingVectorizer`` (2**18 hashed word n-grams, no vocabulary
kept in memory) + TF-IDF weights + SVD instead; above ``skip_above`` (``SKIP_ABOVE`` = 200 million) no term
matrix is built at all and only length and word count remain. Both cases raise a ``SearchWarning``.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from forgeml.data.coerce import to_string
from forgeml.errors import SearchWarning
from forgeml.features._frame import as_frame, check_fitted, dense

HASH_ABOVE = 20_000_000  # total characters of a column above which it is hashed rather than given a vocabulary
SKIP_ABOVE = 200_000_000  # total characters above which no term matrix is built (length and word count only)
HASH_FEATURES = 2 ** 18


class TextFeatures(TransformerMixin, BaseEstimator):
    """Per text column: ``n_components`` SVD components of a TF-IDF matrix bounded to ``max_features`` terms
    (fewer when the vocabulary is small), plus character length and word count. Missing text is empty.
    Large columns are hashed or skipped (see the module doc)."""

    hash_above: int = HASH_ABOVE  # older pickles lack these
    skip_above: int = SKIP_ABOVE

    def __init__(self, max_features: int = 2000, n_components: int = 8, seed: int = 0,
                 hash_above: int = HASH_ABOVE, skip_above: int = SKIP_ABOVE) -> None:
        self.max_features = max_features
        self.n_components = n_components
        self.seed = seed
        self.hash_above = hash_above
        self.skip_above = skip_above

    def fit(self, X: Any, y: Any = None) -> TextFeatures:
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> pd.DataFrame:
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        X = as_frame(X)
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self.n_features_in_ = X.shape[1]
        self.models_: dict[Any, tuple[Any, Any]] = {}
        frames = []
        for c in X.columns:
            docs = _docs(X[c])
            vec, svd, comps = None, None, np.zeros((len(docs), 0))
            chars = sum(len(d) for d in docs)
            if chars > self.skip_above:
                warnings.warn(f"text column {c!r} holds {chars:,} characters (more than {self.skip_above:,}): no "
                              "term features are built for it, only its length and word count", SearchWarning,
                              stacklevel=2)
                self.models_[c] = (None, None)
                frames.append(self._frame(c, docs, comps, X.index))
                continue
            try:
                if chars > self.hash_above:
                    warnings.warn(f"text column {c!r} holds {chars:,} characters (more than {self.hash_above:,}): "
                                  "hashing its words instead of building a vocabulary", SearchWarning, stacklevel=2)
                    vec = _hashing()
                else:
                    vec = TfidfVectorizer(max_features=self.max_features, sublinear_tf=True, dtype=np.float64)
                tf = vec.fit_transform(docs)
                k = min(self.n_components, tf.shape[1] - 1, tf.shape[0] - 1)
                if k >= 1:
                    svd = TruncatedSVD(n_components=k, random_state=self.seed)
                    comps = svd.fit_transform(tf)
                else:
                    vec = None
            except ValueError:  # empty vocabulary (only stop words / punctuation)
                vec = None
            self.models_[c] = (vec, svd)
            frames.append(self._frame(c, docs, comps, X.index))
        out = pd.concat(frames, axis=1) if frames else pd.DataFrame(index=X.index)
        self.feature_names_out_ = np.asarray(list(out.columns), dtype=object)
        return out

    def transform(self, X: Any) -> pd.DataFrame:
        check_fitted(self, "models_")
        X = as_frame(X, self.feature_names_in_)
        frames = []
        for c, (vec, svd) in self.models_.items():
            docs = _docs(X[c])
            comps = dense(svd.transform(vec.transform(docs))) if svd is not None else np.zeros((len(docs), 0))
            frames.append(self._frame(c, docs, comps, X.index))
        return pd.concat(frames, axis=1) if frames else pd.DataFrame(index=X.index)

    @staticmethod
    def _frame(col: Any, docs: list[str], comps: np.ndarray, index: pd.Index) -> pd.DataFrame:
        data = {f"{col}_svd{i}": comps[:, i] for i in range(comps.shape[1])}
        data[f"{col}_chars"] = np.array([len(d) for d in docs], dtype="float64")
        data[f"{col}_words"] = np.array([len(d.split()) for d in docs], dtype="float64")
        return pd.DataFrame(data, index=index)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_fitted(self, "feature_names_out_")
        return self.feature_names_out_.copy()


def _hashing() -> Any:
    """Hashed word uni- and bigrams with TF-IDF weights: memory bounded by the documents, not a vocabulary."""
    from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
    from sklearn.pipeline import make_pipeline

    return make_pipeline(HashingVectorizer(n_features=HASH_FEATURES, ngram_range=(1, 2), alternate_sign=False,
                                           norm=None, dtype=np.float64),
                         TfidfTransformer(sublinear_tf=True))


def _docs(s: pd.Series) -> list[str]:
    return [v if isinstance(v, str) else "" for v in to_string(s)]
