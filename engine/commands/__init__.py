"""One module per ``coughscope`` subcommand: ``add_arguments(parser)`` and ``run(args)``."""
