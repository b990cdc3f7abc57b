"""avatarlab: talking-head avatars and early-response turn prediction for real-time video conversations."""

__version__ = "0.1.0"
