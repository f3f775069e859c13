"""survival figures."""
__all__: list[str] = []
