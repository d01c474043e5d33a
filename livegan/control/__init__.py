"""Control surfaces: each turns its input into `Command`s on the app's queue, nothing else."""
