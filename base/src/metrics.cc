// Placeholder: the metrics registry arrives here (snap/metrics.h).
