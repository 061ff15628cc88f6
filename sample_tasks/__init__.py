"""The sample Get Task responses, shipped as package data (`archiver.sample_tasks`)."""
