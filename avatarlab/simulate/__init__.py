"""Headless scripted conversations: scripts, a simulated microphone, the recorded output, the timeline plot."""
