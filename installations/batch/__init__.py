"""Batch rendering, `score-av batch`: the plan, one clip per worker, the local and Ray backends, the manifest."""
