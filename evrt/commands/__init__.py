"""One module per `evrt` sub-command; each defines `register(subparsers)` setting `func(args) -> int`."""

COMMANDS = [
    "evrt.commands.run",
    "evrt.commands.nodes",
    "evrt.commands.worker",
    "evrt.commands.dataset",
    "evrt.commands.train",
    "evrt.commands.evaluate",
]
