"""The movies API: one service for every stage, its scaling features switched by settings."""

__version__ = "0.1.0"
