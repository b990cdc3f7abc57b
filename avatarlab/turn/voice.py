"""Voice activity features for end-of-turn prediction: silero-vad's speech probability of every 32 ms frame,
read at 10 ms ticks: the silence since the last speech frame, the current and recent speech probability, and the
longest pause the speaker has held so far (a speaker who paused 0.6 s and went on will likely do it again).

The energy silence of the prosody track counts any sound as speech (a cough, a fan, a far voice); silero
tells speech from the rest, which is what real microphones need. Both the live predictor (push as audio
arrives) and offline replay (from_audio) read the same arrays, so they see identical numbers.
"""

from __future__ import annotations

import numpy as np

from avatarlab.runtime.vad import FRAME, SileroVAD
from avatarlab.spec.stream import AUDIO_RATE, TICK_RATE

VOICE_NAMES = ("voice_silence", "voice_silence_sqrt", "voice_now", "voice_320ms", "voice_hold")
VOICE_DIM = len(VOICE_NAMES)
SPEECH_PROBABILITY = 0.5  # a frame at or above this is speech
WINDOW_FRAMES = 10  # voice_320ms: the mean probability of the last ten frames
MAX_SILENCE_S = 3.0


class VoiceTrack:
    """Speech probabilities of one 16 kHz stream, frame by frame, with running sums for window means."""

    frame_s = FRAME / AUDIO_RATE

    def __init__(self) -> None:
        self._vad = SileroVAD(SPEECH_PROBABILITY, SPEECH_PROBABILITY, 0.0, 0.0, 0.0)
        self.reset()

    def reset(self) -> None:
        self._vad.reset()
        self.probs = np.zeros(0, np.float32)
        self.cum = np.zeros(1, np.float64)  # [F + 1] running sum of probs
        self.last_speech = np.full(1, -1, np.int64)  # [F + 1] the latest speech frame among the first f
        self.hold = np.zeros(1, np.int64)  # [F + 1] the longest pause (frames) between speech among the first f

    @classmethod
    def from_audio(cls, audio: np.ndarray) -> VoiceTrack:
        track = cls()
        track.push(audio)
        return track

    @property
    def n(self) -> int:
        return len(self.probs)

    def push(self, samples: np.ndarray) -> None:
        """Append audio (float32 mono, 16 kHz); scores every frame it completes."""
        new = self._vad.accept(np.asarray(samples, np.float32)).probs
        if not len(new):
            return
        start = self.n
        self.probs = np.concatenate([self.probs, new])
        self.cum = np.concatenate([self.cum, self.cum[-1] + np.cumsum(new, dtype=np.float64)])
        speech = np.flatnonzero(new >= SPEECH_PROBABILITY)
        latest = np.full(len(new), -1, np.int64)
        latest[speech] = start + speech
        latest = np.maximum.accumulate(np.maximum(latest, self.last_speech[-1]))
        previous = np.concatenate([self.last_speech[-1:], latest[:-1]])  # [new] the latest speech before each
        gaps = np.where((new >= SPEECH_PROBABILITY) & (previous >= 0), start + np.arange(len(new)) - previous - 1, 0)
        self.hold = np.concatenate([self.hold, np.maximum.accumulate(np.maximum(gaps, self.hold[-1]))])
        self.last_speech = np.concatenate([self.last_speech, latest])


def voice_features(track: VoiceTrack, steps: np.ndarray) -> np.ndarray:
    """[len(steps), VOICE_DIM] at ticks `steps` (t = step / 100 s), each from the frames complete by then."""
    steps = np.asarray(steps, np.int64)
    t = steps / TICK_RATE
    n = np.clip(np.floor(t / track.frame_s + 1e-9).astype(np.int64), 0, track.n)  # frames complete at each tick
    last = track.last_speech[n]
    silence = np.where(last >= 0, t - (last + 1) * track.frame_s, t)
    silence = np.clip(silence, 0.0, MAX_SILENCE_S)
    lo = np.maximum(n - WINDOW_FRAMES, 0)
    out = np.zeros((len(steps), VOICE_DIM), np.float32)
    out[:, 0] = silence
    out[:, 1] = np.sqrt(silence)
    out[:, 2] = np.where(n > 0, track.probs[np.maximum(n - 1, 0)] if track.n else 0.0, 0.0)
    out[:, 3] = (track.cum[n] - track.cum[lo]) / np.maximum(n - lo, 1)
    out[:, 4] = np.minimum(track.hold[n] * track.frame_s, MAX_SILENCE_S)
    return out
