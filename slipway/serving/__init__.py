"""Serving runtime: payload codecs, the model predictor, replica processes and the invocation gateway."""
