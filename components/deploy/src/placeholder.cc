// Replaced by the deployment emitter sources.
