"""Tool: does nothing. Timing it through an execution model gives that
model's dispatch overhead."""


def make_input(seed):
    return seed


def run(payload):
    return b""
