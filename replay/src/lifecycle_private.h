// What the lifecycle's parts (build.cc, replay.cc, startup.cc, personas.cc, cli.cc) share.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "app_private.h"
#include "snap/lifecycle.h"
#include "snap/logging.h"
#include "snap/log_reader.h"

namespace snap {


// The startup membrane's secret source. Startup is replayed in every container and a
// container holds only its own persona's secrets, so a secret read at startup would work
// in the build and fail in most containers: it is refused in every mode, at once.
class NoSecretsAtStartup final : public SecretSource {
 public:
  std::optional<std::string> get(std::string_view) const override { return std::nullopt; }
  std::string describe(std::string_view name) const override {
    return "nowhere: secrets are not readable during startup; read \"" + std::string(name) +
           "\" in a persona body (e.g. password.value(ctx))";
  }
  static const NoSecretsAtStartup& instance();
};

std::unique_ptr<App::Private> private_for(Mode mode, Env& env);

// The environment of a process in `mode` whose build recorded `placement`: in process in
// dev, else the placement's (environment.cc).
std::unique_ptr<const Environment> make_environment(Mode mode, Placement placement);

// Runs the program's startup: loads the build state through the startup membrane (the
// build records `read_real()`'s text, with the placement added; replay returns it), then
// define_app with the determinism guard armed. Throws NondeterminismError for the first
// raw read the guard saw.
void run_startup(App& app, const DefineApp& define, const std::function<std::string()>& read_real,
                 Placement placement);

// Build and dev: a secret the program requires must have a value.
void check_required_secrets(App::Private& p);

// Build and dev: every --secret names a declared snap::Secret, else a UsageError listing them.
void check_supplied_secrets_declared(const App::Private& p);

std::string join(const std::vector<std::string>& items, std::string_view separator = ", ");

// Where a job records that it ran to completion for the build of `log`, inside `dir`
// ($SNAP_JOB_RUNS, which the compose file sets to the job's own volume): the record's name
// says which build. Throws LogError when the log cannot be read.
std::filesystem::path job_run_record(Env& env, const std::filesystem::path& dir, const std::filesystem::path& log);
// Writes the record after a successful run; one that cannot be written is reported, not
// fatal (the job's work is done; the next start runs it again).
void record_job_run(Env& env, const std::filesystem::path& record, const Persona& job);

// The service name a persona's spans report under ($OTEL_SERVICE_NAME, or its own).
std::string service_name_for(const App& app, const Persona& persona);

// The logger of a persona's context, as $SNAP_LOG_FORMAT and $SNAP_LOG_LEVEL say (read
// through the app's Env: they configure this process, not the build). A bad value is said
// once on the logger and the default used.
std::shared_ptr<spdlog::logger> persona_logger(const App& app, const Persona& persona, const std::string& service);

}  // namespace snap
