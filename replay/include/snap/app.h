// App: the root of a program's component tree and its context: which mode the process
// runs in, which phase of the lifecycle it is in, the membrane to read inputs through,
// and the build-time state that persists across builds.
//
// A program defines itself in one function that runs at startup in every mode:
//
//   void define_app(snap::App& app) {
//     auto& port = app.add<snap::Port>("api-port");
//     const auto started = app.membrane().wall_now();  // recorded at build, replayed at runtime
//     app.add<snap::Persona>("api", snap::PersonaKind::kDaemon, [&port, started](snap::PersonaContext& ctx) {
//       serve(port.number(), started, ctx);             // live inputs: ctx.membrane()
//       return 0;
//     }).uses(port);
//   }
//   int main(int argc, char** argv) { return snap::run(argc, argv, "my-app", define_app); }
//
// membrane() is the *startup* membrane: recording at build, replaying in every container.
// It closes when startup ends; a body that kept it gets MembraneClosed on its first call,
// in every mode. A body reads live inputs through its PersonaContext.
//
// The app is made by snap::run (or the in-process functions in lifecycle.h), never by
// user code. There are no globals: several apps may live in one process.
//
// Thread safety: startup (define_app) runs on one thread. Afterwards the tree is frozen
// and the read-only accessors may be used from any thread.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <source_location>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "snap/component.h"
#include "snap/error.h"
#include "snap/log.h"

namespace snap {

class Membrane;
class Persona;
class Env;
class Environment;
class Tracer;
class SpanCollector;
class MetricsRegistry;
class EpisodeSink;

// Which program this process is.
enum class Mode {
  kBuild,   // `app build`: startup records, then build actions write the deployment
  kRun,     // `app run PERSONA`: startup replays, then the persona runs live
  kDev,     // `app dev`: startup live, every daemon persona in this process
  kVerify,  // `app verify LOG`: startup replays against a log, nothing runs
};
std::string_view to_string(Mode mode);

// Where in the lifecycle the process is.
enum class Phase {
  kStartup,       // define_app is running; inputs go through the recording/replaying membrane
  kBuildActions,  // build mode, after startup: on_build actions, state files
  kRuntime,       // a persona body is running (run, dev); the membrane is live
  kFinished,      // verify after startup, or after personas stopped
};
std::string_view to_string(Phase phase);

// A phase assertion failed. The message names the assertion and the actual mode and phase.
// A bug in the program: code internal, detail "replay.phase".
class PhaseError : public Error {
 public:
  explicit PhaseError(const std::string& message) : Error(ErrorCode::kInternal, "replay.phase", message) {}
};

// The build-time key-value store: JSON values that persist across builds in
// BUILD_DIR/state/build-state.json. Loaded at startup through the membrane, so runtime
// containers see exactly what the build saw; written back only by a build.
class BuildState {
 public:
  std::optional<boost::json::value> get(std::string_view key) const;
  // Any mode may set (so startup code runs alike everywhere); only a build persists it.
  void set(std::string_view key, boost::json::value value);
  const boost::json::object& values() const { return values_; }

 private:
  friend class App;
  boost::json::object values_;
};

class App final : public Component {
 public:
  struct Private;  // the lifecycle's (replay/src); an App is made by it only (lifecycle.h)
  ~App() override;

  Mode mode() const;
  Phase phase() const;

  // The startup membrane (recording, replaying, or live in dev). Throws PhaseError after
  // startup: a persona body uses PersonaContext::membrane().
  Membrane& membrane(std::source_location where = std::source_location::current()) const;
  BuildState& build_state();

  // Runs after startup, in build mode only, in the order added (e.g. write config files).
  void on_build(std::function<void(App&)> action);

  // Phase assertions; each throws PhaseError naming where the program actually is.
  void assert_startup(std::source_location where = std::source_location::current()) const;
  void assert_not_startup(std::source_location where = std::source_location::current()) const;
  // A persona body is running (run or dev mode).
  void assert_runtime(std::source_location where = std::source_location::current()) const;
  // This process is the build (startup or build actions).
  void assert_build_time(std::source_location where = std::source_location::current()) const;

  // Secrets. A secret's value never enters the log: components declare the secret at
  // startup and a persona body reads it through PersonaContext::secret().
  // Build and dev: makes sure `name` has a value, calling `generate` once (with the
  // Env's randomness, unrecorded) if none is stored yet. Other modes: no-op.
  void provide_generated_secret(std::string_view name, const std::function<std::string(Env&)>& generate);
  // Build and dev: the user must supply `name` (`--secret NAME=VALUE`, or the env var
  // SNAP_SECRET_<NAME> at build time); a build without it fails after startup.
  void require_supplied_secret(std::string_view name);

  // Every component in creation order (the app itself first), and the personas among them.
  std::vector<const Component*> components() const;
  std::vector<const Persona*> personas() const;
  const Persona* find_persona(std::string_view name) const;
  // The name to type for `persona` (what lists and messages show): its short name when no
  // other persona has it, else its scoped name, its id without the app's ("orders.api").
  std::string persona_name(const Persona& persona) const;
  // The manifest of this tree: what the build records and every replay compares.
  Manifest manifest() const;
  // Secret names a persona receives: those of what it reaches (snap/reach.h), which are
  // the secrets its container mounts.
  std::vector<std::string> secrets_for(const Persona& persona) const;
  // What a persona may reach, itself first: its own subtree and everything it uses,
  // transitively -- except through another persona: using a server reaches the server,
  // not its database. The rule is snap/reach.h's, which deployment applies too.
  std::vector<const Component*> reachable_from(const Persona& persona) const;
  // Where this process's personas run (snap/environment.h): how a component opens its
  // store, finds a host, calls a server and listens. Chosen once, before define_app runs.
  const Environment& environment() const;
  // The operating system this app was given (snap/env.h): for components' own waiting and
  // deadlines (timeouts, retry backoff), so that a test on MemoryEnv runs them in virtual
  // time. Not for inputs: a program reads the clock, randomness, files and variables
  // through its membrane, which records them.
  Env& env() const;
  // Tracing for the personas this process runs (snap/trace.h), once the lifecycle has
  // started it (start_telemetry in lifecycle.h: run and dev); null before, and in build
  // and verify. recent_spans(): the spans kept in memory (dev), or null.
  const Tracer* tracer() const;
  const SpanCollector* recent_spans() const;
  // This process's metrics (snap/metrics.h): what its API servers serve on /metrics.
  // Components register their families here; one registry per app, no global one.
  MetricsRegistry& metrics() const;
  // Where this process's recorded requests go (snap/episode.h), once the lifecycle has
  // started recording (run and dev with a policy other than off); null otherwise.
  EpisodeSink* episodes() const;
  // Which build this process runs: the first 12 hex digits of its log's digest ("dev" in
  // dev mode). Episodes name it.
  const std::string& build_id() const;

 private:
  App(std::string_view name, std::unique_ptr<Private> state);
  friend class Component;
  friend class PersonaContext;
  friend struct AppAccess;  // the lifecycle (replay/src)
  Private& internals() const { return *private_; }
  void register_component(Component& component);
  std::unique_ptr<Private> private_;
};

}  // namespace snap
