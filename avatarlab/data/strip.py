"""A frame strip to look at: rows of frames (real, rendered ways), each row ending with a zoomed crop of the
face's skin, where speckle or blur shows."""

from __future__ import annotations

import cv2
import numpy as np

from avatarlab.metrics.artifacts import skin_mask

LABEL_HEIGHT = 18


def face_box(landmarks: np.ndarray, size: int) -> tuple[int, int, int, int]:
    """x0, y0, x1, y1 of a square around the skin of the face (cheeks, forehead, chin) in a [size, size] frame."""
    ys, xs = np.nonzero(skin_mask(landmarks, (size, size)))
    if len(xs) == 0:
        return 0, 0, size, size
    cx, cy = (xs.min() + xs.max()) // 2, (ys.min() + ys.max()) // 2
    half = max(8, (max(xs.max() - xs.min(), ys.max() - ys.min()) + 1) // 2)
    x0, y0 = int(np.clip(cx - half, 0, size - 2 * half)), int(np.clip(cy - half, 0, size - 2 * half))
    return x0, y0, min(size, x0 + 2 * half), min(size, y0 + 2 * half)


def labelled(image: np.ndarray, text: str) -> np.ndarray:
    """`image` with a band of text above it."""
    band = np.full((LABEL_HEIGHT, image.shape[1], 3), 255, np.uint8)
    cv2.putText(band, text, (3, LABEL_HEIGHT - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([band, image], 0)


def frame_strip(rows: dict[str, np.ndarray], landmarks: np.ndarray, columns: int) -> np.ndarray:
    """One image: for each row name, `columns` frames evenly spread over its frames [T, S, S, 3] (uint8 RGB), then
    the face of the first of them zoomed to the frame's height (nearest neighbour: each pixel stays visible).
    `landmarks` [T, 478, 2+] are the real frames' and place the zoom."""
    first = next(iter(rows.values()))
    count, size = len(first), first.shape[1]
    picks = np.linspace(0, count - 1, min(columns, count)).round().astype(int)
    x0, y0, x1, y1 = face_box(landmarks[picks[0]], size)
    lines = []
    for name, frames in rows.items():
        zoom = cv2.resize(frames[picks[0]][y0:y1, x0:x1], (size, size), interpolation=cv2.INTER_NEAREST)
        tiles = [frames[i] for i in picks] + [zoom]
        lines.append(labelled(np.concatenate(tiles, 1), f"{name}   (last: the face of the first, zoomed)"))
    return np.concatenate(lines, 0)
