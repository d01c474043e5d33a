"""Training StyleGAN networks on your own images: data preparation, the official objective and
loop, snapshots, and the checks that prove them exact (see docs/training.md)."""
