"""LightningModule for the turn model: two binary cross-entropies (end, stability), AdamW, cosine decay."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F

from avatarlab.config_args import constructor_args
from avatarlab.runtime.response_policy import ResponsePolicy
from avatarlab.turn.metrics import roc_auc
from avatarlab.turn.model import TurnModel, TurnModelConfig


class TurnLitModule(L.LightningModule):
    """Trains TurnModel; the checkpoint carries the model arguments and the data's feature spec.

    Args:
        net: TurnModelConfig's fields (configs/model/turn.yaml), checked here.
        stable_weight: weight of the stability loss against the end loss.
        end_pos_weight: weight of the end head's positive ticks.
        policy: the response policy's thresholds (checked here), carried into the exported bundle.
    """

    def __init__(
        self,
        net: Mapping[str, Any],
        lr: float,
        weight_decay: float,
        warmup_steps: int,
        stable_weight: float,
        end_pos_weight: float,
        policy: Mapping[str, Any],
    ) -> None:
        super().__init__()
        net_args = constructor_args(net, TurnModelConfig, label="model.net")
        policy_args = constructor_args(policy, ResponsePolicy, label="model.policy")
        self.save_hyperparameters(
            {
                "net": net_args,
                "lr": lr,
                "weight_decay": weight_decay,
                "warmup_steps": warmup_steps,
                "stable_weight": stable_weight,
                "end_pos_weight": end_pos_weight,
                "policy": policy_args,
            }
        )
        self.model = TurnModel(TurnModelConfig(**net_args))
        self.feature_spec: dict[str, Any] | None = None
        self._val: list[tuple[np.ndarray, ...]] = []

    def forward(self, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model(
            batch["cur_emb"], batch["ref_emb"], batch["word"], batch["tick"], batch["pair"], batch["cont"]
        )

    def _losses(
        self, batch: Mapping[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        end, stable = self(batch)
        y_end, y_stable = batch["y_end"], batch["y_stable"]
        weight = torch.where(y_end > 0.5, self.hparams.end_pos_weight, 1.0)
        loss_end = F.binary_cross_entropy_with_logits(end, y_end, weight=weight)
        known = y_stable >= 0
        loss_stable = (
            F.binary_cross_entropy_with_logits(stable[known], y_stable[known]) if known.any() else end.sum() * 0
        )
        return loss_end, loss_stable, end, stable

    def training_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss_end, loss_stable, _, _ = self._losses(batch)
        loss = loss_end + self.hparams.stable_weight * loss_stable
        self.log_dict({"train/loss": loss, "train/loss_end": loss_end, "train/loss_stable": loss_stable}, prog_bar=True)
        return loss

    def validation_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> None:
        loss_end, loss_stable, end, stable = self._losses(batch)
        self._val.append(
            (
                end.sigmoid().cpu().numpy(),
                batch["y_end"].cpu().numpy(),
                stable.sigmoid().cpu().numpy(),
                batch["y_stable"].cpu().numpy(),
                np.array([loss_end.item(), loss_stable.item(), len(end)]),
            )
        )

    def on_validation_epoch_end(self) -> None:
        if not self._val:
            return
        p_end, y_end, p_stable, y_stable = (np.concatenate([v[i] for v in self._val]) for i in range(4))
        losses = np.stack([v[4] for v in self._val])  # [batches, 3]: end loss, stable loss, size
        known = y_stable >= 0
        metrics = {
            "val/loss_end": float(np.average(losses[:, 0], weights=losses[:, 2])),
            "val/loss_stable": float(np.average(losses[:, 1], weights=losses[:, 2])),
            "val/auc_end": roc_auc(p_end, y_end),
            "val/auc_stable": roc_auc(p_stable[known], y_stable[known]),
            "val/acc_stable": float(((p_stable[known] > 0.5) == (y_stable[known] > 0.5)).mean())
            if known.any()
            else float("nan"),
        }
        metrics["val/loss"] = metrics["val/loss_end"] + self.hparams.stable_weight * metrics["val/loss_stable"]
        self.log_dict(metrics, prog_bar=True)
        self._val.clear()

    def configure_optimizers(self) -> Any:
        decay = [p for n, p in self.named_parameters() if p.ndim >= 2]
        other = [p for n, p in self.named_parameters() if p.ndim < 2]
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": self.hparams.weight_decay}, {"params": other, "weight_decay": 0.0}],
            lr=self.hparams.lr,
        )
        total = max(1, int(self.trainer.max_steps if self.trainer and self.trainer.max_steps > 0 else 1000))
        warmup = min(self.hparams.warmup_steps, total // 2)

        def schedule(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            progress = (step - warmup) / max(1, total - warmup)
            return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": torch.optim.lr_scheduler.LambdaLR(optimizer, schedule), "interval": "step"},
        }

    def on_fit_start(self) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        if datamodule is not None and hasattr(datamodule, "feature_spec"):
            self.feature_spec = datamodule.feature_spec.to_dict()

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["turn_feature_spec"] = self.feature_spec
        checkpoint["turn_model_config"] = self.model.config.to_dict()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.feature_spec = checkpoint.get("turn_feature_spec")
