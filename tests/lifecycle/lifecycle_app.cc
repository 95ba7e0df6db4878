// A test program for the lifecycle: its startup reads time, random, a file, env and build
// state; it has two daemon personas and one command. $LIFECYCLE_VARIANT (read directly,
// not through the membrane: it stands for a code change) makes it a changed program:
//   added      one more component        removed   one component fewer
//   reordered  two random reads swapped  phase-bad calls assert_runtime during startup
#include <cstdlib>
#include <iostream>
#include <string>

#include "snap/app.h"
#include "snap/lifecycle.h"
#include "snap/membrane.h"
#include "snap/password.h"
#include "snap/persona.h"
#include "snap/port.h"
#include "snap/worker.h"

namespace {

std::string variant() {
  const char* v = std::getenv("LIFECYCLE_VARIANT");
  return v ? v : "";
}

void define(snap::App& app) {
  auto& m = app.membrane();
  auto& api_port = app.add<snap::Port>("api-port");
  auto& admin_port = app.add<snap::Port>("admin-port");
  auto& password = app.add<snap::Password>("db-password");
  if (variant() != "removed") app.add<snap::Port>("metrics-port");
  if (variant() == "added") app.add<snap::Port>("extra-port");
  if (variant() == "phase-bad") app.assert_runtime();

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

  app.on_build([](snap::App& a) {
    a.assert_build_time();
    a.assert_not_startup();
    std::cout << "build action: ran" << std::endl;
  });

  auto daemon_body = [&app, &password](const char* name) {
    return [&app, &password, name](snap::PersonaContext& ctx) {
      app.assert_runtime();
      std::cout << name << ": running password=" << password.value(ctx) << std::endl;
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
    std::cout << "hello: args=" << ctx.args().size() << std::endl;
    return ctx.args().empty() ? 0 : 7;
  });
}

}  // namespace

int main(int argc, char** argv) { return snap::run(argc, argv, "lifecycle", define); }
