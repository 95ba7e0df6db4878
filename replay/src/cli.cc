// The program's command line: build, run, dev, verify, health, personas. add_subcommands
// declares them and their flags; each one is a function (build_command, dev_command, ...)
// that is a thin call into the lifecycle.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <cctype>
#include <iostream>
#include <atomic>
#include <memory>
#include <new>
#include <optional>
#include <thread>

#include <unistd.h>

#include "lifecycle_private.h"
#include "repl.h"
#include "snap/divergence.h"
#include "snap/episode.h"
#include "snap/log_reader.h"
#include "snap/persona.h"
#include "snap/env.h"
#include "snap/standard_output.h"
#include "snap/text.h"
#include "snap/determinism_guard.h"

namespace snap {

int exit_status_for(const std::exception& error) {
  if (const auto* e = dynamic_cast<const Error*>(&error)) return exit_status(*e);
  // The parser's own errors (an unknown flag, a missing value) are not snap::Errors.
  if (dynamic_cast<const CLI::Error*>(&error)) return kExitUsage;
  return kExitFailure;
}

namespace {

constexpr const char* kSubcommands[] = {"build", "run", "dev", "verify", "replay", "episodes", "health", "personas"};

std::filesystem::path default_log_path(Env& system) {
  if (auto env = system.variable("SNAP_LOG")) return *env;
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::path(kLogFileName) : exe.parent_path() / kLogFileName;
}

std::unique_ptr<SecretSource> runtime_secrets(Env& system, const std::string& dir_flag) {
  std::filesystem::path dir = dir_flag;
  if (dir.empty()) dir = system.variable("SNAP_SECRETS_DIR").value_or("/run/secrets");
  std::vector<std::unique_ptr<SecretSource>> chain;
  chain.push_back(secrets_from_directory(dir, system));
  chain.push_back(secrets_from_env("SNAP_SECRET_", system));
  return secrets_from_chain(std::move(chain));
}

// verify checks determinism, not secret values: a secret it cannot see reads as a placeholder.
class PlaceholderSecrets final : public SecretSource {
 public:
  explicit PlaceholderSecrets(const SecretSource& real) : real_(real) {}
  std::optional<std::string> get(std::string_view name) const override {
    if (auto v = real_.get(name)) return v;
    return "<secret " + std::string(name) + " not available to verify>";
  }
  std::string describe(std::string_view name) const override { return real_.describe(name); }

 private:
  const SecretSource& real_;
};

// Sends what is written to stdout (fd 1) to stderr for the scope: `--json` keeps stdout
// for the report alone, whatever the program prints while it replays.
class StdoutToStderr {
 public:
  StdoutToStderr() {
    std::cout.flush();
    std::fflush(stdout);
    saved_ = ::dup(STDOUT_FILENO);
    if (saved_ >= 0) ::dup2(STDERR_FILENO, STDOUT_FILENO);
  }
  ~StdoutToStderr() {
    std::cout.flush();
    std::fflush(stdout);
    if (saved_ >= 0) {
      ::dup2(saved_, STDOUT_FILENO);
      ::close(saved_);
    }
  }
  StdoutToStderr(const StdoutToStderr&) = delete;
  StdoutToStderr& operator=(const StdoutToStderr&) = delete;

 private:
  int saved_ = -1;
};

std::string persona_list(const App& app) {
  std::vector<std::string> names;
  for (const Persona* p : app.personas()) names.push_back(app.persona_name(*p));
  return names.empty() ? "(none)" : join(names);
}

std::map<std::string, std::string, std::less<>> parse_secret_flags(const std::vector<std::string>& flags) {
  std::map<std::string, std::string, std::less<>> out;
  for (const std::string& f : flags) {
    const auto eq = f.find('=');
    // The flag holds a secret value: never echo it.
    if (eq == std::string::npos || eq == 0) throw UsageError("--secret expects NAME=VALUE (the value is not shown)");
    out[f.substr(0, eq)] = f.substr(eq + 1);
  }
  return out;
}

// `--replicas PERSONA=N`: N a whole number of at least 1.
std::map<std::string, unsigned> parse_replica_flags(const std::vector<std::string>& flags) {
  std::map<std::string, unsigned> out;
  for (const std::string& f : flags) {
    const auto eq = f.find('=');
    const std::string count = eq == std::string::npos ? "" : f.substr(eq + 1);
    const bool digits = !count.empty() && count.size() <= 4 &&
                        std::all_of(count.begin(), count.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (eq == std::string::npos || eq == 0 || !digits || std::stoul(count) == 0) {
      throw UsageError("--replicas expects PERSONA=N with N from 1 to 9999, not \"" + printable(f) + "\"");
    }
    out[f.substr(0, eq)] = static_cast<unsigned>(std::stoul(count));
  }
  return out;
}

// `--publish SERVER=PORT`: PORT from 1 to 65535 on the host.
std::map<std::string, unsigned> parse_publish_flags(const std::vector<std::string>& flags) {
  std::map<std::string, unsigned> out;
  for (const std::string& f : flags) {
    const auto eq = f.find('=');
    const std::string port = eq == std::string::npos ? "" : f.substr(eq + 1);
    const bool digits = !port.empty() && port.size() <= 5 &&
                        std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (eq == std::string::npos || eq == 0 || !digits || std::stoul(port) == 0 || std::stoul(port) > 65535) {
      throw UsageError("--publish expects SERVER=PORT with PORT from 1 to 65535, not \"" + printable(f) + "\"");
    }
    if (!out.emplace(f.substr(0, eq), static_cast<unsigned>(std::stoul(port))).second) {
      throw UsageError("--publish gives " + printable(f.substr(0, eq)) + " twice");
    }
  }
  return out;
}

// `--memory-limit [SERVICE=]SIZE` (SIZE: a whole number with k, m or g, at least 6m: Docker's
// minimum) and `--pids-limit [SERVICE=]N` (N from 1 to 4194304, the kernel's largest pid_max).
// No SERVICE=: the limit of every service. One name given two values is refused.
std::map<std::string, std::uint64_t> parse_limit_flags(const std::vector<std::string>& flags, bool memory) {
  const char* flag = memory ? "--memory-limit" : "--pids-limit";
  std::map<std::string, std::uint64_t> out;
  for (const std::string& f : flags) {
    const auto eq = f.rfind('=');
    const std::string name = eq == std::string::npos ? "" : f.substr(0, eq);
    std::string value = eq == std::string::npos ? f : f.substr(eq + 1);
    unsigned shift = 0;
    if (memory && !value.empty()) {
      const char unit = static_cast<char>(std::tolower(static_cast<unsigned char>(value.back())));
      shift = unit == 'k' ? 10 : unit == 'm' ? 20 : unit == 'g' ? 30 : 0;
      if (shift != 0) value.pop_back();
    }
    const bool digits = !value.empty() && value.size() <= 7 &&
                        std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; });
    const std::uint64_t number = digits ? std::stoull(value) : 0;
    const bool valid = eq != 0 && digits &&
                       (memory ? shift != 0 && (number << shift) >= (std::uint64_t{6} << 20)
                               : number >= 1 && number <= 4194304);
    if (!valid) {
      throw UsageError(std::string(flag) +
                       (memory ? " expects [SERVICE=]SIZE with SIZE a whole number of k, m or g, at least 6m (Docker's minimum), not \""
                               : " expects [SERVICE=]N with N from 1 to 4194304, not \"") +
                       printable(f) + "\"");
    }
    const std::uint64_t limit = number << shift;
    const auto [it, added] = out.emplace(name, limit);
    if (!added && it->second != limit) {
      throw UsageError(std::string(flag) + " gives " + (name.empty() ? "every service" : printable(name)) + " two limits");
    }
  }
  return out;
}

// Arguments after PERSONA belong to the persona, but one that looks like a flag is far more
// likely a mistyped flag of `run` (--logg): persona arguments that start with '-' go after
// `--`, where CLI11 hands them to the `args` positional instead of leaving them over.
void reject_unknown_flags(const std::vector<std::string>& left_over) {
  for (const std::string& a : left_over) {
    if (a == "--") continue;
    throw UsageError("run: unknown flag \"" + printable(a) + "\" (flags for the persona itself go after --)");
  }
}

const Persona& find_persona_or_throw(const App& app, const std::string& name) {
  const Persona* persona = nullptr;
  try {
    persona = app.find_persona(name);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  if (persona == nullptr) {
    throw UsageError("unknown persona \"" + printable(name) + "\"; valid personas: " + persona_list(app));
  }
  return *persona;
}

// Every flag of every subcommand: CLI11 fills it in as it parses.
struct Flags {
  std::string out_dir, log_flag, secrets_dir, persona_name, verify_log, base_image, endpoint_mode, otlp_url,
      record_requests, episodes_dir, replay_path, since, episode_id;
  std::vector<std::string> secret_flags, persona_arguments, replica_flags, memory_limit_flags, pids_limit_flags,
      publish_flags;
  bool local = false, observability = false, exit_after_jobs = false, repl = false, verify_json = false, again = false,
       accept = false, failed = false, paths = false, fail_on_breaking = false;
};

// The subcommands CLI11 parsed into (the one given is the one that is set).
struct Subcommands {
  CLI::App* build = nullptr;
  CLI::App* run = nullptr;
  CLI::App* dev = nullptr;
  CLI::App* verify = nullptr;
  CLI::App* replay = nullptr;
  CLI::App* episodes = nullptr;
  CLI::App* health = nullptr;
  CLI::App* personas = nullptr;
};

// What every subcommand runs with.
struct Invocation {
  std::string name;  // the app's
  const DefineApp& define;
  const ProgramOptions& program;
  Env& system;
  const Flags& flags;
  // A second SIGTERM while the personas stop must not kill a clean shutdown: these stay
  // blocked (sigwait receives them) until the process exits.
  sigset_t stop_signals;
};

// Recording requests (snap/episode.h), for run and dev.
void add_recording_flags(CLI::App& command, Flags& f) {
  command.add_option("--record-requests", f.record_requests,
                     "Record handled requests as episodes: off, errors (write the failed ones), all, or N% (default: "
                     "$SNAP_RECORD_REQUESTS, else off)");
  command.add_option("--episodes", f.episodes_dir,
                     "Directory of written episodes (default: $SNAP_EPISODES, else ./episodes); at most "
                     "$SNAP_EPISODES_MAX_BYTES (default 256m) of them, the oldest removed first");
}

// Declares the subcommands and their flags: the one place the command line is spelled out.
Subcommands add_subcommands(CLI::App& cli, Flags& f) {
  Subcommands sub;
  auto* build = sub.build =
      cli.add_subcommand("build", "Record startup into DIR/snapshot.snaplog; write the build state and deployment");
  build->add_option("--out", f.out_dir, "Build output directory (replaced as a whole by each build)")->required();
  build->add_option("--secret", f.secret_flags, "A secret's value, NAME=VALUE (repeatable)");
  build->add_flag("--local", f.local, "Personas run as processes on this host (reached at 127.0.0.1), not containers");
  build->add_option("--base-image", f.base_image, "Base image of the generated Dockerfile (default: self-contained)");
  build->add_option("--replicas", f.replica_flags,
                    "Swarm: replicas of a daemon persona, PERSONA=N (repeatable; default 1)");
  build->add_option("--endpoint-mode", f.endpoint_mode, "Swarm: how a service name resolves, dnsrr (default) or vip")
      ->check(CLI::IsMember({"dnsrr", "vip"}));
  build->add_option("--memory-limit", f.memory_limit_flags,
                    "Memory limit of every service, SIZE (512m, 2g), or of one, SERVICE=SIZE (repeatable; default 1g)");
  build->add_option("--pids-limit", f.pids_limit_flags,
                    "Process and thread limit of every service, N, or of one, SERVICE=N (repeatable; default 1024)");
  build->add_option("--publish", f.publish_flags,
                    "Make an API server reachable from outside on a host port, SERVER=PORT (repeatable; default: "
                    "nothing is published)");
  build->add_flag("--observability", f.observability,
                  "Add Jaeger (traces) and Prometheus (metrics) services to the deployment; every service exports to "
                  "them");
  build->add_option("--record-requests", f.record_requests,
                    "Which requests each deployed API server records as episodes: off, errors (default: the failed "
                    "ones), all, or N%; $SNAP_RECORD_REQUESTS_<SERVICE> overrides it per container at deploy");
  build->add_flag("--fail-on-breaking", f.fail_on_breaking,
                  "An API change that breaks the previous build's clients fails the build (exit 5) and keeps the "
                  "previous build in DIR");

  auto* run = sub.run = cli.add_subcommand("run", "Replay startup from the log, then become PERSONA");
  run->add_option("persona", f.persona_name, "Persona to run (default: $PERSONA)");
  run->add_option("args", f.persona_arguments, "Arguments for the persona (those starting with - after --)");
  run->add_option("--log", f.log_flag, "Snapshot log (default: $SNAP_LOG, else snapshot.snaplog beside the binary)");
  run->add_option("--secrets-dir", f.secrets_dir, "Secret files (default: $SNAP_SECRETS_DIR, else /run/secrets)");
  add_recording_flags(*run, f);
  run->add_flag("--again", f.again,
                "A job that records its runs ($SNAP_JOB_RUNS): run it even if it already ran for this build");
  run->allow_extras();

  auto* dev = sub.dev = cli.add_subcommand("dev", "Run startup live and every daemon and job persona in this process");
  dev->add_option("--secret", f.secret_flags, "A secret's value, NAME=VALUE (repeatable)");
  dev->add_flag("--exit-after-jobs", f.exit_after_jobs, "Stop the daemons once every job has finished");
  dev->add_flag("--repl", f.repl, "Read commands from stdin even when it is not a terminal (on by default on a terminal)");
  add_recording_flags(*dev, f);
  dev->add_option("--otlp", f.otlp_url,
                  "Also export spans over OTLP/HTTP to this traces URL (http://HOST:4318/v1/traces); they are kept "
                  "in the process either way");

  auto* verify = sub.verify = cli.add_subcommand("verify", "Replay startup against LOG and report whether it matches");
  verify->add_option("log", f.verify_log, "Snapshot log")->required();
  verify->add_option("--secrets-dir", f.secrets_dir, "Secret files (default: $SNAP_SECRETS_DIR, else /run/secrets)");
  verify->add_flag("--json", f.verify_json,
                   "Print one JSON object: {\"ok\":true,...} or the failure's fields (docs/regression.md)");

  auto* replay = sub.replay = cli.add_subcommand(
      "replay", "Replay recorded requests (an episode, or a directory of them) against this program");
  replay->add_option("episode", f.replay_path, "An episode file, or a directory of *.episode files")->required();
  replay->add_option("--log", f.log_flag,
                     "The build's log startup replays from (default: snapshot.snaplog beside the episode or up to two "
                     "directories above it, else as for run)");
  replay->add_flag("--json", f.verify_json,
                   "Print only JSON on stdout (the program's own output goes to stderr): one object per episode");
  replay->add_flag("--accept", f.accept,
                   "For each response that differs, write EPISODE.expected.json: replay then expects it");

  auto* episodes = sub.episodes =
      cli.add_subcommand("episodes", "List the recorded requests (episodes) in DIR (runs no program code)");
  episodes->add_option("dir", f.replay_path, "A directory of *.episode files, or one episode")->required();
  episodes->add_flag("--failed", f.failed, "Only failed requests (a 5xx)");
  episodes->add_option("--since", f.since, "Only those recorded at or after this UTC time (2026-12-07T10:15:00Z, or a prefix)");
  episodes->add_option("--id", f.episode_id, "Only this one: its file name, or a prefix of its trace id");
  episodes->add_flag("--json", f.verify_json, "One JSON object per episode");
  episodes->add_flag("--paths", f.paths, "Only the paths of the episodes, one per line");

  auto* health = sub.health =
      cli.add_subcommand("health", "Replay startup, then ask PERSONA (running elsewhere) if it is healthy");
  health->add_option("persona", f.persona_name, "Persona to probe (default: $PERSONA)");
  health->add_option("--log", f.log_flag, "Snapshot log (default: as for run)");

  sub.personas = cli.add_subcommand("personas", "List the personas recorded in the log (runs no program code)");
  sub.personas->add_option("--log", f.log_flag, "Snapshot log (default: as for run)");
  return sub;
}

// `--memory-limit`-style sizes: a whole number with k, m or g, or bytes.
std::uint64_t parse_size(const std::string& text, const std::string& what) {
  std::string digits = text;
  unsigned shift = 0;
  if (!digits.empty()) {
    const char unit = static_cast<char>(std::tolower(static_cast<unsigned char>(digits.back())));
    shift = unit == 'k' ? 10 : unit == 'm' ? 20 : unit == 'g' ? 30 : 0;
    if (shift != 0) digits.pop_back();
  }
  const bool ok = !digits.empty() && digits.size() <= 12 &&
                  std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!ok || std::stoull(digits) == 0) {
    throw UsageError(what + " is a size (a whole number of bytes, or with k, m or g), not "" + printable(text) + """);
  }
  return std::stoull(digits) << shift;
}

// Starts recording requests as the flags, else the environment, say.
void start_recording(App& app, Env& system, const Flags& f) {
  EpisodeOptions options;
  std::string policy = f.record_requests;
  const char* source = "--record-requests";
  if (policy.empty()) {
    policy = system.variable("SNAP_RECORD_REQUESTS").value_or("");
    source = "$SNAP_RECORD_REQUESTS";
  }
  if (policy.empty()) return;
  try {
    options.policy = RecordingPolicy::parse(policy);
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string(source) + ": " + e.what());
  }
  if (options.policy.off()) return;
  options.directory = f.episodes_dir;
  if (options.directory.empty()) options.directory = system.variable("SNAP_EPISODES").value_or("episodes");
  if (auto max = system.variable("SNAP_EPISODES_MAX_BYTES"); max && !max->empty()) {
    options.max_bytes = parse_size(*max, "$SNAP_EPISODES_MAX_BYTES");
  }
  start_episodes(app, std::move(options));  // each server says so in its log when it starts
}

int build_command(const Invocation& in, const CLI::App& build) {
  const Flags& f = in.flags;
  // Empty means self-contained in BuildOptions, but an empty --base-image is a mistake.
  if (build.count("--base-image") > 0 && f.base_image.empty()) {
    throw UsageError("--base-image \"\" is not an image reference (like debian:bookworm-slim); leave the flag out "
                     "for a self-contained image");
  }
  BuildOptions options{f.out_dir,
                       parse_secret_flags(f.secret_flags),
                       f.local ? Placement::kLocal : Placement::kContainers,
                       f.base_image,
                       parse_replica_flags(f.replica_flags),
                       f.endpoint_mode,
                       parse_limit_flags(f.memory_limit_flags, true),
                       parse_limit_flags(f.pids_limit_flags, false),
                       f.observability,
                       parse_publish_flags(f.publish_flags)};
  // Checked here, where a mistake is a usage error naming the flag, not at deploy.
  try {
    options.record_requests =
        RecordingPolicy::parse(build.count("--record-requests") > 0 ? f.record_requests : options.record_requests).str();
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--record-requests: ") + e.what());
  }
  options.fail_on_breaking = f.fail_on_breaking;
  auto summary = build_app(in.name, in.define, in.system, options, in.program.emitters, in.program.check_build);
  if (summary.kept_previous) {
    std::cerr << "snap: build: not written: a change breaks the previous build's clients (--fail-on-breaking); "
              << printable(f.out_dir) << " is the previous build, unchanged" << std::endl;
    return kExitBreakingChange;
  }
  std::cerr << "snap: build: wrote " << summary.log.string() << " (" << summary.events << " events, "
            << summary.components << " components); personas: " << join(summary.personas) << std::endl;
  return kExitOk;
}

int dev_command(const Invocation& in) {
  auto app = start_dev_app(in.name, in.define, in.system, DevOptions{parse_secret_flags(in.flags.secret_flags)});
  TelemetryOptions telemetry;
  telemetry.otlp_traces_url = in.flags.otlp_url;
  telemetry.exporter = in.program.span_exporter;
  telemetry.keep_recent = true;
  start_telemetry(*app, telemetry);
  start_recording(*app, in.system, in.flags);
  std::vector<const Persona*> running;
  std::vector<std::string> names;
  for (const Persona* p : app->personas()) {
    if (p->persona_kind() == PersonaKind::kDaemon || p->persona_kind() == PersonaKind::kJob) {
      running.push_back(p);
      names.push_back(app->persona_name(*p));
    }
  }
  std::cerr << "snap: dev: running " << join(names) << " (Ctrl-C stops)" << std::endl;
  pthread_sigmask(SIG_BLOCK, &in.stop_signals, nullptr);
  const auto personas = app->personas();
  const bool has_commands = std::any_of(personas.begin(), personas.end(), [](const Persona* p) {
    return p->persona_kind() == PersonaKind::kCommand;
  });
  std::thread repl_thread;
  auto repl_done = std::make_shared<std::atomic<bool>>(false);
  if (has_commands && (in.flags.repl || ::isatty(STDIN_FILENO))) {
    // The REPL ends dev mode as Ctrl-C would: the main thread's sigwait takes SIGTERM.
    repl_thread = std::thread([&app, repl_done, alone = running.empty()] {
      run_repl(*app, std::cin, std::cout);
      *repl_done = true;
      if (!alone) {
        std::cerr << "snap: dev: the REPL has ended: stopping personas" << std::endl;
        ::kill(::getpid(), SIGTERM);
      }
    });
  }
  const int status = running.empty() ? 0 : run_personas(*app, running, {}, in.flags.exit_after_jobs);
  if (repl_thread.joinable()) {
    // Stopped by a signal while the REPL waits for a line: it cannot be woken, and the
    // process is about to exit, so leave it blocked in its read.
    if (*repl_done || running.empty()) {
      repl_thread.join();
    } else {
      repl_thread.detach();
    }
  }
  std::cerr << "snap: dev: stopped" << std::endl;
  return status;
}

int verify_command(const Invocation& in) {
  const Flags& f = in.flags;
  if (f.verify_json && !in.program.failure_json) throw UsageError("verify --json is not available in this program");
  auto real = runtime_secrets(in.system, f.secrets_dir);
  PlaceholderSecrets secrets(*real);
  std::unique_ptr<App> app;
  try {
    // With --json, stdout is the report alone: what the program prints goes to stderr.
    std::optional<StdoutToStderr> program_output;
    if (f.verify_json) program_output.emplace();
    app = replay_app(in.name, in.define, in.system, ReplayOptions{f.verify_log, Mode::kVerify, &secrets});
  } catch (const std::exception& e) {
    if (!f.verify_json) throw;
    std::cout << in.program.failure_json(e) << std::endl;
    return exit_status_for(e);
  }
  if (f.verify_json) {
    std::cout << "{\"ok\":true,\"components\":" << app->manifest().components.size() << "}" << std::endl;
  } else {
    std::cout << "verified: " << f.verify_log << " replays cleanly (" << app->manifest().components.size()
              << " components; personas: " << persona_list(*app) << ")" << std::endl;
  }
  return kExitOk;
}

// `replay EPISODE|DIR`: startup from the build's log, then each episode's handler.
int replay_command(const Invocation& in) {
  const Flags& f = in.flags;
  const std::vector<std::filesystem::path> files = episode_files(f.replay_path, in.system);
  EpisodeRunOptions options;
  options.log = f.log_flag;
  if (options.log.empty()) options.log = find_build_log(files.front(), in.system);
  if (options.log.empty()) options.log = default_log_path(in.system);
  options.accept = f.accept;
  EpisodeRun run;
  try {
    std::optional<StdoutToStderr> program_output;
    if (f.verify_json) program_output.emplace();
    run = replay_episode_files(in.name, in.define, in.system, files, options);
  } catch (const std::exception& e) {
    if (!f.verify_json || !in.program.failure_json) throw;
    std::cout << in.program.failure_json(e) << std::endl;
    return exit_status_for(e);
  }
  for (const EpisodeReplay& r : run.replays) {
    if (f.verify_json) {
      std::cout << r.json() << "\n";
    } else {
      std::cout << printable(r.episode.path.string()) << "\n" << r.text();
    }
  }
  for (const auto& accepted : run.accepted) {
    std::cerr << "snap: replay: wrote " << accepted.string() << ": review it, then keep it beside the episode"
              << std::endl;
  }
  std::cout.flush();
  // Accepted responses are what replay expects now; a divergence cannot be accepted.
  if (f.accept) {
    const bool diverged = std::any_of(run.replays.begin(), run.replays.end(), [](const EpisodeReplay& r) {
      return r.outcome == EpisodeReplay::Outcome::kDiverged;
    });
    return diverged ? kExitDivergence : kExitOk;
  }
  return run.exit_status();
}

// `episodes DIR`: a list from the files alone (no startup, no program code).
int episodes_command(const Invocation& in) {
  const Flags& f = in.flags;
  const EpisodeFilter filter{f.failed, f.since, f.episode_id};
  std::vector<EpisodeSummary> listed;
  for (const auto& file : episode_files(f.replay_path, in.system)) {
    try {
      EpisodeSummary summary = summarize(read_episode(file, in.system));
      if (filter.matches(summary)) listed.push_back(std::move(summary));
    } catch (const LogError& e) {
      // One unusable file (being written, damaged) does not hide the others.
      std::cerr << in.name << ": " << e.what() << std::endl;
    }
  }
  if (f.paths) {
    for (const EpisodeSummary& e : listed) std::cout << e.file.string() << "\n";
  } else if (f.verify_json) {
    for (const EpisodeSummary& e : listed) std::cout << summary_json(e) << "\n";
  } else {
    std::cout << summary_table(listed);
  }
  return kExitOk;
}

// From the manifest alone: listing personas runs none of the program's code or I/O.
int personas_command(const Invocation& in, const std::filesystem::path& log) {
  auto reader = LogReader::open(log);
  if (reader->header().app_name != in.name) {
    throw LogError(LogErrorCode::kNotASnapshotLog,
                   printable(log.string()) + ": recorded by app \"" + printable(reader->header().app_name) + "\"");
  }
  for (const ComponentEntry& c : reader->manifest().components) {
    if (c.persona.empty()) continue;
    const std::size_t dot = c.id.rfind('.');
    std::cout << (dot == std::string::npos ? c.id : c.id.substr(dot + 1)) << "\t" << c.persona << "\t" << c.id << "\n";
  }
  return kExitOk;
}

// A job in a deployment runs once per build: its container started again (`up` of the
// same build) finds the record and stops there. Returns the record to write when the job
// succeeds ("" when it keeps none), or nullopt when it has already run.
std::optional<std::filesystem::path> job_record(const Invocation& in, const Persona& persona,
                                                const std::filesystem::path& log) {
  const auto runs = in.system.variable("SNAP_JOB_RUNS");
  if (!runs || runs->empty() || persona.persona_kind() != PersonaKind::kJob) return std::filesystem::path();
  std::filesystem::path record = job_run_record(in.system, *runs, log);
  if (!in.flags.again && in.system.file_exists(record)) {
    std::cerr << "snap: job " << persona.id().name() << " already ran to completion for this build (" << record.string()
              << "): not running it again; `run --again` (bin/" << persona.id().service_name()
              << " in a compose deployment) runs it again" << std::endl;
    return std::nullopt;
  }
  return record;
}

// `run` and `health`: replay startup, then become the persona (or probe it).
int persona_command(const Invocation& in, const std::filesystem::path& log, bool health, const CLI::App& run) {
  std::string persona_name = in.flags.persona_name;
  if (persona_name.empty()) persona_name = in.system.variable("PERSONA").value_or("");
  if (persona_name.empty()) throw UsageError(std::string(health ? "health" : "run") + ": no persona given (argument or $PERSONA)");
  if (run) reject_unknown_flags(run.remaining());
  const std::vector<std::string>& args = in.flags.persona_arguments;
  auto secrets = runtime_secrets(in.system, in.flags.secrets_dir);
  auto app = replay_app(in.name, in.define, in.system, ReplayOptions{log, Mode::kRun, secrets.get()});
  const Persona& persona = find_persona_or_throw(*app, persona_name);
  if (!health) {
    TelemetryOptions telemetry;
    telemetry.exporter = in.program.span_exporter;
    start_telemetry(*app, telemetry);
    start_recording(*app, in.system, in.flags);
  }
  if (health) {
    PersonaContext context(*app, persona, {});
    return persona.healthy(context) ? kExitOk : kExitFailure;
  }
  if (persona.persona_kind() == PersonaKind::kCommand) {
    PersonaContext context(*app, persona, args);
    return persona.run(context);
  }
  const std::optional<std::filesystem::path> record = job_record(in, persona, log);
  if (!record) return kExitOk;
  pthread_sigmask(SIG_BLOCK, &in.stop_signals, nullptr);
  const int status = run_personas(*app, {&persona}, args);
  if (status == 0 && !record->empty()) record_job_run(in.system, *record, persona);
  return status;
}

int run_command_line(int argc, char** argv, std::string_view app_name, const DefineApp& define,
                     const ProgramOptions& program) {
  Env* system = &real_env();
  const std::string name(app_name);

  CLI::App cli{name + ": a snapshot program. Every container runs this same binary."};
  // Parse errors echo the arguments, which may hold terminal escapes.
  cli.failure_message([](const CLI::App*, const CLI::Error& e) {
    return printable(e.what()) + "\nRun with --help for more information.\n";
  });
  cli.footer(
      "Exit status: 0 ok, 1 the program failed (or its standard output cannot be written), 2 the log is\n"
      "unusable, 3 replay diverged from the build (divergence or manifest mismatch), 4 startup read an\n"
      "input outside the membrane, 5 build --fail-on-breaking: an API change breaks the previous build's\n"
      "clients, 64 usage error.\n"
      "Without a subcommand, $PERSONA selects `run`.");
  cli.require_subcommand(0, 1);
  Flags flags;
  const Subcommands sub = add_subcommands(cli, flags);

  if (argc > 1 && argv[1][0] != '-') {
    const std::string_view first = argv[1];
    if (std::find(std::begin(kSubcommands), std::end(kSubcommands), first) == std::end(kSubcommands)) {
      std::cerr << name << ": unknown subcommand \"" << printable(first)
                << "\"; valid subcommands: build, run, dev, verify, replay, episodes, health, personas (see --help)" << std::endl;
      return kExitUsage;
    }
  }
  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = cli.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }

  Invocation in{name, define, program, *system, flags, {}};
  sigemptyset(&in.stop_signals);
  sigaddset(&in.stop_signals, SIGINT);
  sigaddset(&in.stop_signals, SIGTERM);

  try {
    if (*sub.build) return build_command(in, *sub.build);
    if (*sub.dev) return dev_command(in);
    if (*sub.verify) return verify_command(in);
    if (*sub.replay) return replay_command(in);
    if (*sub.episodes) return episodes_command(in);
    const auto log = flags.log_flag.empty() ? default_log_path(*system) : std::filesystem::path(flags.log_flag);
    if (*sub.personas) return personas_command(in, log);
    // `run`, `health`, or no subcommand with $PERSONA set.
    if (!*sub.run && !*sub.health && !system->variable("PERSONA")) {
      std::cerr << cli.help() << std::endl;
      return kExitUsage;
    }
    return persona_command(in, log, bool(*sub.health), *sub.run);
  } catch (const std::bad_alloc&) {
    std::cerr << name << ": error: out of memory" << std::endl;
    return kExitFailure;
  } catch (const std::exception& e) {
    const int status = exit_status_for(e);
    std::cerr << name << ": " << (status == kExitFailure ? "error: " : "") << e.what() << std::endl;
    return status;
  }
}

}  // namespace

int run_program(int argc, char** argv, std::string_view app_name, const DefineApp& define,
                const ProgramOptions& program) {
  // Output that never reached stdout (a full disk, /dev/full) is an error, --help included.
  return finish_standard_output(std::string(app_name), run_command_line(argc, argv, app_name, define, program));
}

}  // namespace snap
