"""Known-bad images: a perceptual-hash (pHash) block-list.

A pHash is 64 bits; we store it as a signed 64-bit integer (what a BIGINT column holds)
and compare by Hamming distance: a re-encoded, resized or lightly edited copy of a blocked
image lands within a few bits of it. The lookup is one vectorised XOR and bit count over
every entry (0.1 ms for 100,000 entries; bench/moderation.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import imagehash
import numpy as np
from numpy.typing import NDArray
from PIL import Image

from admitone.integrations.moderation.base import CheckImage, Decision, Verdict

HashArray = NDArray[np.int64]
EMPTY: HashArray = np.zeros(0, dtype=np.int64)


def phash(image: Image.Image) -> int:
    """The image's 64-bit pHash as a signed integer (two's complement of imagehash's bits,
    most significant bit first, so `hex(h & (2**64 - 1))` is imagehash's own string)."""
    bits = imagehash.phash(image).hash.flatten()
    return int.from_bytes(np.packbits(bits).tobytes(), "big", signed=True)


def hash_array(hashes: list[int]) -> HashArray:
    return np.asarray(hashes, dtype=np.int64) if hashes else EMPTY


def nearest(blocked: HashArray, h: int) -> tuple[int, int] | None:
    """(index, Hamming distance) of the closest blocked hash, or None for an empty list."""
    if blocked.size == 0:
        return None
    # Bits are counted on the unsigned view: numpy counts a signed value's absolute value.
    distances = np.bitwise_count(blocked.view(np.uint64) ^ np.int64(h).view(np.uint64))
    index = int(distances.argmin())
    return index, int(distances[index])


def hamming(a: int, b: int) -> int:
    return ((a ^ b) & 0xFFFF_FFFF_FFFF_FFFF).bit_count()


@dataclass(frozen=True)
class HashBlocklistCheck:
    """Blocks an image within `max_distance` bits of a blocked hash. `blocked` is the whole
    list (the `moderation` domain keeps it per process and reloads it when it changes)."""

    blocked: HashArray
    max_distance: int = 6
    name: str = "hash_blocklist"

    def check(self, image: CheckImage) -> Verdict:
        return self.check_hash(phash(image.image))

    def check_hash(self, h: int) -> Verdict:
        found = nearest(self.blocked, h)
        if found is not None and found[1] <= self.max_distance:
            return Verdict(Decision.BLOCK, ["image_blocklisted"])
        return Verdict.allow()
