"""Jobs: the daemon's core. Owns the queue, the job states and the result cache; frontends only translate."""
