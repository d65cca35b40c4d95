"""The function-sizing benchmark's rule: memory from the peak, timeout from the duration, and the
line a size is extrapolated on."""

from __future__ import annotations

import pytest
from bench.sizing import Invocation, Sizing, recommend_memory, recommend_timeout


@pytest.mark.parametrize(
    ("peak", "memory"),
    [(20, 128), (85, 128), (86, 256), (231, 384), (1000, 1536), (4000, 6016)],
)
def test_memory_is_the_peak_with_half_again_rounded_up_to_128_mb(peak: float, memory: int) -> None:
    assert recommend_memory(peak) == memory


def test_a_timeout_stretches_the_duration_by_the_cpu_share_below_a_full_vcpu() -> None:
    assert recommend_timeout(20, 1769) == 60  # one vCPU: 20 s x 3
    assert recommend_timeout(20, 3538) == 60  # more memory is no faster for one thread
    assert recommend_timeout(20, 1769 // 2) == 130  # half a vCPU: 40 s x 3, up to 10 s


def test_a_timeout_stays_between_its_floor_and_lambdas_cap() -> None:
    assert recommend_timeout(0.2, 128) == 30
    assert recommend_timeout(400, 1769) == 900


def _run(peak: float, seconds: float) -> Invocation:
    return Invocation(import_seconds=0.5, seconds=seconds, baseline_mb=20, peak_mb=peak)


def test_a_larger_tenant_is_on_the_line_through_the_two_largest_sizes() -> None:
    sizing = Sizing("FinalizeFunction", {100_000: _run(300, 3), 300_000: _run(700, 7)})
    peak, seconds, measured = sizing.at(1_000_000)
    assert (round(peak), round(seconds, 2), measured) == (2100, 21.5, False)
    assert sizing.at(300_000) == (700, 7.5, True)


def test_a_step_that_does_not_grow_keeps_its_one_measurement() -> None:
    sizing = Sizing("NotifyFunction", {0: _run(56, 0.7)}, scales=False)
    assert sizing.at(1_000_000) == (56, 1.2, False)
