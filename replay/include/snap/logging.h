// Logs: one logger per running persona, reached from its context, spdlog underneath:
//
//   #include "snap/logging.h"
//
//   ctx.log().info("loaded customer {}", id);  // spdlog's API: fmt-style arguments
//
// Each line carries the time, the level, the persona and the message, and -- when the
// thread works inside a span (snap/trace.h: a handled request, a job's run) -- that span's
// trace and span ids, so a line leads to its trace in Jaeger and a trace to its lines.
// Two forms, chosen by $SNAP_LOG_FORMAT when the persona starts:
//
//  - text (the default), one line a record:
//    [2026-12-07 08:50:32.123] [customer.customer-server.api] [info] loaded customer 1 (trace 4bf9...4736 span 00f0...02b7)
//  - json (what the generated compose and stack files set), one object a line, for a log
//    pipeline: time (RFC 3339, UTC, microseconds), level, persona, service, message, and
//    trace_id and span_id when the line was written inside a span.
//
// The level is $SNAP_LOG_LEVEL (trace, debug, info, warn, error, critical, off; default
// info). Lines go to standard error, each in one write, so the lines of concurrent
// personas and threads do not interleave.
//
// Thread safety: a persona's logger may be used from any thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

namespace snap {

enum class LogFormat { kText, kJson };

// "text" or "json"; nullopt for anything else.
std::optional<LogFormat> log_format_from(std::string_view name);

struct PersonaLogOptions {
  std::string persona;  // its id
  std::string service;  // the service name its spans report under
  LogFormat format = LogFormat::kText;
  spdlog::level::level_enum level = spdlog::level::info;
  // Where lines go; null: standard error.
  spdlog::sink_ptr sink;
};

// A logger for one persona, not registered with spdlog (no global state).
std::shared_ptr<spdlog::logger> make_persona_logger(const PersonaLogOptions& options);

}  // namespace snap
