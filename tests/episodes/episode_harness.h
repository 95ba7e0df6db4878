// What the episode tests share: a wall clock the test sets, and one dev app of the
// episode program running its servers and recording its requests.
#pragma once

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "episode_app.h"
#include "snap/env.h"
#include "snap/episode.h"
#include "snap/lifecycle.h"
#include "snap/persona.h"

namespace snap::episodetest {

// The real system with a wall clock the test sets (the handler fails at odd seconds).
class ClockEnv final : public EnvWrapper {
 public:
  ClockEnv() : EnvWrapper(real_env()) {}
  std::atomic<std::int64_t> seconds{1'800'000'001};  // an odd second
  std::chrono::system_clock::time_point wall_now() override {
    return std::chrono::system_clock::time_point(std::chrono::seconds(seconds.load()));
  }
};

// One dev app of the program running its servers, recording into `dir`.
class Running {
 public:
  Running(Env& env, const Variant& variant, const EpisodeOptions& options) {
    app_ = start_dev_app("episodes", [&](App& app) { define_episode_app(app, variant, endpoints_); }, env,
                         DevOptions{{{"api-key", kApiKeyValue}}});
    start_episodes(*app_, options);
    for (const Persona* p : app_->personas()) {
      if (p->persona_kind() != PersonaKind::kDaemon) continue;
      auto ctx = std::make_unique<PersonaContext>(*app_, *p, std::vector<std::string>{});
      PersonaContext* raw = ctx.get();
      servers_.push_back({std::move(ctx), std::thread([p, raw] { p->run(*raw); })});
    }
    caller_ = std::make_unique<PersonaContext>(*app_, *app_->find_persona("caller"), std::vector<std::string>{});
  }
  ~Running() {
    for (auto& s : servers_) stop_persona(*s.ctx);
    for (auto& s : servers_) s.thread.join();
  }
  App& app() { return *app_; }
  Endpoints& endpoints() { return endpoints_; }
  PersonaContext& caller() { return *caller_; }
  void seed(const std::string& account, std::int64_t balance) {
    endpoints_.accounts->open<Account>(*caller_).set(account, Account{balance});
  }

 private:
  struct Server {
    std::unique_ptr<PersonaContext> ctx;
    std::thread thread;
  };
  Endpoints endpoints_;
  std::unique_ptr<App> app_;
  std::vector<Server> servers_;
  std::unique_ptr<PersonaContext> caller_;
};

}  // namespace snap::episodetest
