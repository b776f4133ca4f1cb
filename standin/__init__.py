"""Local stand-ins for Docker Hub used by tests, benchmarks and the demo."""
