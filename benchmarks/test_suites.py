"""Every workload of the chosen suites as a pytest-benchmark test (see conftest.py)."""


def test_workload(flops_benchmark, workload):
    flops_benchmark.benchmark.group = workload.family
    flops_benchmark(workload)
