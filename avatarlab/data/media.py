"""Video and audio decoding and encoding through ffmpeg."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatarlab.errors import UserInputError
from avatarlab.spec.stream import AUDIO_RATE


@dataclass(frozen=True)
class MediaInfo:
    """What ffprobe says about a file."""

    path: Path
    duration: float
    has_video: bool
    has_audio: bool
    width: int
    height: int
    fps: float


# Every video avatarlab writes says so in its metadata (the page shows the same label).
AI_NOTICE = "AI-generated avatar: contains a synthetic person rendered by avatarlab"


def require_ffmpeg() -> None:
    for tool in ("ffmpeg", "ffprobe"):
        if shutil.which(tool) is None:
            raise UserInputError(
                f"{tool} is not installed",
                "install ffmpeg (Debian/Ubuntu: apt-get install ffmpeg; or run `make setup`)",
            )


def probe(path: str | Path) -> MediaInfo:
    """Probe a media file; raise a UserInputError when it is missing or not media ffmpeg reads."""
    require_ffmpeg()
    source = Path(path)
    if not source.exists():
        raise UserInputError(f"input {source} does not exist", "pass input=PATH to an existing video file")
    if not source.is_file():
        raise UserInputError(f"input {source} is not a file", "pass input=PATH to a video file, not a folder")
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format", str(source)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise UserInputError(
            f"{source} is not a video ffmpeg can read ({_last_line(result.stderr, 'unknown format')})",
            "pass a video file (mp4, mov, mkv, webm, avi, ...)",
        )
    info = json.loads(result.stdout or "{}")
    streams = info.get("streams", [])
    video = next(
        (s for s in streams if s.get("codec_type") == "video" and s.get("disposition", {}).get("attached_pic", 0) == 0),
        None,
    )
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    duration = float(info.get("format", {}).get("duration") or (video or {}).get("duration") or 0.0)
    fps = 0.0
    if video is not None:
        num, _, den = (video.get("avg_frame_rate") or "0/1").partition("/")
        fps = float(num) / float(den) if den and float(den) else 0.0
    return MediaInfo(
        path=source,
        duration=duration,
        has_video=video is not None,
        has_audio=audio is not None,
        width=int((video or {}).get("width", 0)),
        height=int((video or {}).get("height", 0)),
        fps=fps,
    )


def video_size_after_scale(info: MediaInfo, max_side: int | None) -> tuple[int, int]:
    """Width and height after scaling so that the longer side is at most `max_side` (even numbers)."""
    width, height = info.width, info.height
    if max_side and max(width, height) > max_side:
        scale = max_side / max(width, height)
        width, height = int(round(width * scale / 2)) * 2, int(round(height * scale / 2)) * 2
    return width, height


def iter_frames(info: MediaInfo, fps: float, max_side: int | None = None) -> Iterator[np.ndarray]:
    """Yield RGB uint8 frames [H, W, 3], resampled to `fps` and optionally downscaled."""
    width, height = video_size_after_scale(info, max_side)
    filters = [f"fps={fps}", f"scale={width}:{height}:flags=area"]
    cmd = [
        "ffmpeg",
        "-v",
        "error",
        "-i",
        str(info.path),
        "-map",
        "0:v:0",
        "-vf",
        ",".join(filters),
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-",
    ]
    frame_bytes = width * height * 3
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        try:
            while True:
                buffer = proc.stdout.read(frame_bytes)
                if len(buffer) < frame_bytes:
                    break
                yield np.frombuffer(buffer, np.uint8).reshape(height, width, 3)
        finally:
            proc.stdout.close()
            proc.kill()


def decode_audio(path: str | Path, rate: int = AUDIO_RATE) -> np.ndarray:
    """Decode the first audio stream to float32 mono at `rate`."""
    cmd = ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:a:0", "-ac", "1", "-ar", str(rate), "-f", "f32le", "-"]
    result = subprocess.run(cmd, capture_output=True)
    if result.returncode != 0:
        last_line = (result.stderr.decode(errors="replace").strip().splitlines() or ["no audio stream"])[-1]
        raise UserInputError(
            f"could not decode audio of {path}: {last_line}", "pass a file that plays and holds an audio stream"
        )
    return np.frombuffer(result.stdout, np.float32).copy()


def write_video(
    path: str | Path, frames: Iterable[np.ndarray], fps: float, audio: Path | None = None, crf: int = 18
) -> None:
    """Encode RGB uint8 frames to H.264 mp4 at `path`, with an audio file muxed in when given; the metadata carries
    AI_NOTICE."""
    require_ffmpeg()
    frames = iter(frames)
    first = next(frames)
    height, width = first.shape[:2]
    cmd = [
        "ffmpeg",
        "-v",
        "error",
        "-y",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-s",
        f"{width}x{height}",
        "-r",
        str(fps),
        "-i",
        "-",
    ]
    if audio is not None:
        cmd += ["-i", str(audio), "-c:a", "aac", "-b:a", "128k", "-shortest"]
    cmd += [
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        str(crf),
        "-pix_fmt",
        "yuv420p",
        "-metadata",
        f"comment={AI_NOTICE}",
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
        str(path),
    ]
    with subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdin is not None
        try:
            proc.stdin.write(np.ascontiguousarray(first).tobytes())
            for frame in frames:
                proc.stdin.write(np.ascontiguousarray(frame).tobytes())
        finally:
            proc.stdin.close()
        error = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if proc.wait() != 0:
            raise RuntimeError(f"ffmpeg failed writing {path}: {error}")


def _last_line(text: str, default: str) -> str:
    """The last non-empty line of a tool's output (its error, usually), or `default`."""
    lines = text.strip().splitlines()
    return lines[-1] if lines else default
