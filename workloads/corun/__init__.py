"""Co-run: agent workloads alone and beside a memory hog on the other cores.

specs.py registers one id per workload (light), drivers.py runs each
workload a window at a time, hogs.py the memory hogs (their own processes),
bench.py the worker entry.
"""
