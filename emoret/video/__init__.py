"""Videos: decoding with PyAV, frame sampling, the frame store, extraction, re-encoding, the synthetic set."""
