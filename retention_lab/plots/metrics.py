"""metrics figures."""
__all__: list[str] = []
