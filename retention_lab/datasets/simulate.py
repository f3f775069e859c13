"""Placeholder: the loyalty-experiment simulator is being written (issue 3)."""


def simulate_loyalty_experiment(*args, **kwargs):
    raise NotImplementedError("simulate_loyalty_experiment is not written yet")
