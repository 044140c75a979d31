"""config -> plan -> run. See `evrt.graph.api.Graph` for building graphs in Python."""
