"""The plan layer: build (run the program under mocks, write plan files), load (read one,
one error type), index (find resources and values in a plan), mocks (the Pulumi mocks)."""
