"""Migrations: a file written in an older schema, read as the current one. Each step takes (header, records) as raw
JSON values from version v to v + 1, in order; flopbench.results.files applies them before validation, and
`flopbench upgrade` rewrites a file with them."""

from __future__ import annotations

from typing import Any

Raw = dict[str, Any]


def _v1_to_v2(header: Raw, records: list[Raw]) -> tuple[Raw, list[Raw]]:
    """Version 2 added distributed runs: every record names its rank, the world size and its host."""
    header = {**header, "distributed": None}
    return header, [{"rank": 0, "world_size": 1, "host": header.get("host"), **r} for r in records]


_V3_RENAMES = {"flops": "core_flops", "flops_per_s": "total_flops_per_s"}


def _v2_to_v3(header: Raw, records: list[Raw]) -> tuple[Raw, list[Raw]]:
    """Version 3 names core and total FLOPs apart, with the rate of each: `flops` (core) became core_flops and
    `flops_per_s` (which divided total FLOPs) total_flops_per_s; core_flops_per_s is new."""
    migrated = []
    for r in records:
        r = {_V3_RENAMES.get(k, k): v for k, v in r.items()}
        time_s = r.get("time_s")
        if "core_flops" in r and isinstance(time_s, (int, float)) and time_s > 0:
            r["core_flops_per_s"] = r["core_flops"] / time_s
        migrated.append(r)
    settings = header.get("settings")
    if isinstance(settings, dict):
        header = {**header, "settings": {"train": False, "large": False, **settings}}
    return header, migrated


def _v3_to_v4(header: Raw, records: list[Raw]) -> tuple[Raw, list[Raw]]:
    """Version 4 places a record against the roof of the memory level its working set lives in, with the DRAM
    placement beside it, and the header holds the roofline. Before it the one roof was DRAM's: an old record's
    placement is its DRAM placement, at level DRAM, its working set its compulsory bytes."""
    migrated = []
    for r in records:
        r = {"working_set_bytes": r.get("bytes"), **r}
        if r.get("bound") is not None:
            r = {
                "level": "DRAM",
                "dram_bandwidth_bytes_per_s": r.get("bandwidth_bytes_per_s"),
                "dram_roofline_flops_per_s": r.get("roofline_flops_per_s"),
                "dram_roofline_efficiency": r.get("roofline_efficiency"),
                "dram_bound": r.get("bound"),
                **r,
            }
        migrated.append(r)
    return header, migrated


# Migrations from version v to v + 1, applied in order to (header, records) of older files.
MIGRATIONS = {1: _v1_to_v2, 2: _v2_to_v3, 3: _v3_to_v4}
