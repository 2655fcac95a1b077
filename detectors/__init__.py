"""Pure, synchronous detection logic and the event-time engine that drives it. No I/O, no clocks."""

import compiled

compiled.install()  # the Cython build of the per-event modules, where it matches their source
