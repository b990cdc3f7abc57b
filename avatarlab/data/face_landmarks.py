"""Named index sets of mediapipe's 478-point face mesh."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType


def _mesh_connections() -> ModuleType:
    """mediapipe's face-mesh edge lists (plain Python sets), read from the installed package without importing
    mediapipe itself: its native framework, loaded at import time, makes torch several times slower in the same
    process (measured: avatar training at 2 instead of 6 steps a second), and only face tracking needs it."""
    package = importlib.util.find_spec("mediapipe")
    if package is None or not package.submodule_search_locations:
        raise ImportError("mediapipe is not installed (pip install mediapipe==0.10.14)")
    path = Path(package.submodule_search_locations[0]) / "python" / "solutions" / "face_mesh_connections.py"
    spec = importlib.util.spec_from_file_location("avatarlab_face_mesh_connections", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fmc = _mesh_connections()

NUM_LANDMARKS = 478


def _indices(connections: frozenset) -> list[int]:
    return sorted({i for edge in connections for i in edge})


LIPS = _indices(fmc.FACEMESH_LIPS)
LEFT_EYE = _indices(fmc.FACEMESH_LEFT_EYE)
RIGHT_EYE = _indices(fmc.FACEMESH_RIGHT_EYE)
LEFT_BROW = _indices(fmc.FACEMESH_LEFT_EYEBROW)
RIGHT_BROW = _indices(fmc.FACEMESH_RIGHT_EYEBROW)
FACE_OVAL = _indices(fmc.FACEMESH_FACE_OVAL)

# The face oval in drawing order (a closed polygon).
FACE_OVAL_LOOP = [
    10,
    338,
    297,
    332,
    284,
    251,
    389,
    356,
    454,
    323,
    361,
    288,
    397,
    365,
    379,
    378,
    400,
    377,
    152,
    148,
    176,
    149,
    150,
    136,
    172,
    58,
    132,
    93,
    234,
    127,
    162,
    21,
    54,
    103,
    67,
    109,
]
LIPS_OUTER_LOOP = [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146]
LIPS_INNER_LOOP = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95]
UPPER_LIP_INNER, LOWER_LIP_INNER = 13, 14
MOUTH_LEFT, MOUTH_RIGHT = 61, 291
# Jaw line below the mouth corners (moves with speech).
JAW = [172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288]
# Eyelid pairs (upper, lower) used for blink.
LEFT_EYELIDS = [(386, 374), (387, 373), (385, 380)]
RIGHT_EYELIDS = [(159, 145), (158, 153), (160, 144)]
LEFT_EYE_CORNERS, RIGHT_EYE_CORNERS = (362, 263), (33, 133)
# Points that move little with expression: forehead, nose bridge, temples, eye corners, nose tip.
STABLE = [
    10,
    151,
    9,
    8,
    168,
    6,
    197,
    195,
    5,
    4,
    1,
    109,
    338,
    67,
    297,
    103,
    332,
    54,
    284,
    21,
    251,
    33,
    133,
    362,
    263,
    127,
    356,
    234,
    454,
    93,
    323,
    98,
    327,
    64,
    294,
    168,
    193,
    417,
]
STABLE = sorted(set(STABLE))

# Face points whose place on the head the video's canonical shape gives in every frame: not the lips and jaw
# (they move with speech) nor the outline (it lies on the silhouette, where a ray grazes the face).
FIXED_SURFACE = sorted(set(range(NUM_LANDMARKS)) - set(LIPS) - set(JAW) - set(FACE_OVAL))

# Expression keypoints: what moves with speech and expression.
EXPRESSION = sorted(set(LIPS) | set(JAW) | set(LEFT_EYE) | set(RIGHT_EYE) | set(LEFT_BROW) | set(RIGHT_BROW))
