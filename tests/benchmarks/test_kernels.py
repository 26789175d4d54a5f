"""The quick memory kernels through the pytest-benchmark fixture.

    pytest tests/benchmarks --benchmark-only

Arrays are a fixed 16 MiB each so the numbers are comparable run to run on
one machine (they are not the suite's STREAM figures, whose arrays are sized
from the LLC and whose threads are pinned: use `factorybench run` for those).
Every benchmark checks its kernel's answer after timing it.
"""
from __future__ import annotations

import numpy as np
import pytest

stream = pytest.importorskip("kernels.stream", reason="kernels.stream not available")

ELEMENTS = 1 << 21  # 16 MiB per float64 array
# Each kernel run alone from the STREAM initial values reaches a fixed point
# after one call, so repeated calls keep a checkable answer. Nstream
# (a += ...) does not, and is left to the suite's own validation.
EXPECTED = {
    "copy": ("c", stream.INIT_A),
    "scale": ("b", stream.SCALAR * stream.INIT_C),
    "add": ("c", stream.INIT_A + stream.INIT_B),
    "triad": ("a", stream.INIT_B + stream.SCALAR * stream.INIT_C),
}


@pytest.fixture(scope="module")
def arrays():
    a, b, c = (stream.aligned_empty(ELEMENTS) for _ in range(3))
    return a, b, c, stream.thread_bounds(ELEMENTS)


@pytest.mark.parametrize("kernel", [k for k in stream.KERNELS if k.name in EXPECTED or
                                    k.name == "dot"], ids=lambda k: k.name)
def test_stream_kernel(benchmark, arrays, kernel):
    a, b, c, bounds = arrays
    stream.first_touch(a, b, c, stream.INIT_A, stream.INIT_B, stream.INIT_C, bounds)
    kernel.fn(a, b, c, stream.SCALAR, bounds)  # compile (or load from the cache) before timing
    result = benchmark(kernel.fn, a, b, c, stream.SCALAR, bounds)
    benchmark.extra_info["bytes_per_element"] = kernel.bytes_per_element
    if benchmark.stats:
        benchmark.extra_info["GB/s"] = kernel.bytes_per_element * ELEMENTS / \
            benchmark.stats.stats.min / 1e9
    if kernel.name == "dot":
        assert result == pytest.approx(stream.INIT_A * stream.INIT_B * ELEMENTS, rel=1e-8)
    else:
        name, value = EXPECTED[kernel.name]
        arr = {"a": a, "b": b, "c": c}[name]
        assert np.all(arr == value)


@pytest.mark.parametrize("working_set", [16 * 1024, 64 * 1024 * 1024],
                         ids=["16KiB", "64MiB"])
def test_pointer_chase(benchmark, working_set):
    latency = pytest.importorskip("kernels.latency", reason="kernels.latency not available")
    stride = 128
    mm, buf = latency.chase_buffer(working_set, "off")
    chain = latency.Chain(buf, latency.master_order(working_set, stride, "global"),
                          working_set, stride)
    steps = 1 << 20
    seconds, ok = benchmark(chain.run, steps)
    assert ok, "chase ended on the wrong slot"
    del chain, buf
    mm.close()
