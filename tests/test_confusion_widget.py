"""The confusion-matrix explorer (notebook 11): it shows each model's own counts and F1, refuses bad settings, and
keeps the last good picture."""
import base64

import numpy as np
import torch

from course_lib import metrics
from course_lib.widgets.confusion import ConfusionExplorer, confusion_explorer

CLASSES = ["cat", "dog", "owl"]


def _predictions():
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 3, (90,), generator=g)
    good = torch.where(torch.rand(90, generator=g) < 0.9, labels, (labels + 1) % 3)
    bad = torch.where(torch.rand(90, generator=g) < 0.5, labels, (labels + 2) % 3)
    return {"good": good, "bad": bad}, labels


def test_the_picture_is_the_models_confusion_matrix():
    predictions, labels = _predictions()
    c = ConfusionExplorer(predictions, labels, CLASSES, norm="count")
    cm_good = metrics.confusion_matrix(labels, predictions["good"], 3).double()
    assert np.allclose(c.picture.get_array(), (cm_good / cm_good.sum(1, keepdim=True)).numpy())  # colour: row shares
    first = c.png()
    c.set(model="bad")
    cm = metrics.confusion_matrix(labels, predictions["bad"], 3)
    assert np.allclose(c.picture.get_array(), (cm.double() / cm.sum(1, keepdim=True)).numpy())
    assert c.png() != first
    f1 = metrics.precision_recall_f1(cm)["f1"].numpy()
    assert np.allclose([bar.get_width() for bar in c.bars], f1)
    assert c.cells[0][0].get_text() == str(int(cm[0, 0]))
    counts_png = c.png()
    c.set(norm="row")
    assert np.allclose(c.picture.get_array().sum(1), 1.0)  # each true class's row sums to 1
    share = float(cm[0, 0] / cm[0].sum())
    assert c.cells[0][0].get_text() == (f"{share:.2f}"[1:] if share < 0.995 else "1")
    assert c.png() != counts_png
    c.set(compare="good")
    good_f1 = metrics.precision_recall_f1(metrics.confusion_matrix(labels, predictions["good"], 3))["f1"].numpy()
    assert np.allclose(c.ticks.get_offsets()[:, 0], good_f1)
    assert "accuracy" in c.ax_cm.get_title() and "macro F1" in c.ax_f1.get_title()


def test_bad_settings_are_refused_and_the_picture_kept():
    predictions, labels = _predictions()
    view = confusion_explorer(predictions, labels, CLASSES)
    shown = view.image.value
    assert view.update(model="nobody") is False
    assert "model" in view.message.value and view.image.value == shown
    assert view.update(norm="column") is False
    assert view.update(model="bad") is True and view.image.value != shown
    bundle = view._repr_mimebundle_()
    assert base64.b64decode(bundle["image/png"]) == view.controller.png()
    view.close()


def test_shares_that_round_to_one_read_1_not_00():
    labels = torch.tensor([0] * 300 + [1] * 10 + [2] * 10)
    guesses = labels.clone()
    guesses[0] = 1  # class 0: 299 of 300 right, a share of 0.9967
    c = ConfusionExplorer({"m": guesses}, labels, CLASSES, norm="row")
    assert c.cells[0][0].get_text() == "1" and c.cells[0][1].get_text() == ""
