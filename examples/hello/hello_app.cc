// hello: the smallest whole snapshot program.
//
// Its startup reads the inputs a real service reads -- the time, randomness, a config
// file, the environment, build-time state -- and declares its parts: two ports, a database
// password, an API daemon, a background worker and a CLI command. Run it three ways:
//
//   hello build --out build/hello            record startup, write the build directory
//   hello run api --log build/hello/snapshot.snaplog --secrets-dir build/hello/runtime-secrets/<api>
//                                            replay startup elsewhere, become the API
//   hello dev                                everything live, in one process (Ctrl-C stops)
//
// Every mode prints the same "startup:" line from the same recorded inputs.
#include <iostream>
#include <string>

#include "snap/app.h"
#include "snap/main.h"
#include "snap/membrane.h"
#include "snap/password.h"
#include "snap/persona.h"
#include "snap/port.h"
#include "snap/worker.h"

namespace {

// Where the example's configuration lives. A constant, so the recorded file key is the
// same at build time and in every container (the file itself is only read at build).
constexpr const char* kGreetingFile = HELLO_GREETING_FILE;

void define_hello(snap::App& app) {
  snap::Membrane& m = app.membrane();

  auto& api_port = app.add<snap::Port>("api-port");
  auto& admin_port = app.add<snap::Port>("admin-port");
  auto& db_password = app.add<snap::Password>("db-password");

  // Startup-derived values: recorded by the build, replayed identically in every persona.
  const std::string instance = m.uuid();
  const auto started_at = m.wall_now().time_since_epoch().count();
  const std::int64_t shard = m.random_int(0, 15);
  std::string greeting = m.read_file(kGreetingFile);
  while (!greeting.empty() && greeting.back() == '\n') greeting.pop_back();
  const std::string region = m.env("HELLO_REGION").value_or("local");
  const auto builds = app.build_state().get("build-count");
  const std::int64_t build_number = builds ? builds->as_int64() + 1 : 1;
  app.build_state().set("build-count", build_number);

  std::cout << "startup: instance=" << instance << " started_at=" << started_at << " shard=" << shard
            << " api_port=" << api_port.number() << " admin_port=" << admin_port.number() << " region=" << region
            << " build=" << build_number << " greeting=\"" << greeting << "\"" << std::endl;

  app.on_build([&api_port, &admin_port](snap::App&) {
    std::cout << "build: api on port " << api_port.number() << ", admin on " << admin_port.number() << std::endl;
  });

  // A body runs after define_hello has returned: it captures startup values by value and
  // components (owned by the app) by reference, and reads live inputs through ctx.
  app.add<snap::Persona>("api", snap::PersonaKind::kDaemon,
                         [&api_port, &db_password, instance, greeting](snap::PersonaContext& ctx) {
                           // Secrets are read in a persona body, never at startup.
                           const std::string password = db_password.value(ctx);
                           std::cout << "api: " << greeting << " from instance " << instance << " on port "
                                     << api_port.number() << " (db password: " << password.size() << " chars)"
                                     << std::endl;
                           ctx.wait_for_stop();
                           std::cout << "api: stopped" << std::endl;
                           return 0;
                         })
      .uses(api_port)
      .uses(db_password);

  app.add<snap::Worker>("cleaner", std::chrono::milliseconds(500), [shard](snap::PersonaContext& ctx) {
    const auto now = ctx.membrane().wall_now();  // live after startup
    std::cout << "cleaner: shard " << shard << " tick at " << now.time_since_epoch().count() << std::endl;
  });

  app.add<snap::Persona>("greet", snap::PersonaKind::kCommand, [greeting](snap::PersonaContext& ctx) {
    std::cout << greeting;
    for (const auto& name : ctx.args()) std::cout << ", " << name;
    std::cout << std::endl;
    return 0;
  });
}

}  // namespace

int main(int argc, char** argv) { return snap::run(argc, argv, "hello", define_hello); }
