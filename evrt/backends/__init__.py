"""Where synaptic matrix work runs: `digital` (torch) or `crossbar` (simulated memristor arrays)."""
