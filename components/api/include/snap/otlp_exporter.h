// The OTLP/HTTP span exporter: POSTs batches of spans as OTLP/JSON (snap::otlp_json) to a
// collector's traces URL -- Jaeger, the OpenTelemetry Collector, any OTLP receiver. The
// lifecycle makes one when OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT is set (or `dev --otlp`)
// and feeds it from a BatchSpanProcessor, so a slow or absent collector costs requests
// nothing (snap/trace.h).
//
// A batch the collector cannot take yet -- its name does not resolve, the connection is
// refused, or it answers 429, 502, 503 or 504 -- is tried again, at most 5 times with
// backoff (250 ms doubling), within the export timeout and the processor's stop deadline:
// a collector that starts beside the app still gets the first batches, and a job's last
// ones as it exits. A collector that accepts and does not answer costs one timeout, not
// more. Whatever is still not delivered is counted as dropped.
//
// Plain HTTP only (a collector beside the services, on their network); an https:// URL is
// refused when the exporter is made, as is anything else that is not http://HOST[:PORT]/PATH.
//
// Thread safety: export_batch is called by one thread at a time (the processor's).
#pragma once

#include <memory>
#include <string>

#include "snap/trace.h"

namespace snap {

// Throws std::invalid_argument naming the URL and what is wrong with it.
std::unique_ptr<SpanExporter> otlp_http_exporter(const std::string& traces_url);

}  // namespace snap
