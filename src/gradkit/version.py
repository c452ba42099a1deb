"""gradkit's version, in a module of its own so any layer can read it without the package's
public face (`gradkit/__init__.py`)."""
__version__ = "0.1.0"
