"""The image classifier: NudeNet (optional extra `pip install .[moderation]`).

Its ONNX model ships inside the `nudenet` wheel (`nudenet/320n.onnx`), so nothing is
downloaded at run time. We run it through our own onnxruntime session with one thread
(intra and inter op), loaded lazily once per process, and feed it pixels we decoded and
downscaled ourselves (BGR, as NudeNet expects), never the upload's bytes: its OpenCV
decoder would bypass our pixel limit. It costs ~45 ms and ~100 MiB per process, so it is
meant for the worker (a job), not a request.

When the extra is not installed the check answers with `skipped=["classifier"]` and the
reason `classifier_unavailable`: never a silent allow (`classifier_status()` tells why, and
the platform logs it at start-up).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from admitone.integrations.moderation.base import CheckImage, Decision, Verdict

MODEL_FILE = "320n.onnx"
# The side NudeNet letterboxes images to (its model was trained at 320).
INPUT_SIDE = 320
# NudeNet 3.4.2's model (tests pin it: a changed model changes every verdict).
MODEL_SHA256 = "c15d8273adad2d0a92f014cc69ab2d6c311a06777a55545f2c4eb46f51911f0f"
# Exposed sexual body parts: what a moderator must see. FACE_*, FEET_*, ARMPITS_*,
# BELLY_*, MALE_BREAST_EXPOSED and the *_COVERED labels are ordinary in a photo.
SENSITIVE_LABELS = (
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "FEMALE_BREAST_EXPOSED",
    "BUTTOCKS_EXPOSED",
    "ANUS_EXPOSED",
)

_lock = threading.Lock()
# One inference at a time per process: the session has one thread, and two requests at
# once would only queue on the GIL and double the memory in flight.
_run_lock = threading.Lock()
_detector: Any = None


def extra_installed() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("nudenet", "onnxruntime"))


def classifier_status() -> str | None:
    """None when the classifier can run; otherwise why not (for the start-up warning)."""
    if not extra_installed():
        return (
            "the image classifier (NudeNet) is not installed: image moderation runs the "
            "hash block-list only and marks every image `classifier_unavailable`; install "
            "it with `pip install 'admitone[moderation]'`"
        )
    return None


def model_path() -> Path:
    spec = importlib.util.find_spec("nudenet")
    if spec is None or spec.origin is None:
        raise RuntimeError("nudenet is not installed")
    return Path(spec.origin).parent / MODEL_FILE


def model_sha256() -> str:
    return hashlib.sha256(model_path().read_bytes()).hexdigest()


def detector() -> Any:
    """NudeNet's detector over our one-thread onnxruntime session, built on first use."""
    global _detector
    if _detector is None:
        with _lock:
            if _detector is None:
                import onnxruntime
                from nudenet import NudeDetector

                options = onnxruntime.SessionOptions()
                options.intra_op_num_threads = 1
                options.inter_op_num_threads = 1
                options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
                session = onnxruntime.InferenceSession(
                    str(model_path()), sess_options=options, providers=["CPUExecutionProvider"]
                )
                # NudeDetector() would open its own session with default (all-core)
                # threading; this is its __init__ with our session.
                found = NudeDetector.__new__(NudeDetector)
                found.onnx_session = session
                found.input_width = found.input_height = 320
                found.input_name = session.get_inputs()[0].name
                _detector = found
    return _detector


@functools.cache
def _sized(side: int) -> Any:
    """The detector over the same session, letterboxing to `side` instead of 320 (the
    model takes any multiple of 32; fewer pixels cost less and may see less)."""
    from nudenet import NudeDetector

    base = detector()
    found = NudeDetector.__new__(NudeDetector)
    found.onnx_session = base.onnx_session
    found.input_width = found.input_height = side
    found.input_name = base.input_name
    return found


def detect(image: CheckImage, side: int = INPUT_SIDE) -> list[dict[str, Any]]:
    """NudeNet's detections (`class`, `score`, `box`) for our decoded pixels, letterboxed
    to `side` (NudeNet's own 320 by default)."""
    bgr = np.ascontiguousarray(np.asarray(image.image.convert("RGB"))[:, :, ::-1])
    found = detector() if side == INPUT_SIDE else _sized(side)
    with _run_lock:
        detections: list[dict[str, Any]] = found.detect(bgr)
    return detections


@dataclass(frozen=True)
class NudityCheck:
    """Blocks an image where a sensitive label scores at least `block_score`, sends one
    scoring at least `review_score` to a moderator (the model's accuracy on real photos was
    not measured here: keep `block_score` high and let people decide the rest)."""

    review_score: float = 0.45
    block_score: float = 0.85
    labels: tuple[str, ...] = SENSITIVE_LABELS
    name: str = "classifier"
    input_side: int = INPUT_SIDE

    def check(self, image: CheckImage) -> Verdict:
        if not extra_installed():
            return Verdict(Decision.ALLOW, ["classifier_unavailable"], [self.name])
        found = detect(image, self.input_side)
        top = max((d["score"] for d in found if d["class"] in self.labels), default=0.0)
        if top >= self.block_score:
            return Verdict(Decision.BLOCK, ["nudity"])
        if top >= self.review_score:
            return Verdict(Decision.REVIEW, ["possible_nudity"])
        return Verdict.allow()
