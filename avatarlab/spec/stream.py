"""Audio and video rates shared by preparation, training, evaluation and the live loop."""

from __future__ import annotations

import math

AUDIO_RATE = 16000  # Hz, mono: every audio path inside avatarlab
VIDEO_FPS = 25.0  # prepared subjects and rendered avatars
MEL_RATE = 100  # log-mel rows per second (10 ms hop)
MEL_PER_FRAME = 4  # mel rows per 25 fps video frame: frame t <-> rows 4t..4t+3
MEL_FLOOR = math.log(1e-6)  # log-mel of silence (the value features are padded with)
TICK_RATE = 100  # turn predictor frames and replay ticks per second
