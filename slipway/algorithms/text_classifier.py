"""Text classification: TF-IDF features and a linear SVM or logistic regression."""

from __future__ import annotations

from typing import Any

from slipway.algorithms._common import boolean, choice, floating, integer, random_state
from slipway.algorithms.base import CLASSIFICATION, Algorithm, Hyperparameter


def _build(hp: dict[str, Any], problem: str) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression, SGDClassifier
    from sklearn.pipeline import Pipeline

    tfidf = TfidfVectorizer(ngram_range=(1, hp["ngram_max"]), min_df=hp["min_df"], max_features=hp["max_features"],
                            sublinear_tf=hp["sublinear_tf"])
    if hp["classifier"] == "linear-svm":
        # modified_huber is a smoothed hinge loss (a linear SVM) that still gives probabilities.
        clf: Any = SGDClassifier(loss="modified_huber", alpha=1.0 / (hp["C"] * 1000), max_iter=1000,
                                 random_state=hp["random_state"])
    else:
        clf = LogisticRegression(C=hp["C"], max_iter=1000, random_state=hp["random_state"])
    return Pipeline([("tfidf", tfidf), ("classifier", clf)])


ALGORITHM = Algorithm(
    name="text-classifier",
    description="TF-IDF over words and n-grams, then a linear SVM or logistic regression. Trains on a text "
                "folder (one subfolder per class) or a text column of a table.",
    problem_types=(CLASSIFICATION,),
    hyperparameters=(
        choice("classifier", "logistic-regression", ("logistic-regression", "linear-svm"), "The linear model."),
        floating("C", 10.0, 0, None, "Inverse of the regularisation strength.", low_open=True),
        integer("ngram_max", 2, 1, 5, "Longest word n-gram used as a feature."),
        integer("min_df", 1, 1, None, "Ignore terms in fewer documents than this."),
        integer("max_features", None, 1, None, "Keep only the most frequent terms; None keeps all.", nullable=True),
        boolean("sublinear_tf", True, "Use 1 + log(tf) instead of raw term counts."),
        Hyperparameter("text_column", "str", "", "Column holding the text (tables only); empty: the first text column."),
        random_state(),
    ),
    search_space={
        "classifier": {"type": "categorical", "choices": ["logistic-regression", "linear-svm"]},
        "C": {"type": "float", "low": 0.1, "high": 100.0, "log": True},
        "ngram_max": {"type": "int", "low": 1, "high": 3},
    },
    build=_build,
    input_kinds=("text",),
)
