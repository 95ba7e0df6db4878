// A test program for the lifecycle: its startup reads time, random, a file, env and build
// state; it has two daemon personas and one command. $LIFECYCLE_VARIANT (read directly,
// not through the membrane: it stands for a code change) makes it a changed program:
//   added      one more component        removed   one component fewer
//   reordered  two random reads swapped  phase-bad calls assert_runtime during startup
//   kept-membrane   api's body reads a membrane kept from startup
//   forgot-uses     api's body reads a password it does not use
//   raw-clock, raw-time, raw-rand, raw-getenv, raw-ifstream   startup reads around the membrane
//   secret-at-startup   startup reads a secret     dup-persona   two personas named "api"
//   fail-on-build   an on_build action throws      wait-on-build  on_build blocks on ./release.fifo
//   with-job        adds a job persona "seed"
//   greeter-v1, greeter-v2   adds an ApiServer "greeter" whose request gains a required
//                   member in v2 (a change that breaks v1's clients)
#include <time.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <system_error>

#include "snap/api_server.h"
#include "snap/app.h"
#include "snap/determinism_guard.h"
#include "snap/job.h"
#include "snap/main.h"
#include "snap/membrane.h"
#include "snap/password.h"
#include "snap/persona.h"
#include "snap/port.h"
#include "snap/worker.h"

namespace {

struct Greeting {
  std::string name;
};
BOOST_DESCRIBE_STRUCT(Greeting, (), (name))
struct GreetingV2 {
  std::string name;
  std::string language;
};
BOOST_DESCRIBE_STRUCT(GreetingV2, (), (name, language))

std::string variant() {
  // Deliberately around the membrane: the variant stands for a change to the code itself.
  snap::AllowNondeterminism allow("the test's variant switch stands for a code change");
  const char* v = std::getenv("LIFECYCLE_VARIANT");
  return v ? v : "";
}

// Raw reads a careless startup might make; the determinism guard must catch each.
void raw_read(const std::string& which) {
  if (which == "raw-clock") std::cout << "raw: " << std::chrono::system_clock::now().time_since_epoch().count() << "\n";
  if (which == "raw-time") std::cout << "raw: " << time(nullptr) << "\n";
  if (which == "raw-rand") std::cout << "raw: " << rand() << "\n";
  if (which == "raw-getenv") std::cout << "raw: " << (std::getenv("HOME") != nullptr) << "\n";
  if (which == "raw-ifstream") std::cout << "raw: " << std::ifstream("input.txt").good() << "\n";
}

void define(snap::App& app) {
  auto& m = app.membrane();
  auto& api_port = app.add<snap::Port>("api-port");
  auto& admin_port = app.add<snap::Port>("admin-port");
  auto& password = app.add<snap::Password>("db-password");
  if (variant() != "removed") app.add<snap::Port>("metrics-port");
  if (variant() == "added") app.add<snap::Port>("extra-port");
  if (variant() == "phase-bad") app.assert_runtime();
  raw_read(variant());
  if (variant() == "secret-at-startup") m.secret("db-password");

  const auto started = m.wall_now().time_since_epoch().count();
  std::int64_t first = 0, second = 0;
  if (variant() == "reordered") {
    second = m.random_int(0, 1'000'000'000);
    first = static_cast<std::int64_t>(m.random_bytes(4).size());
  } else {
    first = static_cast<std::int64_t>(static_cast<unsigned char>(m.random_bytes(4)[0]));
    second = m.random_int(0, 1'000'000'000);
  }
  const std::string instance = m.uuid();
  const std::string input = m.read_file("input.txt");
  const std::string user = m.env("LIFECYCLE_USER").value_or("<unset>");
  auto builds = app.build_state().get("builds");
  const std::int64_t build_count = builds ? builds->as_int64() : 0;
  app.build_state().set("builds", build_count + 1);

  std::cout << "startup: api_port=" << api_port.number() << " admin_port=" << admin_port.number()
            << " started=" << started << " first=" << first << " second=" << second << " instance=" << instance
            << " input=" << input << " user=" << user << " builds=" << build_count << std::endl;

  const std::string v = variant();
  app.on_build([v](snap::App& a) {
    a.assert_build_time();
    a.assert_not_startup();
    std::cout << "build action: ran" << std::endl;
    if (v == "fail-on-build") throw std::runtime_error("the build action failed on purpose");
    if (v == "wait-on-build") {
      std::cout << "build action: waiting" << std::endl;
      std::ifstream release("release.fifo");  // blocks until the test opens it for writing
    }
  });
  snap::Password* audit_key = v == "forgot-uses" ? &app.add<snap::Password>("audit-key") : nullptr;
  if (v == "with-job") {
    app.add<snap::Job>("seed", [](snap::PersonaContext&) {
      std::cout << "seed: ran" << std::endl;
      return 0;
    });
  }
  if (v == "no-threads") {
    // What std::thread throws when the container's pids limit is reached.
    app.add<snap::Job>("spawn", [](snap::PersonaContext&) -> int {
      throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again));
    });
  }
  if (v == "greeter-v1") {
    app.add<snap::ApiServer>("greeter").endpoint<Greeting, void>("POST", "/greet", [](const Greeting&) {});
  } else if (v == "greeter-v2") {
    app.add<snap::ApiServer>("greeter").endpoint<GreetingV2, void>("POST", "/greet", [](const GreetingV2&) {});
  }
  if (v == "dup-persona") {
    api_port.add<snap::Persona>("api", snap::PersonaKind::kCommand, [](snap::PersonaContext&) { return 0; });
  }

  auto daemon_body = [&app, &password, &m, audit_key, v](const char* name) {
    return [&app, &password, &m, audit_key, v, name](snap::PersonaContext& ctx) {
      app.assert_runtime();
      if (v == "kept-membrane") std::cout << "kept: " << m.wall_now().time_since_epoch().count() << std::endl;
      if (audit_key != nullptr) std::cout << "audit: " << audit_key->value(ctx) << std::endl;
      // One write per line: the personas of dev print from threads of their own.
      std::cout << (std::string(name) + ": running password=" + password.value(ctx) + "\n") << std::flush;
      if (app.mode() == snap::Mode::kDev) {
        ctx.wait_for_stop();
        std::cout << name << ": body returned" << std::endl;
      }
      return 0;
    };
  };
  app.add<snap::Persona>("api", snap::PersonaKind::kDaemon, daemon_body("api"))
      .on_stop([] { std::cout << "api: stop hook" << std::endl; })
      .uses(password);
  app.add<snap::Worker>("ticker", std::chrono::milliseconds(5), [](snap::PersonaContext& ctx) {
    static int ticks = 0;
    if (++ticks == 1) std::cout << "ticker: running" << std::endl;
    if (ctx.app().mode() == snap::Mode::kRun && ticks == 3) ctx.request_stop();
  });
  app.add<snap::Persona>("hello", snap::PersonaKind::kCommand, [](snap::PersonaContext& ctx) {
    std::cout << ("hello: args=" + std::to_string(ctx.args().size()) + "\n") << std::flush;
    return ctx.args().empty() ? 0 : 7;
  });
}

}  // namespace

int main(int argc, char** argv) { return snap::run(argc, argv, "lifecycle", define); }
