"""The page's wire format, the output sink's queueing, the event relay, and the off-localhost requirements."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from avatarlab.config_args import config_values
from avatarlab.errors import UserInputError
from avatarlab.runtime.timeline import Event
from avatarlab.serve.live import (
    EventRelay,
    LiveOptions,
    ProtocolError,
    access_token,
    check_hello,
    decode_audio,
    tls_context,
)
from avatarlab.serve.transport import HEADER, FrameCodec, WebSocketSink, decode_image, pack_frame, unpack_frame


def options(**changes: object) -> LiveOptions:
    values = {k: v for k, v in config_values("serve.yaml", "live")["live"].items() if k != "_target_"}
    return LiveOptions(**{**values, **changes})


def test_a_frame_message_round_trips_with_its_audio_aligned() -> None:
    rng = np.random.default_rng(0)
    frame = (rng.random((64, 64, 3)) * 255).astype(np.uint8)
    frame[16:48, 16:48] = (200, 30, 30)
    audio = np.sin(np.arange(640) / 7.0).astype(np.float32) * 0.5
    message = pack_frame(12.34, 7, audio, FrameCodec("jpeg", 95).encode(frame))
    assert HEADER.size == 20  # the audio starts on a 4-byte boundary
    decoded = unpack_frame(message)
    assert decoded.t == 12.34 and decoded.reply == 7
    np.testing.assert_allclose(decoded.audio, audio, atol=1 / 32767)
    image = decode_image(decoded.image)
    assert image.shape == frame.shape and np.abs(image[20:44, 20:44].astype(int) - (200, 30, 30)).mean() < 12
    assert unpack_frame(pack_frame(0.0, None, audio, b"")).reply is None


def test_a_page_that_does_not_read_loses_frames_not_events() -> None:
    async def run() -> WebSocketSink:
        sink = WebSocketSink(asyncio.get_running_loop(), FrameCodec("jpeg", 80), max_queue=4, sync_probe=False)
        frame, audio = np.zeros((32, 32, 3), np.uint8), np.zeros(640, np.float32)
        for i in range(10):
            sink.write(i * 0.04, frame, audio, None)
        sink.send_json({"type": "state", "state": "listening"})
        await asyncio.sleep(0.05)
        return sink

    sink = asyncio.run(run())
    assert sink.frames == 10 and sink.queue.qsize() == 4 and sink.dropped == 7
    assert isinstance(list(sink.queue._queue)[-1], str)  # the event displaced a frame
    assert sink.stalled_s() > 0


def test_the_relay_turns_events_into_page_messages() -> None:
    sent: list[dict] = []
    relay = EventRelay(sent.append, lambda: [{"role": "user", "t": 1.0, "text": "hi"}])
    for event in (
        Event(1.0, "vad", "start", {}),
        Event(2.0, "asr", "word", {"text": "hi"}),
        Event(2.5, "vad", "end", {}),
        Event(2.7, "turn", "reply", {"reply": 3, "kept_draft": False}),
        Event(3.4, "output", "start", {"id": 3}),
        Event(5.0, "output", "end", {"id": 3, "status": "done"}),
    ):
        relay(event)
    kinds = [m["type"] for m in sent]
    assert kinds == ["state", "words", "state", "transcript", "state", "latency", "state", "transcript"]
    assert sent[5] == {"type": "latency", "reply": 3, "seconds": 0.9}


def test_hello_and_audio_are_checked() -> None:
    check_hello({"type": "hello", "sample_rate": 16000, "channels": 1})
    with pytest.raises(ProtocolError, match="16000 Hz mono"):
        check_hello({"type": "hello", "sample_rate": 48000, "channels": 1})
    with pytest.raises(ProtocolError, match="even number"):
        decode_audio(b"\x00\x01\x02")
    assert decode_audio(np.array([16384, -32768], "<i2").tobytes()).tolist() == [0.5, -1.0]


def test_serving_beyond_localhost_needs_tls_and_a_token(tmp_path) -> None:
    assert access_token(options(), None) is None  # localhost: no token unless one is given
    assert access_token(options(), "from-env") == "from-env"
    assert len(access_token(options(host="0.0.0.0"), None) or "") >= 16  # generated
    assert tls_context(options(), tmp_path) is None
    with pytest.raises(UserInputError, match="needs TLS"):
        tls_context(options(host="0.0.0.0"), tmp_path)
    context = tls_context(options(host="192.168.1.5", self_signed=True), tmp_path / "tls")
    assert context is not None and (tmp_path / "tls" / "self-signed.crt").is_file()


def test_the_default_codec_follows_the_frame_size() -> None:
    from avatarlab.serve.live import frame_codec

    assert frame_codec(options(), 128) == FrameCodec("jpeg", 85) and frame_codec(options(), 256) == FrameCodec(
        "webp", 74
    )
    assert frame_codec(options(image_quality=40), 256) == FrameCodec("webp", 40)
    assert frame_codec(options(image_format="jpeg"), 256) == FrameCodec("jpeg", 85)


@pytest.mark.parametrize("image_format", ["jpeg", "webp"])
def test_both_codecs_round_trip_a_real_looking_frame(image_format: str) -> None:
    rng = np.random.default_rng(1)
    y, x = np.mgrid[:256, :256]
    frame = np.stack([(x + y) / 2, 128 + 60 * np.sin(x / 9.0), 255 - y], -1) + rng.normal(0, 2, (256, 256, 3))
    frame = np.clip(frame, 0, 255).astype(np.uint8)
    data = FrameCodec(image_format, 74).encode(frame)
    assert data[:2] == b"\xff\xd8" if image_format == "jpeg" else data[:4] + data[8:12] == b"RIFFWEBP"
    decoded = decode_image(data).astype(np.float64)
    psnr = 10 * np.log10(255.0**2 / np.mean((decoded - frame) ** 2))
    assert decoded.shape == frame.shape and psnr > 30


def test_a_bad_codec_is_refused() -> None:
    with pytest.raises(ValueError, match="format"):
        FrameCodec("png", 80)
    with pytest.raises(ValueError, match="quality"):
        FrameCodec("webp", 101)


def bandwidth_rows(*args: str) -> list[tuple[str, float, float]]:
    """(frames, Mbit/s, PSNR) of each row the bandwidth benchmark prints."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "avatarlab.bench.transport", "codecs=jpeg:60,webp:74", "frames=20", *args],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = [line.split("|") for line in result.stdout.splitlines() if line.startswith("| ") and "px" in line]
    return [(row[1].strip(), float(row[3]), float(row[4])) for row in rows]


@pytest.mark.slow
def test_the_bandwidth_benchmark_prints_both_sizes(avatar_bundle) -> None:
    rows = bandwidth_rows(f"bundle={avatar_bundle}", "real_video=")
    assert len(rows) == 4 and rows[3][0].startswith("256 px (upscaled")
    assert all(0 < rate < 10 and psnr > 25 for _, rate, psnr in rows)


@pytest.mark.slow
def test_the_bandwidth_benchmark_measures_a_real_face_at_256(avatar_bundle, shared_data) -> None:
    rows = bandwidth_rows(f"bundle={avatar_bundle}", f"real_video={shared_data / 'hdtf_katie_8s.mp4'}")
    (_, jpeg_rate, jpeg_psnr), (name, webp_rate, webp_psnr) = rows[-2:]
    assert name == "256 px (real video)" and 0.1 < webp_rate < 10 and webp_psnr > 30
    assert webp_rate < jpeg_rate and webp_psnr > jpeg_psnr  # WebP at 74 beats JPEG at 60 on both counts


def test_the_bandwidth_benchmark_refuses_a_missing_video(avatar_bundle, tmp_path) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "avatarlab.bench.transport", f"bundle={avatar_bundle}", f"real_video={tmp_path}/no.mp4"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode != 0 and "no video at" in result.stderr
