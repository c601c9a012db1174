"""The measuring half: the runner and its parts (schedule, admission, probes, policy, summary, records), the timers,
the machine's interference, energy and memory, the ceilings, distributed runs and the pytest plugin. It writes
results files (flopbench.results); the reading half (flopbench.reading) never imports it."""
