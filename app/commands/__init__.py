"""The ``phymo`` command line: :mod:`.cli` (the entry point and the registry of commands), :mod:`.options` (flags
made from the configuration dataclasses) and one module per command."""
