"""Putting a picture into the network (issue 34): `search.py` finds the ws that draw a picture (as
NVIDIA's projector: Adam on w from w_avg, a learning-rate ramp, a shrinking noise on w); the
distance it lowers comes from `losses.py` (the network's own discriminator's features when the file
has one, else pixels and structural similarity at several scales)."""
