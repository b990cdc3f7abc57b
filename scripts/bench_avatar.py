"""Avatar benchmark: hash-grid encode throughput (torch backend, forward and backward) and render
frames per second at 128, 256 and 512 px for the quickstart model.

    python scripts/bench_avatar.py [bundle=bundles/avatar_quickstart | run=logs/RUN_DIR] [threads=2]

Without a bundle or run, the newest logs/*avatar_quickstart* run is used (render speed depends on the
trained occupancy grid). 256 and 512 px render the same model through a camera scaled up.
"""

from __future__ import annotations

import copy
import dataclasses
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from avatarlab.cli import checked, key_value_options  # noqa: E402
from avatarlab.errors import UserInputError, exit_with  # noqa: E402


def encode_throughput(threads: int, points: int = 65536, repeats: int = 5) -> dict[str, float]:
    from avatarlab.avatar.encodings import hash_grid

    torch.set_num_threads(threads)
    grid = hash_grid(
        3,
        num_levels=10,
        features_per_level=2,
        log2_hashmap_size=14,
        base_resolution=16,
        max_resolution=256,
        backend="torch",
    )
    x = torch.rand(points, 3)
    with torch.no_grad():
        grid(x)
        start = time.perf_counter()
        for _ in range(repeats):
            grid(x)
        forward = points * repeats / (time.perf_counter() - start)
    grid(x).sum().backward()
    start = time.perf_counter()
    for _ in range(repeats):
        grid.zero_grad()
        grid(x).square().sum().backward()
    both = points * repeats / (time.perf_counter() - start)
    return {"forward_points_per_s": forward, "forward_backward_points_per_s": both}


def at_size(model, size: int):  # type: ignore[no-untyped-def]
    """A copy of an AvatarModel rendering at `size` px (camera and plate scaled)."""
    scaled = copy.deepcopy(model)
    factor = size / model.spec.size
    camera = {k: v * factor for k, v in model.spec.camera.items()}
    scaled.spec = dataclasses.replace(model.spec, size=size, camera=camera)
    plate = model.background.permute(2, 0, 1)[None]
    scaled.background = (
        torch.nn.functional.interpolate(plate, size=(size, size), mode="bilinear", align_corners=False)[0]
        .permute(1, 2, 0)
        .contiguous()
    )
    return scaled


def find_model(args: dict[str, str]) -> tuple[torch.nn.Module, str]:
    """The AvatarModel to measure (from bundle=, run=, or the newest quickstart run) and where it came from."""
    from avatarlab.avatar.lit import load_checkpoint, model_from_checkpoint
    from avatarlab.export.run_checkpoint import find_checkpoint
    from avatarlab.runtime.avatar import Avatar

    if "bundle" in args:
        return Avatar.from_bundle(args["bundle"]).model, args["bundle"]
    if "run" in args:
        run = Path(args["run"])
    else:
        runs = sorted(
            (p for p in (ROOT / "logs").glob("*avatar_quickstart*") if (p / "checkpoints").is_dir()),
            key=lambda p: p.stat().st_mtime,
        )
        if not runs:
            raise UserInputError(
                "no quickstart run found under logs/",
                "train one (`python train.py experiment=avatar_quickstart`) or pass bundle=DIR",
            )
        run = runs[-1]
    return model_from_checkpoint(load_checkpoint(find_checkpoint(run, "avatar_quickstart")), "cpu"), str(run)


def render_fps(  # type: ignore[no-untyped-def]
    model, sizes: list[int], threads: int, frames: int = 12, rounds: int = 5
) -> dict[int, list[float]]:
    """Per size, the frames per second of each of `rounds` rounds (fewer frames at 512 px)."""
    from avatarlab.metrics.speed import round_rates
    from avatarlab.runtime.avatar import Avatar

    torch.set_num_threads(threads)
    out = {}
    for size in sizes:
        avatar = Avatar(at_size(model, size))
        poses, conds = avatar.playback_track(frames + 3)
        codes = (
            avatar.model.code(normalised_keypoints=torch.zeros(frames + 3, model.spec.num_keypoints, 3))
            if model.condition == "keypoints"
            else torch.zeros(frames + 3, model.head.attention.out_features)
        )
        count = frames if size < 512 else max(3, frames // 3)
        out[size] = round_rates(
            lambda i, avatar=avatar, poses=poses, conds=conds, codes=codes: avatar.render(poses[i], conds[i], codes[i]),
            frames=count,
            rounds=rounds if size < 512 else 2,
        )
    return out


def main() -> None:
    try:
        args = key_value_options(sys.argv[1:], {"bundle": "", "run": "", "threads": 2})
        threads = checked("threads", args["threads"], int, minimum=1)
        model, source = find_model({k: v for k, v in args.items() if k in ("bundle", "run") and v})
    except UserInputError as error:
        exit_with(error)
    enc = encode_throughput(threads)
    print(f"hash-grid encode (torch, 3D, 10 levels x 2 features, 2^14 table, {threads} threads):")
    print(f"  forward           {enc['forward_points_per_s'] / 1e6:6.2f} M points/s")
    print(f"  forward+backward  {enc['forward_backward_points_per_s'] / 1e6:6.2f} M points/s")
    with torch.no_grad():
        fps = render_fps(model, [128, 256, 512], threads)
    print(f"render ({source}, {threads} threads; median of rounds, slowest-fastest in brackets):")
    for size, rates in fps.items():
        print(f"  {size:4d} px  {statistics.median(rates):6.1f} frames/s  [{min(rates):.1f}-{max(rates):.1f}]")
    print(f"bar: >= 10 frames/s at 128 px -> {'met' if statistics.median(fps[128]) >= 10 else 'NOT met'}")


if __name__ == "__main__":
    main()
