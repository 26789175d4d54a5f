"""agent.step: how many concurrent agents a CPU keeps fed within a latency SLO.

specs.py registers it (light), step.py is the agent step and the capacity
search, bench.py the worker entry.
"""
