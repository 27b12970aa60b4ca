"""What a run does: build, train, measure, evaluate; FLOPs; progress; the result objects."""
