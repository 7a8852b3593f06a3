"""The gift pipeline: a private order becomes a guarded, disclosure-stamped static gift page."""
