"""The ops, one module per family; flopbench.workloads imports every module here, and each registers its ops."""
