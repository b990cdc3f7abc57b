"""Training runs -> runtime bundles: `python -m avatarlab.export run=RUN_DIR out=DIR` dispatches to the
exporter of the run's model kind (avatar.py, turn.py); bundle.py writes the directory that
avatarlab.runtime.bundle reads."""
