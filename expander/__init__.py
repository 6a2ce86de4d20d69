"""expander: an open, trainable, servable prompt expander for the Krea 2 text-to-image model."""

__version__ = "0.1.0"
