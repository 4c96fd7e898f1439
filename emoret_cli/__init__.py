"""The ``emoret`` command line: one module a subcommand, each a thin layer over ``emoret``."""
