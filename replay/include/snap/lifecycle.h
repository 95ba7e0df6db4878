// The lifecycle of one program: build (record startup, write the deployment), run
// (replay startup, become a persona), dev (everything live in one process), verify
// (replay startup against a log and report).
//
// A program's main() calls snap::run() (snap/main.h), which is run_program() below with
// the deployment emitters installed; the in-process functions below let tests drive the
// same lifecycle without a subprocess.
//
// Exit statuses (also printed by `app --help`; docs/lifecycle.md has the table):
//   0  success                     3  divergence or manifest mismatch on replay
//   1  the program failed          4  startup read an input outside the membrane
//   2  the log is unusable         5  build --fail-on-breaking: an API change breaks the
//      (missing, corrupt,             previous build's clients (the previous build is kept)
//      incomplete, incompatible,   64 usage error (unknown subcommand or persona, bad flag)
//      another app's)
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "snap/app.h"
#include "snap/error.h"
#include "snap/trace.h"

namespace snap {

class SecretSource;

// The exit status for an exception that ended a lifecycle command: exit_status
// (snap/error.h: one switch over the canonical code, kExitOk... are there) for a
// snap::Error, kExitUsage for the command-line parser's own errors, kExitFailure for
// anything else.
int exit_status_for(const std::exception& error);

// The command line was wrong: an unknown flag, persona or subcommand, bad command
// arguments. Code invalid_argument (exit status 64), detail "usage".
class UsageError : public Error {
 public:
  explicit UsageError(const std::string& message) : Error(ErrorCode::kInvalidArgument, "usage", message) {}
};

using DefineApp = std::function<void(App&)>;

// Where the personas of a build will run, which decides where one persona reaches another.
enum class Placement {
  kContainers,  // one container per persona, reached by its service name (Id::service_name)
  kLocal,       // processes on this host, reached at 127.0.0.1
};
std::string_view to_string(Placement placement);

// The replayed program built a different component tree than the build recorded. The
// message shows each changed component before (the build) and after (the program). Code
// failed_precondition, as a Divergence (exit status 3); detail "replay.manifest_mismatch".
class ManifestMismatch : public Error {
 public:
  struct Change {
    std::string id;
    std::string before;  // type, persona kind, config and uses as the build recorded them
    std::string after;   // the same, as the program declares them now
  };
  ManifestMismatch(std::vector<std::string> added, std::vector<std::string> removed, std::vector<Change> changes);
  const std::vector<std::string>& added() const { return added_; }      // ids only in the program
  const std::vector<std::string>& removed() const { return removed_; }  // ids only in the log
  const std::vector<std::string>& changed() const { return changed_; }  // ids whose entry differs
  const std::vector<Change>& changes() const { return changes_; }

 private:
  std::vector<std::string> added_, removed_, changed_;
  std::vector<Change> changes_;
};

// Throws ManifestMismatch when `program` differs from `recorded`.
void compare_manifests(const Manifest& recorded, const Manifest& program);

struct BuildOptions {
  std::filesystem::path out_dir;
  // User-supplied secret values (`--secret NAME=VALUE`); env SNAP_SECRET_<NAME> also counts.
  std::map<std::string, std::string, std::less<>> secrets;
  // Where the personas will run (`--local`: processes on this host). Recorded in the log.
  Placement placement = Placement::kContainers;
  // The generated Dockerfile's base image (`--base-image`); empty: a self-contained image
  // (FROM scratch, the binary and its shared-library closure).
  std::string base_image;
  // Swarm (docker-stack.yml): replicas of a daemon persona (`--replicas PERSONA=N`: its
  // id, its name as `run` takes it, or its service name); each still overridable by $SNAP_REPLICAS_<SERVICE> at `docker stack deploy`.
  std::map<std::string, unsigned> replicas;
  // Swarm: "dnsrr" or "vip" (`--endpoint-mode`); empty: the deployment's default, dnsrr.
  std::string endpoint_mode;
  // Resource limits of the generated services (`--memory-limit [SERVICE=]SIZE`, in bytes;
  // `--pids-limit [SERVICE=]N`), by a persona's id or name, a database's id, or a service
  // name; the entry with the empty name replaces the default of every service. Absent:
  // the deployment's defaults (docs/deploy.md, "Resource limits").
  std::map<std::string, std::uint64_t> memory_limits;
  std::map<std::string, std::uint64_t> pids_limits;
  // `--observability`: the deployment adds Jaeger and Prometheus services, and every
  // service exports its spans to that Jaeger (snap/deploy.h, DeployOptions::observability).
  bool observability = false;
  // `--publish SERVER=PORT`: API servers reachable from outside the system on a host
  // port (by a persona's id, its name as `run` takes it, or its service name).
  std::map<std::string, unsigned> published;
  // `--record-requests off|errors|all|N%`: which requests every deployed API server records
  // as episodes (snap/episode.h, RecordingPolicy), each still overridable per container by
  // $SNAP_RECORD_REQUESTS_<SERVICE> at deploy. "errors" by default: a deployment keeps
  // its failed requests, ready to replay, at the cost of recording each in memory.
  std::string record_requests = "errors";
  // `--fail-on-breaking`: a change to an API server that breaks the previous build's
  // clients fails the build, which keeps the previous one (ProgramOptions::check_build).
  bool fail_on_breaking = false;
};

// Writes deployment files for a finished build into `dir`: the build's staging directory,
// which replaces the output directory as a unit once every emitter has returned. Runs
// after the build actions; may throw, which fails the build and keeps the previous output.
using BuildEmitter = std::function<void(const App& app, const BuildOptions& options, const std::filesystem::path& dir)>;

// Compares a recorded build with the one it is about to replace, before anything else of
// the new build is done: `previous_log` is OUT's snapshot.snaplog as the last build left
// it (it may be missing or unusable), `manifest` the new build's, read through `env`.
// Reports on stderr; returns true to keep the previous build (build_app then writes and
// replaces nothing: BuildSummary::kept_previous). snap::run installs the API check
// (snap/api_compat.h).
using BuildCheck = std::function<bool(const std::filesystem::path& previous_log, const Manifest& manifest,
                                      const BuildOptions& options, Env& env)>;

// Makes an OTLP exporter for a /v1/traces URL (snap::run installs the OTLP/HTTP one).
using SpanExporterFactory = std::function<std::unique_ptr<SpanExporter>(const std::string& traces_url)>;

// What run_program adds to the lifecycle (snap::run in snap/main.h supplies the defaults).
struct ProgramOptions {
  std::vector<BuildEmitter> emitters;
  // Run by `build` before the build actions and emitters; unset: nothing is compared.
  BuildCheck check_build;
  // Sends spans over OTLP (run and dev); none: spans stay in the process.
  SpanExporterFactory span_exporter;
  // `verify --json`: renders a failed replay (Divergence, ManifestMismatch, LogError...)
  // as one JSON object (snap::divergence_json in snap/regression.h). Unset: --json is refused.
  std::function<std::string(const std::exception&)> failure_json;
};

// The lifecycle's command line: build, run, dev, verify, health, personas.
int run_program(int argc, char** argv, std::string_view app_name, const DefineApp& define,
                const ProgramOptions& options = {});

struct BuildSummary {
  std::filesystem::path log;
  std::uint64_t events = 0;
  std::size_t components = 0;
  std::vector<std::string> personas;
  // The check refused the build: OUT is the previous build, untouched (`build` exits
  // kExitBreakingChange).
  bool kept_previous = false;
};

// Records startup into OUT/snapshot.snaplog, asks `check` whether to go on, runs on_build
// actions and `emitters`, and writes the build-time state (ports, passwords, secrets,
// per-persona secret directories, .gitignore). Everything is written into a private
// staging directory beside OUT, synced, and switched into place as a unit: a failed,
// refused or killed build leaves the previous output whole. Builds into one OUT exclude each other (BuildLocked). Every file the build reads
// or writes, the log included, goes through `env`, which must outlive the call (emitters
// write their own files into the staging directory they are given).
BuildSummary build_app(std::string_view name, const DefineApp& define, Env& env, const BuildOptions& options,
                       const std::vector<BuildEmitter>& emitters = {}, const BuildCheck& check = {});

// Another build holds the output directory's lock. Code unavailable (retry when it is
// done), detail "replay.build_locked".
class BuildLocked : public Error {
 public:
  explicit BuildLocked(const std::string& message) : Error(ErrorCode::kUnavailable, "replay.build_locked", message) {}
};

struct ReplayOptions {
  std::filesystem::path log;
  Mode mode = Mode::kRun;  // kRun or kVerify
  // Where persona secrets come from; null: a source that has none.
  const SecretSource* secrets = nullptr;
};

// Replays startup against the log (read through `env`, which must outlive the app); on
// success returns the app switched to live.
// Throws Divergence, ManifestMismatch or LogError.
std::unique_ptr<App> replay_app(std::string_view name, const DefineApp& define, Env& env,
                                const ReplayOptions& options);

struct DevOptions {
  std::map<std::string, std::string, std::less<>> secrets;
};

// Runs `personas` of a started app, each on its own thread with its own context, until
// they all return, or until SIGINT/SIGTERM (or a failed persona) asks them to stop; with
// `stop_after_jobs`, stop the daemons once every job has returned. Returns the first
// non-zero status.
int run_personas(App& app, const std::vector<const Persona*>& personas, const std::vector<std::string>& args,
                 bool stop_after_jobs = false);

// Runs startup live (dev mode) and returns the app, ready to run personas.
std::unique_ptr<App> start_dev_app(std::string_view name, const DefineApp& define, Env& env,
                                   const DevOptions& options);

struct TelemetryOptions {
  // Where spans go: an OTLP/HTTP traces URL ("http://jaeger:4318/v1/traces"). Empty: the
  // standard variables decide -- OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as it is, else
  // OTEL_EXPORTER_OTLP_ENDPOINT + "/v1/traces"; neither set, or OTEL_TRACES_EXPORTER=none:
  // nothing is exported.
  std::string otlp_traces_url;
  SpanExporterFactory exporter;  // none: nothing is exported
  // Keep the most recent spans in memory (App::recent_spans): dev does, for its dashboard.
  bool keep_recent = false;
  BatchOptions batch;
};

// Starts tracing for the personas of `app` (after startup, before they run): the sampler
// from OTEL_TRACES_SAMPLER(_ARG), the service name from OTEL_SERVICE_NAME, the exporter
// from `options`. Reads those variables through the app's Env, live: they configure this
// process, not the build, so they are not recorded. A bad value is warned about on
// stderr and the default used. Call at most once per app.
void start_telemetry(App& app, const TelemetryOptions& options);

// Starts recording requests for the personas of `app` (snap/episode.h), after startup and
// before they run; nothing when the policy is off. At most once per app.
struct EpisodeOptions;
void start_episodes(App& app, EpisodeOptions options);

}  // namespace snap
