// App internals shared by app.cc and lifecycle.cc.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <source_location>
#include <string>
#include <vector>

#include "snap/app.h"
#include "snap/environment.h"
#include "snap/episode.h"
#include "snap/lifecycle.h"
#include "snap/membrane.h"
#include "snap/metrics.h"
#include "snap/secrets.h"
#include "snap/trace.h"

namespace snap {

// Secret values the build (or dev mode) knows: stored, generated this run, or supplied.
class KnownSecrets final : public SecretSource {
 public:
  std::optional<std::string> get(std::string_view name) const override {
    auto it = values.find(name);
    if (it == values.end()) return std::nullopt;
    return it->second;
  }
  std::string describe(std::string_view name) const override {
    return "the build's secrets (--secret " + std::string(name) + "=VALUE or $" +
           env_name_for_secret("SNAP_SECRET_", name) + ")";
  }
  std::map<std::string, std::string, std::less<>> values;
};

// Tracing for a running process: sinks first, so that the tracer that feeds them goes
// first (members are destroyed in reverse), and the batch processor drains into its
// exporter before the exporter goes.
struct Telemetry {
  std::unique_ptr<SpanExporter> exporter;
  std::unique_ptr<BatchSpanProcessor> batch;
  std::unique_ptr<SpanCollector> collector;
  std::optional<std::string> service_name;  // $OTEL_SERVICE_NAME
  std::unique_ptr<Tracer> tracer;
  MetricCallback dropped_spans;  // snap_trace_spans_dropped_total: reads `batch`
};

struct App::Private {
  Mode mode = Mode::kDev;
  Phase phase = Phase::kStartup;
  // Chosen by run_startup from the mode and the (replayed) build state, before define_app.
  std::unique_ptr<const Environment> environment;
  Env* system = nullptr;

  // Build and dev: the secrets this process knows. Run/verify: the runtime source.
  KnownSecrets known_secrets;
  const SecretSource* secret_source = &known_secrets;

  // Startup reads through startup_membrane (recording, replaying, or a live one in dev);
  // it is closed when startup ends, and bodies get live_membrane through their context.
  std::unique_ptr<Membrane> startup_membrane;
  std::unique_ptr<LiveMembrane> live_membrane;

  BuildState state;
  std::vector<std::function<void(App&)>> build_actions;
  std::vector<std::unique_ptr<Component>> owned;
  std::vector<Component*> all;  // creation order, the app first
  std::map<std::string, std::source_location> created_at;

  // Before telemetry: the tracer's drop counter is read by a callback registered here.
  MetricsRegistry metrics;
  std::unique_ptr<Telemetry> telemetry;  // run and dev, once started (start_telemetry)
  std::unique_ptr<EpisodeSink> episodes;  // run and dev, when recording (start_episodes)
  std::string build_id = "dev";

  std::set<std::string> generated_secrets;  // made this build: to be stored
  std::set<std::string> required_secrets;   // must be supplied by the user
  std::map<std::string, std::string, std::less<>> supplied_secrets;

  // Ends startup: the startup membrane refuses every later call.
  void end_startup(Phase next) {
    startup_membrane->close(
        "startup is over: a persona body reads live inputs through its PersonaContext (ctx.membrane()), "
        "never through a membrane kept from startup");
    phase = next;
  }
};

// The lifecycle's access to an app's internals.
struct AppAccess {
  static App::Private& of(const App& app) { return app.internals(); }
  static std::unique_ptr<App> make(std::string_view name, std::unique_ptr<App::Private> state) {
    return std::unique_ptr<App>(new App(name, std::move(state)));
  }
};

}  // namespace snap
