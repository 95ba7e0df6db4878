// Persona: a component that can be what a process is. Every container runs the same
// binary; after replaying startup it becomes one persona (`app run api`). In dev mode all
// daemon personas run together in one process, each on its own thread.
//
// The body runs after define_app has returned, so it captures what it needs by value:
// values computed at startup, and references to components (the app owns them and
// outlives every body). Everything live -- time, randomness, secrets, stores, endpoints --
// comes from the body's PersonaContext, which admits only what the persona `uses`:
//
//   auto& password = app.add<snap::Password>("db-password");
//   const std::string instance = app.membrane().uuid();         // startup value
//   app.add<snap::Persona>("api", snap::PersonaKind::kDaemon,
//                          [&password, instance](snap::PersonaContext& ctx) {
//                            connect(password.value(ctx), instance);  // needs .uses(password)
//                            ctx.wait_for_stop();
//                            return 0;
//                          })
//       .uses(password);
//
// Thread safety: a persona's body runs on one thread; PersonaContext's stop functions may
// be called from any thread, and its other functions from any thread the body starts.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <source_location>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "snap/component.h"
#include "snap/error.h"
#include "snap/trace.h"

namespace spdlog {
class logger;
}

namespace snap {

class Membrane;
class Persona;
class RequestInfo;
struct EpisodeRequest;
struct EpisodeResponse;

// A persona reached for a component (a secret, a store, a server) it does not use. The
// message names the persona, the component and the fix. Thrown alike in dev and run, so
// a missing `.uses(x)` never passes in-process and fails only when deployed. A bug in the
// program: code internal, detail "replay.uses".
class UsesError : public Error {
 public:
  explicit UsesError(const std::string& message) : Error(ErrorCode::kInternal, "replay.uses", message) {}
};

// What a running persona gets: a stop signal, the live membrane, its arguments, and the
// components it uses. Made by the lifecycle for each running persona.
class PersonaContext {
 public:
  PersonaContext(App& app, const Persona& persona, std::vector<std::string> args);

  App& app() const { return app_; }
  const Persona& persona() const { return persona_; }
  // The live membrane (startup is over): time, random, files and env pass straight through.
  // While this thread handles a request that is being recorded or replayed
  // (snap/episode.h), the episode's membrane: each read is kept, or comes from the episode.
  Membrane& membrane() const;
  // Arguments after the persona's name on the command line (commands use them).
  const std::vector<std::string>& args() const { return args_; }

  // Whether this persona reaches `component`: it is in the persona's subtree, or the
  // persona (or anything in its subtree) uses it, directly or through what that uses
  // (snap/reach.h: the rule deployment applies too).
  bool reaches(const Component& component) const;
  // Throws UsesError naming this persona, `component` and the `.uses(...)` to add.
  void require_uses(const Component& component, std::source_location where = std::source_location::current()) const;
  // A secret's value, for a component this persona reaches (Password, Secret). Throws
  // UsesError if it does not reach `owner` or does not receive `name` (App::secrets_for:
  // what its container mounts), SecretUnavailable if the value is missing.
  std::string secret(const Component& owner, std::string_view name,
                     std::source_location where = std::source_location::current()) const;

  // Tracing (snap/trace.h). The span this thread works in for the persona: a handled
  // request's, a Job's or a command's run, a Worker's tick; one that records nothing when
  // there is none (or tracing is off). A body adds its own attributes to it.
  Span& span() const;
  // A child of span(), of this persona's service, ended when destroyed (or by end()).
  Span start_span(std::string_view name) const;
  // The service its spans report under: $OTEL_SERVICE_NAME where the process sets it
  // (one persona per process), else the persona's service name (Id::service_name).
  const std::string& service_name() const { return service_; }
  // This persona's logger (snap/logging.h: include it to write, with spdlog's API). Lines
  // carry the persona and the current span's trace id; $SNAP_LOG_FORMAT (text, json) and
  // $SNAP_LOG_LEVEL choose the form and the level.
  spdlog::logger& log() const { return *logger_; }
  const std::shared_ptr<spdlog::logger>& logger() const { return logger_; }
  // The request this persona is handling on this thread (snap/request.h): inside an
  // ApiServer's endpoint handler or authentication hook, its headers, path and
  // principal. Throws std::logic_error anywhere else (another thread included).
  const RequestInfo& request() const;

  bool stop_requested() const;
  // Blocks until stop is requested.
  void wait_for_stop() const;
  // Blocks until stop is requested or `timeout` passes; true if stop was requested.
  bool wait_for_stop(std::chrono::milliseconds timeout) const;
  void request_stop();

 private:
  App& app_;
  const Persona& persona_;
  std::vector<std::string> args_;
  std::vector<const Component*> reachable_;  // sorted by address: the tree is frozen after startup
  std::vector<std::string> secrets_;         // the secret names it receives (App::secrets_for), sorted
  std::string service_;
  std::shared_ptr<spdlog::logger> logger_;
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  bool stop_ = false;
};

// A span of the library's own, of `ctx`'s persona, current on this thread for the scope:
// a handled request, a call to a server, a Job's run. Its parent is `parent` (a remote
// caller's context) or else this thread's current span; a root when neither is. Records
// nothing when the app has no tracer (tracing not started: verify, a bare test context).
class PersonaSpan {
 public:
  PersonaSpan(const PersonaContext& ctx, std::string_view name, SpanKind kind, const SpanContext* parent = nullptr);
  PersonaSpan(const PersonaSpan&) = delete;
  PersonaSpan& operator=(const PersonaSpan&) = delete;
  Span& span() { return span_; }

 private:
  Span span_;
  std::optional<ActiveSpan> active_;  // declared after span_: deactivated before it ends
};

// Stops the persona running with `context` (on another thread), as the lifecycle does on
// SIGTERM: requests the context's stop (stop_requested(), wait_for_stop()), then runs the
// persona's on_stop hooks here, which unblock its body (a server's listener closes).
void stop_persona(PersonaContext& context);

class Persona : public Component {
 public:
  // The body's return value is the process exit status (for daemons, usually 0).
  using Body = std::function<int(PersonaContext&)>;

  Persona(const Init& init, PersonaKind kind, Body body, std::string type = "Persona");

  PersonaKind persona_kind() const override { return kind_; }
  // Called when the persona is asked to stop (signal, dev-mode shutdown), from another
  // thread than the body's; use it to unblock the body (close a listener...).
  Persona& on_stop(std::function<void()> hook);

  // Runs the body. A Job's or a command's run is a trace of its own (a root span named
  // "job NAME" / "command NAME"); a daemon's spans are its requests and ticks.
  int run(PersonaContext& context) const;
  // One line (or a few) for `help` in the dev REPL and usage errors: name, arguments, summary.
  virtual std::string help() const;
  // Whether this persona, running in this process, is healthy: `APP health PERSONA` (the
  // container healthcheck) replays startup and asks. Servers override it to probe themselves.
  virtual bool healthy(PersonaContext& context) const {
    (void)context;
    return true;
  }
  // Handles one recorded request again (`APP replay EPISODE`, snap/episode.h), on this
  // thread, with the episode current; returns what it answers. Servers override it; the
  // default throws std::logic_error (this persona handles no requests).
  virtual EpisodeResponse replay_request(PersonaContext& context, const EpisodeRequest& request) const;

 private:
  friend void stop_persona(PersonaContext& context);
  void stopping() const {
    if (on_stop_) on_stop_();
  }

  PersonaKind kind_;
  Body body_;
  std::function<void()> on_stop_;
};

inline void stop_persona(PersonaContext& context) {
  context.request_stop();
  context.persona().stopping();
}

}  // namespace snap
