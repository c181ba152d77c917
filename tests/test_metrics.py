"""Confusion matrix, precision/recall/F1 (course_lib.metrics) against scikit-learn, and the n-gram perplexity."""
import math

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from course_lib import metrics


def _labels(n=500, classes=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, classes, (n,), generator=g)
    noisy = torch.where(torch.rand(n, generator=g) < 0.7, y, torch.randint(0, classes, (n,), generator=g))
    return y, noisy


def test_confusion_matrix_and_scores_equal_scikit_learn():
    y, p = _labels()
    cm = metrics.confusion_matrix(y, p, 6)
    assert np.array_equal(cm.numpy(), skm.confusion_matrix(y.numpy(), p.numpy(), labels=range(6)))
    scores = metrics.precision_recall_f1(cm)
    precision, recall, f1, support = skm.precision_recall_fscore_support(y.numpy(), p.numpy(), labels=range(6),
                                                                         zero_division=0)
    for ours, theirs in [(scores["precision"], precision), (scores["recall"], recall), (scores["f1"], f1)]:
        assert np.abs(ours.numpy() - theirs).max() <= 1e-12
    assert np.array_equal(scores["support"].numpy(), support)
    assert scores["f1"].mean().item() == pytest.approx(skm.f1_score(y.numpy(), p.numpy(), average="macro"), abs=1e-12)
    assert (cm.diagonal().sum() / cm.sum()).item() == pytest.approx(skm.accuracy_score(y.numpy(), p.numpy()))


def test_a_class_never_predicted_scores_zero_not_nan():
    y = torch.tensor([0, 0, 1, 1, 2])
    p = torch.tensor([0, 0, 1, 1, 1])  # class 2 is never predicted
    scores = metrics.precision_recall_f1(metrics.confusion_matrix(y, p, 3))
    assert scores["precision"][2] == 0 and scores["recall"][2] == 0 and scores["f1"][2] == 0
    assert torch.isfinite(scores["f1"]).all()


def test_memorising_ngram_model_is_perfect_on_its_training_text_only():
    text = "the quick brown fox jumps over the lazy dog while the cat sleeps " * 20
    other = "a completely different sentence about zebras"
    assert metrics.ngram_perplexity(text, text, order=12, k=0.01) < 1.3
    assert metrics.ngram_perplexity(text, other, order=12, k=0.01) > 5
    # order 1: the character frequencies; perplexity of a text of one repeated character seen half the time = 2
    assert metrics.ngram_perplexity("abab", "aaaa", order=1) == pytest.approx(2.0)
    # a context seen once, followed by 'b': p = (1 + k·p(b)) / (1 + k)
    p = (1 + 1 * 0.5) / (1 + 1)
    assert metrics.ngram_perplexity("ab", "ab", order=2) == pytest.approx(math.exp(-(math.log(0.5) + math.log(p)) / 2))
