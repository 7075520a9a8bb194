"""bitmesh host toolkit: flash, deploy, provision, simulate and bridge bitmesh meshes."""

__version__ = "0.1.0"
