"""classroom-agent: the edge agent for smart classrooms."""

__version__ = "0.1.0"
