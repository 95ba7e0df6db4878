// Tracing in the lifecycle: the app's tracer and its sinks (start_telemetry), a persona's
// spans (PersonaContext::span, PersonaSpan), and the root span of a Job's or command's run.
#include <iostream>

#include "lifecycle_private.h"
#include "snap/persona.h"

namespace snap {

namespace {

// The exporter's URL from the standard variables (the OTLP exporter specification):
// the traces endpoint is taken as it is, the general one gets the signal's path.
std::string traces_url_from(Env& env) {
  if (env.variable("OTEL_TRACES_EXPORTER").value_or("") == "none") return {};
  if (auto url = env.variable("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"); url && !url->empty()) return *url;
  if (auto base = env.variable("OTEL_EXPORTER_OTLP_ENDPOINT"); base && !base->empty()) {
    std::string url = *base;
    while (!url.empty() && url.back() == '/') url.pop_back();
    return url + "/v1/traces";
  }
  return {};
}

// An empty span for span() to hand out when nothing is active: records nothing whatever
// is set on it. One per thread, so that no two threads share it.
Span& no_span() {
  thread_local Span none;
  return none;
}

}  // namespace

void start_telemetry(App& app, const TelemetryOptions& options) {
  App::Private& p = AppAccess::of(app);
  if (p.telemetry) throw std::logic_error("start_telemetry: tracing has already started for this app");
  Env& env = app.env();
  auto t = std::make_unique<Telemetry>();
  std::vector<std::string> warnings;
  const TraceConfig config = trace_config_from(env, &warnings);
  for (const std::string& w : warnings) std::cerr << "snap: tracing: " << w << std::endl;
  if (auto name = env.variable("OTEL_SERVICE_NAME"); name && !name->empty()) t->service_name = *name;

  std::vector<SpanSink*> sinks;
  const std::string url = options.otlp_traces_url.empty() ? traces_url_from(env) : options.otlp_traces_url;
  if (!url.empty() && options.exporter) {
    try {
      t->exporter = options.exporter(url);
      std::vector<std::string> batch_warnings;
      const BatchOptions batch = batch_options_from(env, options.batch, &batch_warnings);
      for (const std::string& w : batch_warnings) std::cerr << "snap: tracing: " << w << std::endl;
      t->batch = std::make_unique<BatchSpanProcessor>(*t->exporter, batch);
      sinks.push_back(t->batch.get());
    } catch (const std::invalid_argument& e) {
      // A bad endpoint must not stop the service it was meant to observe.
      std::cerr << "snap: tracing: " << e.what() << ": spans are not exported" << std::endl;
    }
  }
  if (options.keep_recent) {
    t->collector = std::make_unique<SpanCollector>();
    sinks.push_back(t->collector.get());
  }
  t->tracer = std::make_unique<Tracer>(env, config, std::move(sinks));
  if (t->batch) {
    t->dropped_spans = p.metrics.counter_callback(
        "snap_trace_spans_dropped_total",
        "Spans dropped because the export queue was full or the collector did not take them.",
        [batch = t->batch.get()] { return static_cast<double>(batch->dropped()); });
  }
  p.telemetry = std::move(t);
}

MetricsRegistry& App::metrics() const { return private_->metrics; }

const Tracer* App::tracer() const { return private_->telemetry ? private_->telemetry->tracer.get() : nullptr; }

const SpanCollector* App::recent_spans() const {
  return private_->telemetry ? private_->telemetry->collector.get() : nullptr;
}

std::string service_name_for(const App& app, const Persona& persona) {
  const Telemetry* t = AppAccess::of(app).telemetry.get();
  return t != nullptr && t->service_name ? *t->service_name : persona.id().service_name();
}

std::shared_ptr<spdlog::logger> persona_logger(const App& app, const Persona& persona, const std::string& service) {
  Env& env = app.env();
  PersonaLogOptions options{persona.id().str(), service};
  std::vector<std::string> complaints;
  if (const auto name = env.variable("SNAP_LOG_FORMAT"); name && !name->empty()) {
    if (const auto format = log_format_from(*name)) {
      options.format = *format;
    } else {
      complaints.push_back("SNAP_LOG_FORMAT=" + *name + " is not text or json: using text");
    }
  }
  if (const auto level = env.variable("SNAP_LOG_LEVEL"); level && !level->empty()) {
    options.level = spdlog::level::from_str(*level);
    // spdlog reads an unknown name as "off": say so rather than go silent.
    if (options.level == spdlog::level::off && *level != "off") {
      options.level = spdlog::level::info;
      complaints.push_back("SNAP_LOG_LEVEL=" + *level +
                           " is not a level (trace, debug, info, warn, error, critical, off): using info");
    }
  }
  auto logger = make_persona_logger(options);
  for (const std::string& c : complaints) logger->warn("{}", c);
  return logger;
}

Span& PersonaContext::span() const {
  Span* current = current_span();
  return current != nullptr ? *current : no_span();
}

Span PersonaContext::start_span(std::string_view name) const {
  const Tracer* tracer = app_.tracer();
  if (tracer == nullptr) return Span();
  return tracer->start(name, SpanKind::kInternal, service_, current_span_context());
}

PersonaSpan::PersonaSpan(const PersonaContext& ctx, std::string_view name, SpanKind kind, const SpanContext* parent) {
  const Tracer* tracer = ctx.app().tracer();
  if (tracer == nullptr) return;
  span_ = tracer->start(name, kind, ctx.service_name(), parent != nullptr ? parent : current_span_context());
  active_.emplace(span_, *tracer, ctx.service_name());
}

int Persona::run(PersonaContext& context) const {
  if (kind_ != PersonaKind::kJob && kind_ != PersonaKind::kCommand) return body_(context);
  PersonaSpan run(context, std::string(kind_ == PersonaKind::kJob ? "job " : "command ") + id().name(),
                  SpanKind::kInternal);
  run.span().set("snap.persona", id().str());
  try {
    const int status = body_(context);
    run.span().set("process.exit.code", status);
    if (status != 0) run.span().set_error("exit status " + std::to_string(status));
    return status;
  } catch (const std::exception& e) {
    run.span().set_error(e.what());
    throw;
  }
}

}  // namespace snap
