"""The daemon's OSC frontend: UDP in, job-manager calls, UDP replies out."""
