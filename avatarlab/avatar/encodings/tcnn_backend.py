"""tiny-cuda-nn backend: the same layout and flat parameter vector, evaluated by tcnn's CUDA kernels.

Imported lazily: nothing is compiled or loaded until a tcnn grid is built on a CUDA machine.
"""

from __future__ import annotations

import torch
from torch import nn

from avatarlab.avatar.encodings.layout import GridLayout


def tcnn_available() -> bool:
    """True when tinycudann imports and a CUDA device exists."""
    if not torch.cuda.is_available():
        return False
    try:
        import tinycudann  # noqa: F401
    except Exception:
        return False
    return True


class TcnnHashGrid(nn.Module):
    """Wraps ``tinycudann.Encoding``; ``params`` is the same flat vector as HashGrid's."""

    def __init__(self, layout: GridLayout, seed: int | None = None) -> None:
        super().__init__()
        import tinycudann as tcnn

        self.layout = layout
        kwargs = {"seed": seed} if seed is not None else {}
        try:
            self.encoding = tcnn.Encoding(layout.dims, layout.tcnn_config(), dtype=torch.float32, **kwargs)
        except TypeError:  # older bindings without dtype=
            self.encoding = tcnn.Encoding(layout.dims, layout.tcnn_config(), **kwargs)
        if self.encoding.params.numel() != layout.num_params:
            raise RuntimeError(
                f"tinycudann allocated {self.encoding.params.numel()} grid parameters,"
                f" the layout expects {layout.num_params}"
            )
        # state dicts carry `params` exactly as HashGrid's do
        self._register_state_dict_hook(self._rename_on_save)
        self._register_load_state_dict_pre_hook(self._rename_on_load)

    @property
    def output_dim(self) -> int:
        return self.layout.output_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoding(x.contiguous()).float()

    @staticmethod
    def _rename_on_save(module: nn.Module, state: dict, prefix: str, local_metadata: dict) -> None:
        state[prefix + "params"] = state.pop(prefix + "encoding.params")

    @staticmethod
    def _rename_on_load(state: dict, prefix: str, *args: object) -> None:
        if prefix + "params" in state:
            state[prefix + "encoding.params"] = state.pop(prefix + "params")
