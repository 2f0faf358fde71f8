import io

import imagehash
import numpy as np
import pytest
from PIL import Image, ImageFilter

from datacheck.features.image_props import sharpness
from datacheck.features.images import decode_bytes, decode_file, hash_to_int, phash_int
from tests.helpers import distinct_patches, jpeg_bytes, source_photos


def bits(a: int, b: int) -> int:
    return bin((a ^ b) & (2**64 - 1)).count("1")


def test_draft_decode_keeps_hashes_close_on_real_photos():
    """JPEG draft mode (reduced-size DCT decode) moves phash by <= 1 bit in the median."""
    distances = []
    for photo in source_photos().values():
        for size in ((640, 480), (1024, 768), photo.size):
            data = jpeg_bytes(photo.resize(size), quality=90)
            draft = decode_bytes(data, draft=True)
            full = decode_bytes(data, draft=False)
            assert (draft.width, draft.height) == size
            distances.append(bits(draft.hash, full.hash))
    assert len(distances) >= 30
    assert np.median(distances) <= 1
    assert max(distances) <= 6


def test_hash_matches_imagehash_on_full_decode():
    photo = source_photos()["coffee"]
    data = jpeg_bytes(photo)
    expected = hash_to_int(imagehash.phash(Image.open(io.BytesIO(data))))
    assert decode_bytes(data, draft=False).hash == expected


def _thumbnails() -> list[Image.Image]:
    """Grey 32x32 thumbnails of real photos (crops of scikit-learn's samples and its digits
    drawn at 32 px), and flat images."""
    from sklearn.datasets import load_digits

    out = [p.resize((32, 32), Image.BOX) for p in distinct_patches(150, size=96)]
    out += [Image.fromarray((d * 15).astype(np.uint8)).resize((32, 32), Image.NEAREST)
            for d in load_digits().images[:150]]
    out += [Image.new("L", (32, 32), v) for v in (0, 1, 128, 255)]
    return [img.convert("L") for img in out]


def test_phash_equals_imagehash_on_real_and_flat_images():
    images = _thumbnails() + [p.convert("L") for p in source_photos().values()]
    got = [phash_int(img) for img in images]
    assert got == [hash_to_int(imagehash.phash(img)) for img in images]
    assert len(set(got)) > 250  # distinct images, distinct hashes: not a constant


def test_sharpness_equals_pil_laplacian_variance():
    for img in _thumbnails():
        pil = np.asarray(img.filter(ImageFilter.Kernel(
            (3, 3), (0, 1, 0, 1, -4, 1, 0, 1, 0), scale=1, offset=128)), dtype=np.float32)
        assert sharpness(np.asarray(img)) == float(pil.var())


def test_hash_to_int_round_trips_imagehash_bits():
    h = imagehash.hex_to_hash("ffd8c0e0f0783c1e")
    assert hash_to_int(h) == int("ffd8c0e0f0783c1e", 16) - 2**64


@pytest.mark.parametrize("data, problem", [
    (b"", "empty file"),
    (b"hello, I am text\n", "not an image"),
])
def test_unusable_bytes_become_problems(data, problem):
    assert problem in decode_bytes(data).problem


def test_truncated_images_of_each_format():
    photo = source_photos()["astronaut"].resize((200, 200))
    for fmt in ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF"):
        buf = io.BytesIO()
        photo.save(buf, fmt)
        whole = buf.getvalue()
        assert decode_bytes(whole).problem is None, fmt
        broken = decode_bytes(whole[: len(whole) // 2])
        assert broken.problem, fmt


def test_modes_are_decoded(tmp_path):
    photo = source_photos()["chelsea"].resize((64, 48))
    cases = {
        "L": photo.convert("L"), "RGBA": photo.convert("RGBA"), "P": photo.convert("P"),
        "CMYK": photo.convert("CMYK"), "I;16": photo.convert("L").convert("I;16"),
    }
    for mode, img in cases.items():
        path = tmp_path / f"{mode.replace(';', '')}.{'jpg' if mode == 'CMYK' else 'png'}"
        img.save(path)
        dec = decode_file(str(path))
        assert dec.problem is None, (mode, dec.problem)
        assert (dec.width, dec.height) == (64, 48)
        assert len(dec.thumb) == 32 * 32 * 3


def test_decompression_bomb_is_reported_not_decoded(monkeypatch):
    data = jpeg_bytes(source_photos()["coffee"].resize((100, 100)))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    dec = decode_bytes(data)
    assert dec.problem.startswith("decompression bomb")
    assert dec.thumb == b""


def test_unreadable_file(tmp_path):
    assert "cannot read file" in decode_file(str(tmp_path / "missing.jpg")).problem
