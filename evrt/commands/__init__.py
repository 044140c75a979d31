"""One module per `evrt` sub-command; each defines `register(subparsers)` setting `func(args) -> int`."""

COMMANDS = [
    "evrt.commands.run",
    "evrt.commands.nodes",
    "evrt.commands.worker",
    "evrt.commands.info",
    "evrt.commands.replay",
    "evrt.commands.convert",
    "evrt.commands.dataset",
    "evrt.commands.view",
    "evrt.commands.plot_stats",
    "evrt.commands.train",
    "evrt.commands.evaluate",
]
