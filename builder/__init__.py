"""Giftboard: the launch-gate board site generator and the AI music-gift pipeline."""

__version__ = "0.1.0"
