"""The garbage collector in a long-running server process.

A built app holds about 300,000 objects that live as long as the process (functions, classes, mappers, compiled
statements). CPython's full collections walk every tracked object, so while those sit in the oldest generation each
full collection costs 100-200 ms of CPU, and a request that allocates a lot (eligibility among 1,000 staff, a large
grid) triggers one every other time: its cost doubled at random (measured in bench/bench_pages.py). Freezing them once
the app is built (``gc.freeze``, the documented way for pre-fork servers) leaves them out of every later collection;
they are still freed if the process ends, and nothing they reference is collected early.
"""

import gc


def freeze_startup_objects() -> int:
    """Collect what start-up left behind, then move every surviving object to the permanent generation. Call once
    the app is built and before it serves (gunicorn's ``post_worker_init``). Returns how many objects were frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
