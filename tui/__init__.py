"""coughscope's Textual app. Uses only :mod:`engine`'s public API and run directories."""
