// Persona: a component that can be what a process is. Every container runs the same
// binary; after replaying startup it becomes one persona (`app run api`). In dev mode all
// daemon personas run together in one process, each on its own thread.
//
//   app.add<snap::Persona>("api", snap::PersonaKind::kDaemon, [&](snap::PersonaContext& ctx) {
//     serve_until(ctx);            // return when ctx.stop_requested()
//     return 0;
//   }).on_stop([&] { server.close(); });
//
// Thread safety: a persona's body runs on one thread; PersonaContext's stop functions may
// be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "snap/component.h"

namespace snap {

class Membrane;

// What a running persona gets: a stop signal, the live membrane, its arguments.
class PersonaContext {
 public:
  PersonaContext(App& app, std::vector<std::string> args) : app_(app), args_(std::move(args)) {}

  App& app() const { return app_; }
  // The live membrane (startup is over): time, random, files and env pass straight through.
  Membrane& membrane() const;
  // Arguments after the persona's name on the command line (commands use them).
  const std::vector<std::string>& args() const { return args_; }

  bool stop_requested() const;
  // Blocks until stop is requested.
  void wait_for_stop() const;
  // Blocks until stop is requested or `timeout` passes; true if stop was requested.
  bool wait_for_stop(std::chrono::milliseconds timeout) const;
  void request_stop();

 private:
  App& app_;
  std::vector<std::string> args_;
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  bool stop_ = false;
};

class Persona : public Component {
 public:
  // The body's return value is the process exit status (for daemons, usually 0).
  using Body = std::function<int(PersonaContext&)>;

  Persona(const Init& init, PersonaKind kind, Body body, std::string type = "Persona");

  PersonaKind persona_kind() const override { return kind_; }
  // Called when the persona is asked to stop (signal, dev-mode shutdown), from another
  // thread than the body's; use it to unblock the body (close a listener...).
  Persona& on_stop(std::function<void()> hook);

  int run(PersonaContext& context) const { return body_(context); }
  void stopping() const {
    if (on_stop_) on_stop_();
  }

 private:
  PersonaKind kind_;
  Body body_;
  std::function<void()> on_stop_;
};

}  // namespace snap
