"""Device correctness of the avatar: every tensor is made on its module's or input's device.

A CUDA step cannot run here, so two checks stand in for it. At run time, inside
`with torch.device("meta"):` a factory call without `device=` makes a meta tensor, which fails against
the model's real CPU tensors or comes out as meta; factory calls that name their device stay on the
CPU. Statically, every tensor factory in avatarlab/avatar/ names its device or says why it need not.
And `backend: auto` is checked to pick tiny-cuda-nn for a CUDA device (with a fake tinycudann).
"""

from __future__ import annotations

import ast
import copy
import io
import logging
import subprocess
import sys
import tokenize
import types
from pathlib import Path
from typing import Any

import pytest
import torch
from hydra.utils import instantiate
from torch import nn

from avatarlab.avatar.encodings import HashGrid, TcnnHashGrid, make_encoding, resolve_backend
from avatarlab.avatar.encodings.layout import GridLayout
from avatarlab.avatar.lit import AvatarLitModule
from avatarlab.avatar.model import AvatarModel
from tests.helpers.configs import tiny_train_config

REPO = Path(__file__).resolve().parents[2]
AVATAR_PACKAGE = REPO / "avatarlab" / "avatar"
GPU_SMOKE = REPO / "scripts" / "gpu_smoke.sh"

# -- static check -----------------------------------------------------------------------------

FACTORIES = {
    "arange",
    "as_tensor",
    "empty",
    "empty_strided",
    "eye",
    "from_numpy",
    "full",
    "linspace",
    "logspace",
    "ones",
    "rand",
    "randint",
    "randn",
    "randperm",
    "range",
    "scalar_tensor",
    "tensor",
    "tril_indices",
    "triu_indices",
    "zeros",
}
MODULE_STATE = {"register_buffer", "Parameter"}  # tensors handed to these move with their module


def _factory_name(node: ast.Call) -> str | None:
    """`zeros` for a call `torch.zeros(...)`; None for anything else."""
    func = node.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "torch":
        return func.attr
    return None


def _callee(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _is_move(node: ast.AST) -> bool:
    """True for a call `.to(X)` that can move a tensor (a device, a tensor or device=; not a bare torch.dtype)."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "to"):
        return False
    if any(k.arg == "device" for k in node.keywords):
        return True
    first = node.args[0] if node.args else None
    is_dtype = isinstance(first, ast.Attribute) and isinstance(first.value, ast.Name) and first.value.id == "torch"
    return first is not None and not is_dtype


def _comments(source: str) -> dict[int, str]:
    """Comment text by line number."""
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return {tok.start[0]: tok.string for tok in tokens if tok.type == tokenize.COMMENT}


def _statement_lines(statement: ast.stmt) -> range:
    """The lines of a simple statement, or of a compound statement's header."""
    body = getattr(statement, "body", None)
    if isinstance(body, list) and body:
        return range(statement.lineno, body[0].lineno)
    return range(statement.lineno, (statement.end_lineno or statement.lineno) + 1)


def device_violations(source: str, filename: str = "<source>") -> list[str]:
    """`file:line: torch.NAME(...)` for every tensor factory that neither names its device nor is excused.

    Excused: `*_like` factories (they follow their input); a factory whose result is moved with `.to(...)`
    or copied into an existing tensor with `.copy_(...)` in the same expression; one inside
    `register_buffer(...)` or `nn.Parameter(...)` (module state, moved with the module); and any on a
    statement carrying a `# device: REASON` comment.
    """
    tree = ast.parse(source, filename)
    comments = _comments(source)
    parents: dict[ast.AST, ast.AST] = {}
    for parent in ast.walk(tree):
        for child in ast.iter_child_nodes(parent):
            parents[child] = parent
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _factory_name(node)
        if name is None or name not in FACTORIES or any(k.arg == "device" for k in node.keywords):
            continue
        excused = False
        child: ast.AST = node
        ancestor = parents.get(node)
        while ancestor is not None and not excused:
            if isinstance(ancestor, ast.Attribute) and ancestor.value is child:  # `factory(...).to(...)`
                excused = _is_move(parents.get(ancestor))  # type: ignore[arg-type]
            elif isinstance(ancestor, ast.Call) and child in ancestor.args:
                excused = _callee(ancestor) in MODULE_STATE or _callee(ancestor) == "copy_"
            if isinstance(ancestor, ast.stmt):
                lines = _statement_lines(ancestor)
                excused = excused or any("device:" in comments.get(line, "") for line in lines)
                break
            child, ancestor = ancestor, parents.get(ancestor)
        if not excused:
            found.append((node.lineno, f"{filename}:{node.lineno}: torch.{name}(...) without device="))
    return [message for _, message in sorted(found)]


def test_static_check_catches_a_factory_without_device() -> None:
    source = (
        "import torch\n"
        "def f(x):\n"
        "    a = torch.zeros(3)\n"
        "    b = torch.zeros(3, device=x.device)\n"
        "    c = torch.rand_like(x)\n"
        "    d = torch.from_numpy(x).to(x.device)\n"
        "    e = torch.tensor([1, 2]).to(torch.int32)\n"
        "    f = torch.arange(4)  # device: cpu-only (an example)\n"
        "    x.copy_(torch.from_numpy(y))\n"
        "    self.register_buffer('g', torch.ones(2) * 2)\n"
        "    return {\n"
        "        'h': torch.from_numpy(y),\n"
        "    }\n"
    )
    assert device_violations(source) == [
        "<source>:3: torch.zeros(...) without device=",
        "<source>:7: torch.tensor(...) without device=",
        "<source>:12: torch.from_numpy(...) without device=",
    ]


def test_every_tensor_factory_in_the_avatar_names_its_device() -> None:
    found = []
    for path in sorted(AVATAR_PACKAGE.rglob("*.py")):
        found += device_violations(path.read_text(), str(path.relative_to(REPO)))
    assert not found, "tensors made without their device:\n" + "\n".join(found)


# -- run time: factories without device= land on the meta device ------------------------------


@pytest.fixture(scope="module")
def built(tiny_subject: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[AvatarLitModule, dict, dict]:
    """A tiny quickstart LitModule built on the CPU (occupancy update at step 0, joint fine-tune on), a
    training batch and a held-out batch."""
    cfg = tiny_train_config(
        "avatar_quickstart",
        tiny_subject,
        tmp_path_factory.mktemp("device_run"),
        ["model.occupancy_warmup=0", "model.joint_from_step=0"],
    )
    datamodule = instantiate(cfg.data)
    datamodule.setup()
    lit = instantiate(cfg.model)
    lit.build(datamodule.subject_info(), "cpu")
    return lit, next(iter(datamodule.train_dataloader())), next(iter(datamodule.val_dataloader()))


def _tensors(value: Any, prefix: str = "") -> dict[str, torch.Tensor]:
    """Every tensor in nested dicts, lists and tuples, by path."""
    if isinstance(value, torch.Tensor):
        return {prefix: value}
    items = value.items() if isinstance(value, dict) else enumerate(value)
    return {k: v for key, item in items for k, v in _tensors(item, f"{prefix}/{key}").items()}


def _outside_and_on_meta(run: Any, *states: Any) -> None:
    """run(*copies of states) outside, then inside `with torch.device("meta"):`, from the same random state:
    the second must give real CPU tensors equal to the first."""
    copies = [copy.deepcopy(states) for _ in range(2)]  # deep copies made outside the meta context
    torch.manual_seed(0)
    expected = _tensors(run(*copies[0]))
    torch.manual_seed(0)
    with torch.device("meta"):
        got = _tensors(run(*copies[1]))
    assert got.keys() == expected.keys()
    for key, tensor in got.items():
        assert tensor.device.type == "cpu", f"{key} is on {tensor.device}"
        assert tensor.shape == expected[key].shape, key
        assert torch.equal(tensor, expected[key]), key


@pytest.mark.filterwarnings("ignore:You are trying to `self.log")
def test_training_step_makes_every_tensor_on_the_models_device(built: tuple) -> None:
    lit, batch, _ = built

    def step(module: AvatarLitModule) -> dict[str, Any]:
        loss = module.training_step(batch, 0)  # occupancy update, joint keypoints, render_rays with jitter
        loss.backward()
        assert bool(module.model.occupancy.initialised)  # the occupancy-guided sampler ran
        grads = {name: p.grad for name, p in module.model.named_parameters() if p.grad is not None}
        return {"loss": loss.detach(), "density": module.model.occupancy.density.clone(), "grads": grads}

    _outside_and_on_meta(step, lit)


@pytest.mark.parametrize("occupancy", ["warm-up", "estimated"])
def test_rendering_makes_every_tensor_on_the_models_device(built: tuple, occupancy: str) -> None:
    lit, batch, held_out = built
    lit = copy.deepcopy(lit)
    m = lit.model
    codes = m.code(normalised_keypoints=m.normalise_keypoints(batch["keypoints"])).detach()
    if occupancy == "estimated":
        m.update_occupancy(codes[:2])
    size, B = m.spec.size, 2
    pose = batch["pose"][:B]
    cond = m.normalise_condition(batch["cond"][:B])

    def render(module: AvatarLitModule) -> dict[str, Any]:
        model = module.model
        rays = model.train().render_rays(pose, cond, codes[:B], batch["uv"][:B, :64], jitter=True)
        model.eval()
        with torch.no_grad():
            frame = model.render_frame(pose[0], cond[0], codes[0])
            tracked = module.render_held_out(held_out, from_audio=False)
            audio = module.render_held_out(held_out, from_audio=True)
        assert rays["rgb"].shape == (B, 64, 3) and frame.shape == (size, size, 3) == tracked.shape == audio.shape
        return {"rays": rays, "frame": frame, "tracked": tracked, "audio": audio}

    _outside_and_on_meta(render, lit)


# -- backend resolution -----------------------------------------------------------------------

GRID = {"num_levels": 4, "features_per_level": 2, "log2_hashmap_size": 10, "base_resolution": 4, "max_resolution": 32}


@pytest.fixture()
def fake_tcnn(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """A CUDA machine with tinycudann, as far as tcnn_available() can tell; returns the encodings it builds."""
    built: list[dict[str, Any]] = []

    class Encoding(nn.Module):
        def __init__(self, n_input_dims: int, config: dict, dtype: torch.dtype | None = None, seed: int = 1337):
            super().__init__()
            built.append({"dims": n_input_dims, "config": config, "dtype": dtype, "seed": seed})
            layout = GridLayout(
                n_input_dims,
                config["n_levels"],
                config["n_features_per_level"],
                config["log2_hashmap_size"],
                config["base_resolution"],
                config["per_level_scale"],
            )
            self.params = nn.Parameter(torch.zeros(layout.num_params))

    monkeypatch.setitem(sys.modules, "tinycudann", types.SimpleNamespace(Encoding=Encoding))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    return built


def test_auto_picks_tcnn_on_cuda_when_tinycudann_imports(fake_tcnn: list[dict[str, Any]]) -> None:
    assert resolve_backend("auto", "cuda") == "tcnn"
    assert resolve_backend("auto", torch.device("cuda", 1)) == "tcnn"
    assert resolve_backend("auto", "cpu") == resolve_backend("auto", torch.device("cpu")) == "torch"
    grid = make_encoding("hash3d", backend="auto", device="cuda", seed=3, **GRID)
    assert isinstance(grid, TcnnHashGrid)
    assert fake_tcnn == [{"dims": 3, "config": grid.layout.tcnn_config(), "dtype": torch.float32, "seed": 3}]
    assert set(grid.state_dict()) == {"params"}  # named as HashGrid's
    planes = make_encoding("triplane", backend="auto", device="cuda:0", **GRID)
    assert all(isinstance(p, TcnnHashGrid) for p in planes.planes) and len(fake_tcnn) == 4
    assert isinstance(make_encoding("hash2d", backend="auto", device="cpu", **GRID), HashGrid)
    assert len(fake_tcnn) == 4


def test_auto_picks_torch_without_tinycudann(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tinycudann", None)  # `import tinycudann` raises ImportError
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_backend("auto", "cuda") == "torch"
    assert isinstance(make_encoding("hash3d", backend="auto", device="cuda", **GRID), HashGrid)
    with pytest.raises(RuntimeError, match="tinycudann"):
        resolve_backend("tcnn", "cuda")


def _model_args(tiny_subject: Path, tmp_path: Path) -> tuple[Any, int, dict[str, Any]]:
    """Spec, track length and model arguments of the tiny quickstart config, with backend auto."""
    cfg = tiny_train_config("avatar_quickstart", tiny_subject, tmp_path)
    datamodule = instantiate(cfg.data)
    datamodule.setup()
    info = datamodule.subject_info()
    return info["spec"], len(info["poses"]), {**instantiate(cfg.model).model_args, "backend": "auto"}


def test_avatar_model_resolves_auto_for_its_device(
    fake_tcnn: list[dict[str, Any]],
    tiny_subject: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    spec, frames, args = _model_args(tiny_subject, tmp_path)
    moved_to: list[Any] = []
    monkeypatch.setattr(AvatarModel, "to", lambda self, device: moved_to.append(device) or self)  # no CUDA here
    with caplog.at_level(logging.INFO, logger="avatarlab.avatar.model"):
        on_gpu = AvatarModel(spec, frames, torch.device("cuda", 0), **args)
    assert isinstance(on_gpu.head.encoding, TcnnHashGrid) and isinstance(on_gpu.torso.encoding, TcnnHashGrid)
    assert moved_to == [torch.device("cuda", 0)] and len(fake_tcnn) == 2
    assert [r.getMessage() for r in caplog.records if "hash-grid backend" in r.getMessage()] == [
        "hash-grid backend: tcnn (backend=auto, device=cuda:0)"
    ]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="avatarlab.avatar.model"):
        on_cpu = AvatarModel(spec, frames, "cpu", **args)
    assert isinstance(on_cpu.head.encoding, HashGrid) and isinstance(on_cpu.torso.encoding, HashGrid)
    assert [r.getMessage() for r in caplog.records if "hash-grid backend" in r.getMessage()] == [
        "hash-grid backend: torch (backend=auto, device=cpu)"
    ]


def test_lit_module_builds_the_model_on_the_trainers_device(tiny_subject: Path, tmp_path: Path) -> None:
    cfg = tiny_train_config("avatar_quickstart", tiny_subject, tmp_path)
    datamodule = instantiate(cfg.data)
    datamodule.setup()
    lit = instantiate(cfg.model)
    lit.trainer = types.SimpleNamespace(  # type: ignore[assignment]
        datamodule=datamodule, strategy=types.SimpleNamespace(root_device=torch.device("cpu"))
    )
    lit.setup("fit")
    assert lit.model is not None and lit.model.box_min.device == torch.device("cpu")


# -- the GPU smoke script ---------------------------------------------------------------------


def test_gpu_smoke_script_parses() -> None:
    result = subprocess.run(["bash", "-n", str(GPU_SMOKE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_gpu_smoke_script_refuses_without_cuda(tmp_path: Path) -> None:
    result = subprocess.run(
        ["bash", str(GPU_SMOKE)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PY": sys.executable},
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "needs a CUDA device and tinycudann" in lines[0] and "sees no CUDA device" in lines[0]
    assert "pip install" in lines[0] and "tiny-cuda-nn" in lines[0]
    assert not list(tmp_path.iterdir())  # nothing written
