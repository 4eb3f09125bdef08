"""Small statistics for noisy machines: medians, percentiles, spreads."""

import math
import statistics


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def percentile(values, p: float):
    """The p-th percentile (0-100), nearest rank: p99 of 500 samples is the 495th smallest."""
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    rank = max(1, math.ceil(p / 100 * len(values)))
    return values[rank - 1]


def spread(values):
    """(min, max) of the repetitions."""
    values = [v for v in values if v is not None]
    return (min(values), max(values)) if values else (None, None)
