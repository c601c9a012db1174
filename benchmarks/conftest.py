"""pytest benchmarks/ --benchmark-only: the shipped suites as pytest-benchmark tests.

Choose the suites with --flopbench-suite quick,matmul (or FLOPBENCH_SUITE) and the device with --flopbench-device.
"""

from flopbench.machine.device import parse_device
from flopbench.measuring.pytest_plugin import suites_option


def pytest_generate_tests(metafunc):
    if "workload" not in metafunc.fixturenames:
        return
    from flopbench.workloads.suite import load_suite

    device = metafunc.config.getoption("flopbench_device") or "auto"
    kind = parse_device(device)[0]
    workloads = [
        w
        for name in suites_option(metafunc.config)
        for w in load_suite(name).workloads
        if w.runs_on(kind) and not w.large
    ]
    metafunc.parametrize("workload", workloads, ids=[w.name for w in workloads])
