"""Shipped model weights (package data). See each `.json` for the command and seed that made the `.pt`."""
