"""The multi-fidelity benchmark's cluttered images (bench/multifidelity_setup.py: Clutter)."""


import pytest
import torch

from runners.data import ProxyData
from runners.data.proxy import channel_stats


@pytest.fixture(scope="module")
def setup():
    from bench import multifidelity_setup

    return multifidelity_setup


def _images(n: int = 6, size: int = 8) -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    return torch.randint(1, 256, (n, 1, size, size), generator=g, dtype=torch.uint8)


def test_without_pieces_each_image_is_placed_whole_on_black(setup):
    images = _images()
    out = setup.Clutter(canvas=12, patches=0, patch=4)(images, seed=0)
    assert out.shape == (6, 1, 12, 12)
    for src, got in zip(images, out, strict=True):
        found = [(y, x) for y in range(5) for x in range(5)
                 if torch.equal(got[:, y:y + 8, x:x + 8], src)]
        assert len(found) == 1  # the image, once, unchanged
        y, x = found[0]
        rest = got.clone()
        rest[:, y:y + 8, x:x + 8] = 0
        assert rest.sum() == 0  # and nothing else on the canvas


def test_pieces_only_add_and_come_from_the_images(setup):
    images = _images()
    bare = setup.Clutter(canvas=12, patches=0, patch=4)(images, seed=0)
    cluttered = setup.Clutter(canvas=12, patches=3, patch=4)(images, seed=0)
    assert (cluttered >= bare).all()  # the same placements, with pieces laid over (maximum)
    assert (cluttered > bare).any()
    values = set(images.flatten().tolist()) | {0}
    assert set(cluttered.flatten().tolist()) <= values


def test_seeded(setup):
    images = _images()
    clutter = setup.Clutter(canvas=12, patches=2, patch=4)
    assert torch.equal(clutter(images, seed=5), clutter(images, seed=5))
    assert not torch.equal(clutter(images, seed=5), clutter(images, seed=6))


def test_impossible_sizes_are_refused(setup):
    with pytest.raises(ValueError, match="canvas >= 8"):
        setup.Clutter(canvas=6, patches=1, patch=4)(_images(), seed=0)
    with pytest.raises(ValueError, match="patch <= 8"):
        setup.Clutter(canvas=12, patches=1, patch=9)(_images(), seed=0)


def test_data_clutters_both_splits_and_recomputes_the_statistics(setup):
    images, labels = _images(8), torch.arange(8) % 2
    data = ProxyData("toy", images[:6], labels[:6], images[6:], labels[6:], 2, (0.5,), (0.2,),
                     False, "made here")
    out = setup.Clutter(canvas=12, patches=2, patch=4).data(data)
    assert out.train_x.shape == (6, 1, 12, 12) and out.val_x.shape == (2, 1, 12, 12)
    assert torch.equal(out.train_y, data.train_y) and torch.equal(out.val_y, data.val_y)
    assert (out.mean, out.std) == channel_stats(out.train_x)
    assert out.input_size == 12 and "cluttered" in out.name
