"""The self-selected design with one launch date: members against eligible non-members, measured
from the launch (:func:`.design.analyze_launch`)."""
from .design import analyze_launch

__all__ = ["analyze_launch"]
