"""What the page receives per second of avatar video while the avatar speaks: `python -m avatarlab.bench.transport`.

Renders the avatar speaking a sentence (espeak-ng) with the exported bundle, encodes every frame as the live
server does (each codec `format:quality`, JPEG or WebP), and prints the bit rate of the video at 25 frames/s,
the PSNR of the decoded frames against the rendered ones and the encoding time per frame, at the bundle's size
and at 256 px. A bundle rendered at 128 px is
upscaled (bicubic) to 256 px unless `bundle_256=DIR` gives one trained at 256 px; the table says which. An
upscaled render is smoother than a real face, so the frames of a real video of a person speaking (`real_video=`,
by default the shared real clip, its middle square resized to 256 px) are measured beside it: the detail of real
skin and hair is what a photorealistic avatar at 256 px sends. The bar: under 1.5 Mbit/s at 256 px with at least
35 dB.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import cv2
import numpy as np

from avatarlab.cli import checked, key_value_options
from avatarlab.errors import UserInputError, exit_with
from avatarlab.serve.transport import IMAGE_FORMATS, FrameCodec, decode_image

ROOT = Path(__file__).resolve().parents[2]
DEFAULTS = {
    "bundle": str(ROOT / "bundles" / "avatar_quickstart"),
    "bundle_256": "",
    "real_video": str(ROOT.parent / "shared" / "data" / "hdtf_katie_8s.mp4"),
    "text": "I love talking about colours. Mine is a deep ocean blue, the colour of the sea on a calm evening.",
    "codecs": "jpeg:60,jpeg:85,webp:74",
    "frames": 100,
}
BAR_MBIT, BAR_DB = 1.5, 35.0


def speaking_frames(bundle: str, text: str, count: int) -> np.ndarray:
    """[count, S, S, 3] uint8 frames of the bundle's avatar saying `text`."""
    from avatarlab.runtime.avatar import Avatar
    from avatarlab.runtime.tts import EspeakTTS

    if not (Path(bundle) / "manifest.json").is_file():
        raise UserInputError(f"no avatar bundle at {bundle}", "run `make demo`, or pass bundle=DIR")
    avatar = Avatar.from_bundle(bundle)
    audio = EspeakTTS("en-us+f3", 165, 50, 50).synthesize(text).audio
    n = min(count, int(len(audio) / 16000 * avatar.spec.fps))
    codes, _ = avatar.codes_from_mel(avatar.mel_from_audio(audio, n))
    return np.stack(list(avatar.render_sequence(codes[:n])))


def real_frames(video: str, count: int, size: int) -> np.ndarray:
    """[count, size, size, 3] uint8 RGB frames of `video`: each frame's middle square, resized to `size`."""
    capture = cv2.VideoCapture(video)
    frames = []
    while len(frames) < count:
        ok, frame = capture.read()
        if not ok:
            break
        h, w = frame.shape[:2]
        side = min(h, w)
        y, x = (h - side) // 2, (w - side) // 2
        square = cv2.resize(frame[y : y + side, x : x + side], (size, size), interpolation=cv2.INTER_AREA)
        frames.append(cv2.cvtColor(square, cv2.COLOR_BGR2RGB))
    capture.release()
    if not frames:
        raise UserInputError(f"no frames could be read from {video}", "pass real_video=PATH to a readable video")
    return np.stack(frames)


def measure(frames: np.ndarray, codec: FrameCodec, fps: float = 25.0) -> tuple[float, float, float]:
    """(Mbit/s at `fps`, mean PSNR in dB of the decoded frames, mean encoding ms per frame)."""
    sizes, psnr, seconds = [], [], 0.0
    for frame in frames:
        started = time.perf_counter()
        data = codec.encode(frame)
        seconds += time.perf_counter() - started
        decoded = decode_image(data).astype(np.float64)
        sizes.append(len(data))
        mse = max(float(np.mean((decoded - frame) ** 2)), 1e-10)
        psnr.append(10 * np.log10(255.0**2 / mse))
    return float(np.mean(sizes)) * 8 * fps / 1e6, float(np.mean(psnr)), 1000 * seconds / len(frames)


def parse_codecs(text: str) -> list[FrameCodec]:
    """ "jpeg:60,webp:74" -> the codecs."""
    codecs = []
    for item in text.split(","):
        image_format, _, quality = item.strip().partition(":")
        try:
            codecs.append(FrameCodec(image_format, int(quality)))
        except ValueError:
            raise UserInputError(
                f"codecs: {item!r} is not FORMAT:QUALITY",
                f"use e.g. codecs=jpeg:85,webp:74 (formats: {', '.join(IMAGE_FORMATS)}; quality 1-100)",
            ) from None
    return codecs


def main() -> None:
    try:
        options = key_value_options(sys.argv[1:], DEFAULTS)
        codecs = parse_codecs(str(options["codecs"]))
        count = checked("frames", options["frames"], int, minimum=1)
        if options["real_video"] and not Path(options["real_video"]).is_file():
            video = options["real_video"]
            raise UserInputError(f"no video at {video}", "pass real_video=PATH, or real_video= to skip it")
        small = speaking_frames(options["bundle"], options["text"], count)
        sets = {f"{small.shape[1]} px (rendered)": small}
        if options["bundle_256"]:
            sets["256 px (rendered)"] = speaking_frames(options["bundle_256"], options["text"], count)
        elif small.shape[1] != 256:
            up = np.stack([cv2.resize(f, (256, 256), interpolation=cv2.INTER_CUBIC) for f in small])
            sets[f"256 px (upscaled from {small.shape[1]})"] = up
        if options["real_video"]:
            sets["256 px (real video)"] = real_frames(options["real_video"], count, 256)
    except UserInputError as error:
        exit_with(error)
    print(f"avatar video as the live page receives it (an image per frame, 25 frames/s, {count} speaking frames)\n")
    print("| frames | codec | Mbit/s | PSNR (dB) | encode (ms/frame) |\n|---|---|---|---|---|")
    for name, frames in sets.items():
        for codec in codecs:
            rate, psnr, ms = measure(frames, codec)
            print(f"| {name} | {codec.format}:{codec.quality} | {rate:.2f} | {psnr:.1f} | {ms:.1f} |")
    print(
        f"\nbar at 256 px: under {BAR_MBIT} Mbit/s with at least {BAR_DB:.0f} dB "
        "(live.image_format and live.image_quality set the codec)"
    )


if __name__ == "__main__":
    main()
