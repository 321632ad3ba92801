"""Policy and value networks: torsos, the optional LSTM core, action heads."""
