"""impact figures."""
__all__: list[str] = []
