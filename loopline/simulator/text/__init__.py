"""Text pools for the traffic simulator, one module per topic. Data only: the simulator modules hold the logic."""
