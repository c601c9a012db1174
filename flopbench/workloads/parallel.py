"""An op's parallel work (the loss ledger's parallelism step, flopbench.measuring.ledger): how many independent units
one call splits into, what a unit is, and the assumption behind it; and the share of a device's units they keep busy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Work:
    """An op's parallel work: how many independent units it splits into, what a unit is, and the tile efficiency of
    covering its output with them (padding waste), with the assumption behind both stated."""

    units: int
    what: str
    assumption: str
    tile_efficiency: float = 1.0


def wave_efficiency(units: int, lanes: int) -> float:
    """units / (ceil(units / lanes) x lanes): the share of lane-slots busy when `units` equal pieces of work run on
    `lanes` units in waves (the last wave partly idle)."""
    if units <= 0 or lanes <= 0:
        return 1.0
    return units / (math.ceil(units / lanes) * lanes)


def tile_work(rows: int, cols: int, batch: int, tile: int, what: str, assumption: str, padded: bool) -> Work:
    """A 2-D output covered by tile x tile blocks: the blocks (the work units) and, where a tile computes its whole
    area (`padded`: a GPU's tensor-core tiles), the share of it that is output (the rest: a ragged edge computed for
    nothing). A CPU's BLAS covers a ragged edge with smaller kernels: no padding is charged there."""
    across, down = math.ceil(rows / tile), math.ceil(cols / tile)
    efficiency = (rows * cols) / (across * tile * down * tile) if rows and cols and padded else 1.0
    return Work(batch * across * down, what, assumption, efficiency)
