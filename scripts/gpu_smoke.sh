#!/usr/bin/env bash
# GPU smoke test, for a machine with a CUDA device and tinycudann: a few avatar training steps on the
# GPU (backend=auto must choose tiny-cuda-nn), then evaluation of the run, export to a bundle and a
# render from that bundle (these three run on the CPU, loading the tcnn-trained weights into the
# PyTorch grid).
#
#   bash scripts/gpu_smoke.sh [SUBJECT_DIR]
#
# Without SUBJECT_DIR a tiny synthetic subject is drawn. Everything is written to a new temporary
# directory, printed at the end. PY chooses the interpreter (default: the repository's .venv).
# Without CUDA or tinycudann it stops at once with exit code 2 and one line on stderr.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PY:-$repo/.venv/bin/python}
tcnn_install='pip install "git+https://github.com/NVlabs/tiny-cuda-nn/#subdirectory=bindings/torch"'

missing=$("$PY" - <<'EOF'
import torch

if not torch.cuda.is_available():
    print(f"torch {torch.__version__} sees no CUDA device")
else:
    try:
        import tinycudann  # noqa: F401
    except Exception as error:
        print(f"tinycudann does not import ({type(error).__name__})")
EOF
)
if [[ -n "$missing" ]]; then
    echo "gpu_smoke.sh: needs a CUDA device and tinycudann, but $missing; install a CUDA build of torch," \
        "then tinycudann (needs the CUDA toolkit): $tcnn_install" >&2
    exit 2
fi

cd "$repo"
export WANDB_MODE=${WANDB_MODE:-offline} HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1}
work=$(mktemp -d "${TMPDIR:-/tmp}/avatarlab_gpu_smoke.XXXXXX")
subject=${1:-$work/subject}
if [[ $# -eq 0 ]]; then
    "$PY" -c "import sys; from tests.helpers.tiny_subject import make_tiny_subject; make_tiny_subject(sys.argv[1], size=64, frames=55)" "$subject"
fi
run=$work/run

echo "== train: a few steps on the GPU, backend=auto -> $run"
"$PY" train.py experiment=avatar_quickstart trainer=gpu debug=fast logger=csv \
    model.model.backend=auto "data.subject_dir=$subject" "hydra.run.dir=$run" \
    trainer.max_steps=4 trainer.val_check_interval=2 \
    model.occupancy_warmup=1 model.occupancy_every=1 model.video_every=2 model.video_frames=2 \
    2>&1 | tee "$work/train.log"
if ! grep -q "hash-grid backend: tcnn" "$work/train.log"; then
    echo "gpu_smoke.sh: training did not choose the tcnn hash grid (see $work/train.log)" >&2
    exit 1
fi

echo "== evaluate"
"$PY" -m avatarlab.evaluate "run=$run" max_frames=2 video=false

echo "== export and render"
"$PY" -m avatarlab.export "run=$run" "out=$work/bundle"
"$PY" -m avatarlab.render "bundle=$work/bundle" "audio=$subject/audio.wav" "out=$work/render.mp4" max_seconds=1

echo "gpu smoke test passed: $work"
