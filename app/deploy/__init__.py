"""Deploy jobs, the pipeline, and the wire protocols phones speak."""
