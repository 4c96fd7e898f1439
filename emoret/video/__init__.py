"""Videos: opening them with PyAV, frame sampling, decoding, moments, the frame store, extraction, re-encoding."""
