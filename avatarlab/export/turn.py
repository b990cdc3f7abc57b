"""Turn-predictor runs for the generic `python -m avatarlab.export` (the exporter lives in avatarlab.turn.export)."""

from avatarlab.turn.export import export_run

__all__ = ["export_run"]
