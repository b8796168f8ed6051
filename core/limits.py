"""Every domain limit, defined once (issue #12 item 3).

A limit written twice drifts: the longest shift was 24 h in the rota but 48 h in the what-if API, so the API said
yes to shifts the rota refused. Validators, services, database check constraints, forms, templates and messages
all read these names. Plain constants only: this module imports nothing from the domain packages.
"""

from __future__ import annotations

from datetime import timedelta

# ---- calendar: dates and times people type. Outside these years it is a typo, and keeping arithmetic inside them
# keeps it far from datetime's year 1 / 9999 edges (OverflowError).
FIRST_YEAR, LAST_YEAR = 2000, 2100

# ---- ids: a row id from a URL, a form or a message beyond the database's integer range does not exist
MAX_ID = 2**31 - 1

# ---- shifts
MAX_SHIFT_HOURS = 24  # the rota, the what-if (compliance check) API, eligibility and the database all use this
MAX_SHIFT = timedelta(hours=MAX_SHIFT_HOURS)
MAX_SHIFT_MINUTES = MAX_SHIFT_HOURS * 60  # a shift type's duration

# ---- swaps and give-aways (team settings): no staff requests within cut-off hours of the start; requests expire
SWAP_CUTOFF_HOURS = (0, 336)
SWAP_CUTOFF_DEFAULT = 12
SWAP_EXPIRY_HOURS = (1, 2160)
SWAP_EXPIRY_DEFAULT = 72

# ---- calendar feeds: the window of days a feed covers (defaults; deployments may override in config)
FEED_PAST_DAYS = 60
FEED_FUTURE_DAYS = 549  # 18 months
FEED_TEAM_PAST_DAYS = 14
FEED_TEAM_FUTURE_DAYS = 92
FEED_CANCELLED_DAYS = 14

# ---- broadcast escalation ladder
LADDER_MAX_STEPS = 6
LADDER_STEP_MINUTES = (1, 1440)  # each step waits between a minute and a day after the one before

# ---- notifications: quiet hours a person has not chosen themselves
QUIET_START_DEFAULT, QUIET_END_DEFAULT = "22:00", "07:00"

# ---- handover photos
IMAGE_MAX_BYTES = 10 * 1024 * 1024
IMAGE_MAX_PIXELS = 40_000_000  # a 40-megapixel photo; anything larger is a decompression bomb, not a wound photo
IMAGE_FULL_EDGE = 2048
IMAGE_THUMB_EDGE = 320
IMAGE_MEMORY_MB = 150  # the most one photo may add to a worker's memory while it is processed
IMAGE_CONCURRENCY = 1  # photos processed at once per worker process
IMAGE_WAIT_SECONDS = 10  # how long a photo waits for a slot before "busy, try again" (503)

# ---- request bodies: deeper JSON than this is refused before anything walks it (no RecursionError anywhere)
JSON_MAX_DEPTH = 32
