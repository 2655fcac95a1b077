"""Pure, synchronous detection logic and the event-time engine that drives it. No I/O, no clocks."""
