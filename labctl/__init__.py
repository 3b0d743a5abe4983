"""labctl: instrument control and autonomous experiments for a photocatalysis bench."""

__version__ = "0.1.0"
