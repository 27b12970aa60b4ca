"""What a run is: options, tasks, methods, models, profiles, speed options, published numbers."""
