"""The Hydra configs, installed as the package data of `avatarlab.configs` (see avatarlab.cli.config_dir)."""
