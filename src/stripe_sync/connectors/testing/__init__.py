"""The `test` source and destination: scripted scenarios for tests and the engine demo."""
