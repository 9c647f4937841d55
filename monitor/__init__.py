"""monitor: an always-on, event-driven feed monitor."""

__version__ = "0.1.0"
