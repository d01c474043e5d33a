"""Directions: knobs that mean something.  Supervised (fit.py: mean, linear SVM, Gaussian, from
likes, tags or a labels CSV), unsupervised (unsupervised.py: GANSpace, SeFa, cached per network),
and the live slots that apply them in W (slots.py)."""
