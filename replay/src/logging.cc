#include "snap/logging.h"

#include <time.h>

#include <spdlog/sinks/stdout_sinks.h>

#include "snap/json_text.h"
#include "snap/trace.h"

namespace snap {

namespace {

// "2026-12-07T08:50:32.123456Z" (json) or "2026-12-07 08:50:32.123" (text), in UTC.
std::string time_text(std::chrono::system_clock::time_point t, bool iso) {
  const auto since = t.time_since_epoch();
  const std::time_t seconds = std::chrono::duration_cast<std::chrono::seconds>(since).count();
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(since).count() % 1'000'000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char out[96];  // room for any int the format could print: -Wformat-truncation
  if (iso) {
    std::snprintf(out, sizeof out, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", utc.tm_year + 1900, utc.tm_mon + 1,
                  utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<long long>(micros));
  } else {
    std::snprintf(out, sizeof out, "%04d-%02d-%02d %02d:%02d:%02d.%03lld", utc.tm_year + 1900, utc.tm_mon + 1,
                  utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<long long>(micros / 1000));
  }
  return out;
}

std::string_view level_name(spdlog::level::level_enum level) {
  const auto& name = spdlog::level::to_string_view(level);
  return std::string_view(name.data(), name.size());
}

// The span the logging thread works in: formatters run on the thread that logs (the
// sinks here are synchronous), so the current span is the line's.
const SpanContext* line_span() {
  const SpanContext* span = current_span_context();
  return span != nullptr && span->valid() ? span : nullptr;
}

class JsonLineFormatter final : public spdlog::formatter {
 public:
  JsonLineFormatter(std::string persona, std::string service)
      : persona_(std::move(persona)), service_(std::move(service)) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string line = "{\"time\":\"" + time_text(msg.time, true) + "\",\"level\":\"";
    line += level_name(msg.level);
    line += "\",\"persona\":";
    append_json_string(line, persona_);
    line += ",\"service\":";
    append_json_string(line, service_);
    line += ",\"message\":";
    append_json_string(line, std::string_view(msg.payload.data(), msg.payload.size()));
    if (const SpanContext* span = line_span()) {
      line += ",\"trace_id\":\"" + span->trace_id.hex() + "\",\"span_id\":\"" + span->span_id.hex() + "\"";
    }
    line += "}\n";
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonLineFormatter>(persona_, service_);
  }

 private:
  const std::string persona_, service_;
};

class TextLineFormatter final : public spdlog::formatter {
 public:
  explicit TextLineFormatter(std::string persona) : persona_(std::move(persona)) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string line = "[" + time_text(msg.time, false) + "] [" + persona_ + "] [";
    line += level_name(msg.level);
    line += "] ";
    line.append(msg.payload.data(), msg.payload.size());
    if (const SpanContext* span = line_span()) {
      line += " (trace " + span->trace_id.hex() + " span " + span->span_id.hex() + ")";
    }
    line += '\n';
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<TextLineFormatter>(persona_); }

 private:
  const std::string persona_;
};

}  // namespace

std::optional<LogFormat> log_format_from(std::string_view name) {
  if (name == "text") return LogFormat::kText;
  if (name == "json") return LogFormat::kJson;
  return std::nullopt;
}

std::shared_ptr<spdlog::logger> make_persona_logger(const PersonaLogOptions& options) {
  spdlog::sink_ptr sink = options.sink ? options.sink : std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>(options.persona, sink);
  if (options.format == LogFormat::kJson) {
    logger->set_formatter(std::make_unique<JsonLineFormatter>(options.persona, options.service));
  } else {
    logger->set_formatter(std::make_unique<TextLineFormatter>(options.persona));
  }
  logger->set_level(options.level);
  return logger;
}

}  // namespace snap
