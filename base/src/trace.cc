// Placeholder: the trace model arrives here (snap/trace.h).
