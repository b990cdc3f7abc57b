"""Helpers the tests share: tiny subjects drawn with numpy, tiny training configs."""
