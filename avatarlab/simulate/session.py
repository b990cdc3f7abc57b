"""A scripted conversation in real time: the simulated user speaks into the engine, the recorder keeps what
the avatar sends.

`Recorder` is the output sink: it pipes each frame to an H.264 encoder and keeps the audio sent (the output
clock of simulate mode). `SimulatedUser` plays the script's turns into the microphone in 20 ms chunks, each
`wait_s` after the avatar's next reply starts or ends, with the avatar's own output mixed back in when the
script asks for echo; it stamps each turn's ground truth (stage "user") on the timeline.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

from avatarlab.atomic import atomic_path
from avatarlab.data.media import AI_NOTICE, require_ffmpeg
from avatarlab.runtime.background import BackgroundLoop
from avatarlab.runtime.timeline import Clock, Timeline
from avatarlab.simulate.script import Script, ScriptTurn
from avatarlab.spec.stream import AUDIO_RATE

CHUNK_S = 0.02
NOISE_FLOOR = 3e-4  # the simulated microphone's own noise (about -70 dBFS)
TRIGGER_TIMEOUT_S = 20.0  # a turn waiting for a reply that never comes starts anyway


class Recorder:
    """The simulate-mode output sink: [S, S, 3] frames to an mp4 (video only, until finish()), audio kept in a
    preallocated buffer of `max_s` seconds. `on_audio(t, audio)` is told of every chunk sent."""

    def __init__(self, size: int, fps: int, video_tmp: Path, max_s: float) -> None:
        require_ffmpeg()
        self.size, self.fps = size, fps
        self.audio = np.zeros(round(max_s * AUDIO_RATE), np.float32)
        self.sent = 0  # samples sent
        self.frames = 0
        self.replies: list[tuple[int, float, float | None]] = []  # (reply, first tick, end) in session seconds
        self.on_audio: Callable[[float, np.ndarray], None] | None = None
        self._lock = threading.Lock()
        self.video_tmp = video_tmp
        cmd = ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{size}x{size}",
               "-r", str(fps), "-i", "-", "-c:v", "libx264", "-preset", "veryfast", "-crf", "18",
               "-pix_fmt", "yuv420p", "-f", "mp4", str(video_tmp)]  # fmt: skip
        self._encoder = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)

    def write(self, t: float, frame: np.ndarray, audio: np.ndarray, reply: int | None) -> None:
        assert self._encoder.stdin is not None
        self._encoder.stdin.write(memoryview(np.ascontiguousarray(frame)))  # the buffer itself, no copy here
        start = round(t * AUDIO_RATE)
        with self._lock:
            end = min(start + len(audio), len(self.audio))
            if end > start:
                self.audio[start:end] = audio[: end - start]
            self.sent = max(self.sent, end)
            self.frames += 1
            if reply is not None and (not self.replies or self.replies[-1][0] != reply):
                self.replies.append((reply, t, None))
            elif reply is None and self.replies and self.replies[-1][2] is None:
                self.replies[-1] = (self.replies[-1][0], self.replies[-1][1], t)
        if self.on_audio is not None:
            self.on_audio(t, audio)

    def sent_audio(self, start: int, count: int) -> np.ndarray:
        """Samples [start, start + count) of what was sent (zeros where nothing was)."""
        out = np.zeros(count, np.float32)
        with self._lock:
            lo, hi = max(0, start), min(start + count, self.sent)
            if hi > lo:
                out[lo - start : hi - start] = self.audio[lo:hi]
        return out

    def events_since(self, t: float) -> tuple[float | None, float | None]:
        """The first reply start at or after session time t (t itself if a reply was playing then), and the first
        reply end at or after t."""
        with self._lock:
            starts = [max(s, t) for _, s, e in self.replies if s >= t or e is None or e >= t]
            ends = [e for _, _, e in self.replies if e is not None and e >= t]
        return (min(starts) if starts else None), (min(ends) if ends else None)

    def finish(self, out: Path, mic: np.ndarray) -> Path:
        """Close the encoder and mux the avatar's audio (first track) and the microphone (second) into `out`."""
        assert self._encoder.stdin is not None
        self._encoder.stdin.close()
        error = self._encoder.stderr.read().decode(errors="replace") if self._encoder.stderr else ""
        if self._encoder.wait() != 0:
            raise RuntimeError(f"ffmpeg failed encoding the avatar's video: {error}")
        seconds = self.frames / self.fps
        n = round(seconds * AUDIO_RATE)
        avatar_wav, mic_wav = out.with_suffix(".avatar.wav"), out.with_suffix(".mic.wav")
        sf.write(avatar_wav, self.audio[:n], AUDIO_RATE)
        sf.write(mic_wav, np.pad(mic[:n], (0, max(0, n - len(mic)))), AUDIO_RATE)
        with atomic_path(out) as tmp:
            cmd = ["ffmpeg", "-v", "error", "-y", "-i", str(self.video_tmp), "-i", str(avatar_wav), "-i", str(mic_wav),
                   "-map", "0:v", "-map", "1:a", "-map", "2:a", "-c:v", "copy", "-c:a", "aac", "-b:a", "96k",
                   "-metadata", f"comment={AI_NOTICE}", "-metadata", "title=avatarlab simulated conversation",
                   "-metadata:s:a:0", "title=avatar", "-metadata:s:a:1", "title=user microphone",
                   "-movflags", "+faststart", "-f", "mp4", str(tmp)]  # fmt: skip
            result = subprocess.run(cmd, capture_output=True)
            if result.returncode != 0:
                raise RuntimeError(f"ffmpeg failed muxing {out}: {result.stderr.decode(errors='replace')}")
        for path in (avatar_wav, mic_wav, self.video_tmp):
            path.unlink(missing_ok=True)
        return out


class SimulatedUser(BackgroundLoop):
    """Plays `script` into `hear` in real time (see the module's doc); its own thread."""

    def __init__(
        self,
        script: Script,
        hear: Callable[[np.ndarray], None],
        recorder: Recorder,
        clock: Clock,
        timeline: Timeline,
        max_s: float,
        seed: int,
    ) -> None:
        self.script, self.hear, self.recorder, self.clock, self.timeline = script, hear, recorder, clock, timeline
        self.mic = np.zeros(round(max_s * AUDIO_RATE), np.float32)  # what the microphone heard
        self.chunk = round(CHUNK_S * AUDIO_RATE)
        self.rng = np.random.default_rng(seed)
        self.turn_times: list[tuple[float, float]] = []  # each turn's (start, end) of audio, session seconds
        self.done = threading.Event()
        BackgroundLoop.__init__(self, "simulated-user")

    def _run(self) -> None:
        sample = 0  # microphone samples sent
        turn_index = 0
        plan_start: float | None = None
        playing: tuple[int, np.ndarray, int] | None = None  # (turn index, audio, first mic sample)
        waiting_since = 0.0
        while self.running:
            due = sample / AUDIO_RATE
            wait = due - self.clock.now()
            if wait > 0:
                time.sleep(min(wait, 0.01))
                continue
            now = due
            if playing is None and turn_index < len(self.script.turns) and plan_start is None:
                plan_start = self._trigger(self.script.turns[turn_index], waiting_since, now)
            if playing is None and plan_start is not None and now >= plan_start:
                turn = self.script.turns[turn_index]
                playing = (turn_index, turn.audio, sample)
                self._stamp_turn(turn_index, now)
                plan_start = None
            chunk = self.rng.normal(0.0, NOISE_FLOOR, self.chunk).astype(np.float32)
            if playing is not None:
                index, audio, first = playing
                part = audio[sample - first : sample - first + self.chunk]
                chunk[: len(part)] += part
                if sample - first + self.chunk >= len(audio):
                    end = (first + len(audio)) / AUDIO_RATE
                    self.turn_times.append((first / AUDIO_RATE, end))
                    self.timeline.stamp_at(end, "user", "end", id=index)
                    playing = None
                    turn_index += 1
                    waiting_since = end
                    if turn_index == len(self.script.turns):
                        self.done.set()
            if self.script.echo_gain > 0:
                delay = round(self.script.echo_delay_s * AUDIO_RATE)
                chunk += self.script.echo_gain * self.recorder.sent_audio(sample - delay, self.chunk)
            end = min(sample + self.chunk, len(self.mic))
            self.mic[sample:end] = chunk[: end - sample]
            self.hear(chunk)
            sample += self.chunk

    def _trigger(self, turn: ScriptTurn, since: float, now: float) -> float | None:
        """When the next turn starts (session seconds), once its trigger has happened; None while waiting."""
        started, ended = self.recorder.events_since(since)
        event = started if turn.after == "reply_start" else ended
        if event is None and now - since > TRIGGER_TIMEOUT_S:
            self.timeline.stamp_at(now, "user", "no_reply", waited_s=now - since)
            event = now
        return None if event is None else event + turn.wait_s

    def _stamp_turn(self, index: int, t: float) -> None:
        turn = self.script.turns[index]
        self.timeline.stamp_at(t, "user", "start", id=index, label=f"{turn.kind}: {turn.text}", kind=turn.kind)
        self.timeline.stamp_at(t + turn.speech[0], "user", "speech_start", turn=index, kind=turn.kind)
        self.timeline.stamp_at(t + turn.speech[1], "user", "speech_end", turn=index, kind=turn.kind, text=turn.text)
