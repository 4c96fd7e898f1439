"""Fine-tuning the emotion-aware video-text model: settings, data, schedule, checkpoints, the loop."""
