"""The image checks without the database: pHash block-list and the NudeNet classifier."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time

import imagehash
import numpy as np
import pytest
from PIL import Image

from admitone.core.images import ImageTooLarge, InvalidImage, UnsupportedImageType
from admitone.integrations.moderation import (
    CHECK_SIDE,
    Decision,
    Verdict,
    combine,
    decode_for_checks,
    image_checks,
    image_hash,
    run_image_checks,
)
from admitone.integrations.moderation.phash import (
    HashBlocklistCheck,
    hamming,
    hash_array,
    nearest,
)
from admitone.settings import ModerationSettings
from tests.moderation.photos import encode, jpeg, photo

MAX_PIXELS = 40_000_000


def _hash(data: bytes) -> int:
    return image_hash(decode_for_checks(data, max_pixels=MAX_PIXELS))


def test_hash_is_imagehash_phash_as_a_signed_64_bit_integer() -> None:
    image = decode_for_checks(jpeg(1), max_pixels=MAX_PIXELS)
    h = image_hash(image)
    assert -(2**63) <= h < 2**63
    assert f"{h & (2**64 - 1):016x}" == str(imagehash.phash(image.image))


def test_checks_see_a_downscaled_upright_copy() -> None:
    image = decode_for_checks(jpeg(2, (4000, 3000)), max_pixels=MAX_PIXELS)
    assert max(image.width, image.height) == CHECK_SIDE
    assert image.image.mode == "RGB"
    # An EXIF orientation of 6 (camera held upright) turns the pixels.
    exif = Image.Exif()
    exif[0x0112] = 6
    turned = decode_for_checks(
        encode(photo(2, (800, 600)), "JPEG", exif=exif.tobytes()), max_pixels=MAX_PIXELS
    )
    assert (turned.width, turned.height) == (240, 320)


def test_blocklist_catches_a_reencoded_and_downscaled_copy_and_passes_another_photo() -> None:
    original = jpeg(3, (1600, 1200), quality=92)
    blocked = hash_array([_hash(original), _hash(jpeg(4))])
    check = HashBlocklistCheck(blocked, max_distance=6)
    copy = encode(photo(3, (1600, 1200)).resize((400, 300)), "JPEG", quality=35)
    as_png = encode(photo(3, (1600, 1200)).resize((800, 600)), "PNG")
    for data in (original, copy, as_png):
        verdict = check.check(decode_for_checks(data, max_pixels=MAX_PIXELS))
        assert verdict == Verdict(Decision.BLOCK, ["image_blocklisted"])
    for seed in (5, 6, 7):
        other = decode_for_checks(jpeg(seed), max_pixels=MAX_PIXELS)
        assert check.check(other).decision is Decision.ALLOW
        assert hamming(image_hash(other), _hash(original)) > 12


def test_distance_counts_bits_of_negative_hashes_correctly() -> None:
    # numpy's bit count on a signed value counts its absolute value: the lookup must not.
    a = -1  # all 64 bits set
    blocked = hash_array([a, 0, 2**62])
    assert nearest(blocked, a) == (0, 0)
    assert nearest(blocked, -2) == (0, 1)
    assert nearest(blocked, 1) == (1, 1)
    assert nearest(hash_array([0]), -(2**63)) == (0, 1)
    assert nearest(hash_array([]), 5) is None


def test_lookup_over_100_000_entries_finds_the_planted_hash_in_about_a_tenth_of_a_ms() -> None:
    rng = np.random.default_rng(1)
    blocked = rng.integers(-(2**63), 2**63 - 1, size=100_000, dtype=np.int64)
    target = int(blocked[77_777])
    assert nearest(blocked, target) == (77_777, 0)
    assert nearest(blocked, target ^ 0b101) == (77_777, 2)
    runs = 200
    started = time.perf_counter()
    for _ in range(runs):
        nearest(blocked, target)
    per_lookup_ms = (time.perf_counter() - started) / runs * 1000
    # 0.1 ms measured (reference); a generous bound on a loaded shared box. The benchmark
    # (bench/moderation.py) reports the figure.
    assert per_lookup_ms < 5, per_lookup_ms


def test_uploads_are_refused_before_any_check_as_elsewhere() -> None:
    with pytest.raises(UnsupportedImageType):
        decode_for_checks(encode(photo(1, (64, 48)), "GIF"), max_pixels=MAX_PIXELS)
    with pytest.raises(InvalidImage):
        decode_for_checks(jpeg(1)[:300], max_pixels=MAX_PIXELS)
    with pytest.raises(ImageTooLarge):
        decode_for_checks(encode(Image.new("1", (10_000, 10_000)), "PNG"), max_pixels=MAX_PIXELS)


def test_combine_keeps_the_strictest_decision_and_every_reason() -> None:
    v = combine(
        [
            Verdict(Decision.ALLOW, ["classifier_unavailable"], ["classifier"]),
            Verdict(Decision.REVIEW, ["review_word"]),
            Verdict(Decision.ALLOW),
        ]
    )
    assert v == Verdict(Decision.REVIEW, ["classifier_unavailable", "review_word"], ["classifier"])
    assert not v.complete


def test_settings_choose_the_checks() -> None:
    none = ModerationSettings(image_checks=[])
    assert image_checks(none, hash_array([])) == []
    only_hash = image_checks(ModerationSettings(image_checks=["hash_blocklist"]), hash_array([]))
    assert [c.name for c in only_hash] == ["hash_blocklist"]
    both = image_checks(ModerationSettings(hash_max_distance=3), hash_array([]))
    assert [c.name for c in both] == ["hash_blocklist", "classifier"]


# --- NudeNet (the `moderation` extra; CI installs it) ------------------------------------------

nudenet_missing = pytest.mark.skipif(
    __import__("importlib").util.find_spec("nudenet") is None,
    reason="the `moderation` extra (nudenet, onnxruntime) is not installed: "
    "pip install -e '.[moderation]'",
)


@nudenet_missing
def test_the_model_file_is_the_pinned_one() -> None:
    from admitone.integrations.moderation import classifier

    path = classifier.model_path()
    assert path.name == "320n.onnx"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == (
        "c15d8273adad2d0a92f014cc69ab2d6c311a06777a55545f2c4eb46f51911f0f"
    )
    assert classifier.model_sha256() == classifier.MODEL_SHA256


@nudenet_missing
def test_nudenet_runs_on_our_pixels_with_one_thread() -> None:
    from admitone.integrations.moderation import classifier
    from admitone.integrations.moderation.classifier import NudityCheck, detect

    image = decode_for_checks(jpeg(8, (2000, 1500)), max_pixels=MAX_PIXELS)
    detections = detect(image)
    assert isinstance(detections, list)
    for d in detections:
        assert set(d) == {"class", "score", "box"}
        assert 0.2 <= d["score"] <= 1
        x, y, _w, _h = d["box"]
        assert 0 <= x <= image.width
        assert 0 <= y <= image.height
    assert detect(image) == detections  # deterministic
    options = classifier.detector().onnx_session.get_session_options()
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (1, 1)
    assert classifier.detector() is classifier.detector()  # loaded once per process
    sensitive = [d["score"] for d in detections if d["class"] in classifier.SENSITIVE_LABELS]
    top = max(sensitive, default=0.0)
    expected = Decision.BLOCK if top >= 0.85 else Decision.REVIEW if top >= 0.45 else Decision.ALLOW
    assert NudityCheck().check(image).decision is expected
    # Thresholds decide: at 0 every image goes to review, at 1.01 none is blocked.
    assert NudityCheck(review_score=0.0, block_score=1.01).check(image).decision is Decision.REVIEW


@nudenet_missing
def test_nudenet_takes_a_smaller_input_side_on_the_same_session() -> None:
    from admitone.integrations.moderation import classifier
    from admitone.integrations.moderation.classifier import detect

    image = decode_for_checks(jpeg(9, (1600, 1200)), max_pixels=MAX_PIXELS)
    small = detect(image, 256)
    assert isinstance(small, list)
    assert detect(image, 256) == small  # deterministic
    assert classifier._sized(256).onnx_session is classifier.detector().onnx_session
    for d in small:  # boxes in the image's own coordinates, whatever the input side
        assert 0 <= d["box"][0] <= image.width


@nudenet_missing
def test_with_the_classifier_installed_nothing_is_skipped() -> None:
    image = decode_for_checks(jpeg(9), max_pixels=MAX_PIXELS)
    verdict = run_image_checks(image_checks(ModerationSettings(), hash_array([])), image)
    assert verdict.skipped == []
    assert "classifier_unavailable" not in verdict.reasons


def test_without_the_extra_the_classifier_is_skipped_loudly_never_silently() -> None:
    """A fresh interpreter where `nudenet` cannot be imported (as without the extra): the
    app warns at start-up and the classifier reports itself skipped."""
    script = """
import logging, sys
sys.modules["nudenet"] = None  # import nudenet -> ImportError, as when not installed
logging.basicConfig(level=logging.WARNING)
from admitone.app import create_app
from admitone.settings import Settings, ModerationSettings
from admitone.integrations.moderation import decode_for_checks, image_checks, run_image_checks
from admitone.integrations.moderation.phash import hash_array
from PIL import Image
import io, tempfile
create_app(Settings(env="test", var_dir=tempfile.mkdtemp()), run_worker=False)
buf = io.BytesIO(); Image.new("RGB", (200, 100), (10, 120, 30)).save(buf, "JPEG")
image = decode_for_checks(buf.getvalue(), max_pixels=10**7)
v = run_image_checks(image_checks(ModerationSettings(), hash_array([])), image)
print("VERDICT", v.decision.value, v.reasons, v.skipped)
strict = run_image_checks(image_checks(ModerationSettings(), hash_array([])), image,
                          require_classifier=True)
print("STRICT", strict.decision.value)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "the image classifier (NudeNet) is not installed" in done.stderr
    assert "VERDICT allow ['classifier_unavailable'] ['classifier']" in done.stdout
    assert "STRICT review" in done.stdout
