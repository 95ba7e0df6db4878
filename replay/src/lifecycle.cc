#include "snap/lifecycle.h"

#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <thread>

#include <boost/json.hpp>

#include "app_private.h"
#include "snap/divergence.h"
#include "snap/log_reader.h"
#include "snap/log_writer.h"
#include "snap/persona.h"
#include "snap/system.h"

namespace snap {

namespace {

constexpr std::string_view kWriterVersion = "snap 0.1.0";
constexpr const char* kLogFileName = "snapshot.snaplog";
constexpr const char* kStateFile = "state/build-state.json";
constexpr const char* kStoredSecretsDir = "state/secrets";
constexpr const char* kRuntimeSecretsDir = "runtime-secrets";

// What must not be committed from a build directory: secret values.
constexpr std::string_view kGitignore =
    "# Written by snapshot builds. Secret values stay out of version control;\n"
    "# snapshot.snaplog and state/build-state.json may be committed.\n"
    "state/secrets/\n"
    "runtime-secrets/\n"
    "*.partial\n";

std::string read_whole(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string() + ": " + std::strerror(errno));
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Writes under a temporary name and renames, so a crash never leaves half a file.
void write_atomically(const std::filesystem::path& path, std::string_view content, mode_t mode) {
  std::filesystem::create_directories(path.parent_path());
  const std::string tmp = path.string() + ".partial";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) throw std::runtime_error("cannot write " + tmp + ": " + std::strerror(errno));
  ::fchmod(fd, mode);  // O_CREAT's mode is filtered by the umask and ignored for an existing file
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      throw std::runtime_error("cannot write " + tmp + ": " + std::strerror(errno));
    }
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  std::filesystem::rename(tmp, path);
}

// The ELF build id of this executable (the linker's hash of its contents), read from the
// loaded program headers: no file I/O however large the binary.
int find_build_id(dl_phdr_info* info, std::size_t, void* out) {
  auto* result = static_cast<std::string*>(out);
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_NOTE) continue;
    const auto* p = reinterpret_cast<const unsigned char*>(info->dlpi_addr + ph.p_vaddr);
    const unsigned char* end = p + ph.p_memsz;
    while (p + sizeof(ElfW(Nhdr)) <= end) {
      const auto* note = reinterpret_cast<const ElfW(Nhdr)*>(p);
      const unsigned char* name = p + sizeof(ElfW(Nhdr));
      const unsigned char* desc = name + ((note->n_namesz + 3) & ~3u);
      if (note->n_type == NT_GNU_BUILD_ID && note->n_namesz == 4 && std::memcmp(name, "GNU", 4) == 0) {
        static constexpr char kHex[] = "0123456789abcdef";
        for (unsigned j = 0; j < note->n_descsz; ++j) {
          *result += kHex[desc[j] >> 4];
          *result += kHex[desc[j] & 15];
        }
        return 1;
      }
      p = desc + ((note->n_descsz + 3) & ~3u);
    }
  }
  return 1;  // only the main program (the first object) is of interest
}

std::string binary_fingerprint() {
  std::string build_id;
  dl_iterate_phdr(find_build_id, &build_id);
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  const std::string name = ec ? "unknown" : exe.filename().string();
  return build_id.empty() ? name : name + " build-id " + build_id;
}

// Startup reads the build-time state through the membrane: the build records the file's
// content, every container replays it without the file.
void load_build_state(App& app, const std::function<std::string()>& read_real) {
  const std::string text =
      app.membrane().call("build-state", "load", "", [&](std::string_view) { return read_real(); });
  boost::system::error_code ec;
  boost::json::value parsed = boost::json::parse(text, ec);
  if (ec || !parsed.is_object()) throw std::runtime_error("build state is not a JSON object: " + text.substr(0, 80));
  for (auto& [key, value] : parsed.as_object()) app.build_state().set(key, value);
}

std::unique_ptr<App::Private> private_for(Mode mode, System& system) {
  auto p = std::make_unique<App::Private>();
  p->mode = mode;
  p->system = &system;
  return p;
}

void check_required_secrets(App::Private& p) {
  for (const std::string& name : p.required_secrets) {
    if (!p.known_secrets.get(name)) {
      throw std::runtime_error("secret \"" + name + "\" has no value: supply --secret " + name + "=VALUE or set $" +
                               env_name_for_secret("SNAP_SECRET_", name));
    }
  }
}

// The startup membrane's secret source. Startup is replayed in every container and a
// container holds only its own persona's secrets, so a secret read at startup would work
// in the build and fail in most containers: refuse it in every mode, at once.
class NoSecretsAtStartup final : public SecretSource {
 public:
  std::optional<std::string> get(std::string_view) const override { return std::nullopt; }
  std::string describe(std::string_view name) const override {
    return "nowhere: secrets are not readable during startup; read \"" + std::string(name) +
           "\" in a persona body (e.g. password.value(ctx))";
  }
};

class NoSecrets final : public SecretSource {
 public:
  std::optional<std::string> get(std::string_view) const override { return std::nullopt; }
  std::string describe(std::string_view) const override { return "no secret source"; }
};

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

}  // namespace

// ---- manifests ----

namespace {
std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}
std::string mismatch_message(const std::vector<std::string>& added, const std::vector<std::string>& removed,
                             const std::vector<std::string>& changed) {
  std::string m = "the program's components differ from the build's manifest";
  if (!added.empty()) m += "\n  added (not in the build):   " + join(added);
  if (!removed.empty()) m += "\n  removed (only in the build): " + join(removed);
  if (!changed.empty()) m += "\n  changed:                     " + join(changed);
  return m;
}
}  // namespace

ManifestMismatch::ManifestMismatch(std::vector<std::string> added, std::vector<std::string> removed,
                                   std::vector<std::string> changed)
    : std::runtime_error(mismatch_message(added, removed, changed)),
      added_(std::move(added)),
      removed_(std::move(removed)),
      changed_(std::move(changed)) {}

void compare_manifests(const Manifest& recorded, const Manifest& program) {
  if (manifest_digest(recorded) == manifest_digest(program) && recorded == program) return;
  std::map<std::string, const ComponentEntry*> before, after;
  for (const auto& c : recorded.components) before[c.id] = &c;
  for (const auto& c : program.components) after[c.id] = &c;
  std::vector<std::string> added, removed, changed;
  for (const auto& [id, entry] : after) {
    auto it = before.find(id);
    if (it == before.end()) {
      added.push_back(id);
    } else if (!(*it->second == *entry)) {
      changed.push_back(id);
    }
  }
  for (const auto& [id, entry] : before) {
    if (!after.count(id)) removed.push_back(id);
  }
  if (added.empty() && removed.empty() && changed.empty()) changed.push_back("(component order)");
  throw ManifestMismatch(std::move(added), std::move(removed), std::move(changed));
}

// ---- build ----

BuildSummary build_app(std::string_view name, const DefineApp& define, System& system, const BuildOptions& options) {
  const auto& out = options.out_dir;
  if (out.empty()) throw std::invalid_argument("build: no output directory");
  std::filesystem::create_directories(out / kStoredSecretsDir);
  std::filesystem::permissions(out / kStoredSecretsDir, std::filesystem::perms::owner_all);

  auto p = private_for(Mode::kBuild, system);
  p->supplied_secrets = options.secrets;
  // Stored secrets (passwords made by earlier builds, supplied values) are read directly:
  // their values never pass the membrane, so they never reach the log.
  for (const auto& entry : std::filesystem::directory_iterator(out / kStoredSecretsDir)) {
    if (entry.is_regular_file()) p->known_secrets.values[entry.path().filename().string()] = read_whole(entry.path());
  }

  LogHeader header;
  header.app_name = std::string(name);
  header.binary_fingerprint = binary_fingerprint();
  header.writer_version = std::string(kWriterVersion);
  const auto log_path = out / kLogFileName;
  static const NoSecretsAtStartup kNoSecretsAtStartup;
  auto recording = std::make_unique<RecordingMembrane>(system, kNoSecretsAtStartup, LogWriter::create(log_path, header));
  RecordingMembrane& recorder = *recording;
  p->startup_membrane = std::move(recording);
  p->live_membrane = std::make_unique<LiveMembrane>(system, p->known_secrets);

  App app(name, std::move(p));
  App::Private& priv = AppAccess::of(app);
  load_build_state(app, [&] {
    const auto state_file = out / kStateFile;
    return std::filesystem::exists(state_file) ? read_whole(state_file) : std::string("{}");
  });
  define(app);
  check_required_secrets(priv);

  BuildSummary summary;
  summary.log = log_path;
  summary.events = recorder.event_count();
  const Manifest manifest = app.manifest();
  summary.components = manifest.components.size();
  recorder.finish(manifest);
  priv.end_startup(Phase::kBuildActions);

  for (auto& action : priv.build_actions) action(app);

  write_atomically(out / kStateFile, boost::json::serialize(app.build_state().values()) + "\n", 0644);
  for (const std::string& secret : priv.generated_secrets) {
    write_atomically(out / kStoredSecretsDir / secret, *priv.known_secrets.get(secret), 0600);
  }
  for (const std::string& secret : priv.required_secrets) {
    write_atomically(out / kStoredSecretsDir / secret, *priv.known_secrets.get(secret), 0600);
  }
  // What compose will mount at /run/secrets for each persona: only what it uses.
  std::filesystem::remove_all(out / kRuntimeSecretsDir);
  for (const Persona* persona : app.personas()) {
    const auto dir = out / kRuntimeSecretsDir / persona->id().safe_name();
    std::filesystem::create_directories(dir);
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all);
    for (const std::string& secret : app.secrets_for(*persona)) {
      if (auto value = priv.known_secrets.get(secret)) write_atomically(dir / secret, *value, 0600);
    }
    summary.personas.push_back(persona->id().name());
  }
  write_atomically(out / ".gitignore", kGitignore, 0644);
  priv.phase = Phase::kFinished;
  return summary;
}

// ---- replay ----

std::unique_ptr<App> replay_app(std::string_view name, const DefineApp& define, System& system,
                                const ReplayOptions& options) {
  auto reader = LogReader::open(options.log);
  if (reader->header().app_name != name) {
    throw LogError(LogErrorCode::kNotASnapshotLog, options.log.string() + ": recorded by app \"" +
                                                       reader->header().app_name + "\", this program is \"" +
                                                       std::string(name) + "\"");
  }
  const Manifest recorded = reader->manifest();
  static const NoSecrets kNoSecrets;

  auto p = private_for(options.mode, system);
  p->secret_source = options.secrets != nullptr ? options.secrets : &kNoSecrets;
  static const NoSecretsAtStartup kNoSecretsAtStartup;
  auto replaying = std::make_unique<ReplayingMembrane>(system, kNoSecretsAtStartup, std::move(reader));
  ReplayingMembrane& replayer = *replaying;
  p->startup_membrane = std::move(replaying);
  p->live_membrane = std::make_unique<LiveMembrane>(system, *p->secret_source);

  auto app = std::make_unique<App>(name, std::move(p));
  load_build_state(*app, []() -> std::string { throw std::logic_error("replay read the build state for real"); });
  define(*app);
  compare_manifests(recorded, app->manifest());
  replayer.finish();
  AppAccess::of(*app).end_startup(options.mode == Mode::kVerify ? Phase::kFinished : Phase::kRuntime);
  return app;
}

// ---- dev ----

std::unique_ptr<App> start_dev_app(std::string_view name, const DefineApp& define, System& system,
                                   const DevOptions& options) {
  auto p = private_for(Mode::kDev, system);
  p->supplied_secrets = options.secrets;
  // Startup gets its own live membrane, closed when startup ends, as in every other mode.
  static const NoSecretsAtStartup kNoSecretsAtStartup;
  p->startup_membrane = std::make_unique<LiveMembrane>(system, kNoSecretsAtStartup);
  p->live_membrane = std::make_unique<LiveMembrane>(system, p->known_secrets);
  auto app = std::make_unique<App>(name, std::move(p));
  load_build_state(*app, [] { return std::string("{}"); });
  define(*app);
  App::Private& priv = AppAccess::of(*app);
  check_required_secrets(priv);
  priv.end_startup(Phase::kRuntime);
  return app;
}

// ---- running personas ----

namespace {

// Runs the personas on their own threads until they all return, or until SIGINT/SIGTERM
// asks them to stop (then each one's stop hook runs). Returns the first non-zero status.
int run_personas(App& app, const std::vector<const Persona*>& personas, const std::vector<std::string>& args) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR1);  // a persona finished: look again
  // Blocked before any persona thread exists, so every thread inherits the mask and only
  // sigwait below receives these signals.
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  struct Running {
    const Persona* persona;
    std::unique_ptr<PersonaContext> context;
    std::thread thread;
    std::atomic<int> status{0};
    std::atomic<bool> failed{false};
  };
  std::vector<std::unique_ptr<Running>> running;
  std::atomic<std::size_t> remaining{personas.size()};
  const pthread_t main_thread = pthread_self();
  for (const Persona* persona : personas) {
    auto r = std::make_unique<Running>();
    r->persona = persona;
    r->context = std::make_unique<PersonaContext>(app, *persona, args);
    running.push_back(std::move(r));
  }
  for (auto& r : running) {
    Running* rp = r.get();
    rp->thread = std::thread([rp, &remaining, main_thread] {
      try {
        rp->status = rp->persona->run(*rp->context);
      } catch (const std::exception& e) {
        std::cerr << "snap: persona " << rp->persona->id().name() << " failed: " << e.what() << std::endl;
        rp->status = kExitFailure;
      }
      if (rp->status != 0) rp->failed = true;
      remaining.fetch_sub(1);
      pthread_kill(main_thread, SIGUSR1);
    });
  }

  bool stopping = false;
  while (remaining.load() > 0) {
    int sig = 0;
    sigwait(&signals, &sig);
    const bool any_failed =
        std::any_of(running.begin(), running.end(), [](const auto& r) { return r->failed.load(); });
    if ((sig == SIGINT || sig == SIGTERM || any_failed) && !stopping) {
      stopping = true;
      if (sig != SIGUSR1) std::cerr << "snap: " << strsignal(sig) << ": stopping personas" << std::endl;
      for (auto& r : running) {
        r->context->request_stop();
        r->persona->stopping();
      }
    }
  }
  int status = 0;
  for (auto& r : running) {
    r->thread.join();
    if (status == 0) status = r->status;
  }
  // Every persona thread has sent its wake-up by now; consume the ones still pending so
  // unblocking cannot deliver SIGUSR1's default action (termination).
  sigset_t wake;
  sigemptyset(&wake);
  sigaddset(&wake, SIGUSR1);
  const timespec no_wait{0, 0};
  while (sigtimedwait(&wake, nullptr, &no_wait) == SIGUSR1) {
  }
  pthread_sigmask(SIG_UNBLOCK, &signals, nullptr);
  return status;
}

std::filesystem::path default_log_path(System& system) {
  if (auto env = system.env("SNAP_LOG")) return *env;
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::path(kLogFileName) : exe.parent_path() / kLogFileName;
}

std::unique_ptr<SecretSource> runtime_secrets(System& system, const std::string& dir_flag) {
  std::filesystem::path dir = dir_flag;
  if (dir.empty()) dir = system.env("SNAP_SECRETS_DIR").value_or("/run/secrets");
  std::vector<std::unique_ptr<SecretSource>> chain;
  chain.push_back(secrets_from_directory(dir, system));
  chain.push_back(secrets_from_env("SNAP_SECRET_", system));
  return secrets_from_chain(std::move(chain));
}

std::string persona_list(const App& app) {
  std::string s;
  for (const Persona* p : app.personas()) s += (s.empty() ? "" : ", ") + p->id().name();
  return s.empty() ? "(none)" : s;
}

std::map<std::string, std::string, std::less<>> parse_secret_flags(const std::vector<std::string>& flags) {
  std::map<std::string, std::string, std::less<>> out;
  for (const std::string& f : flags) {
    const auto eq = f.find('=');
    if (eq == std::string::npos || eq == 0) throw CLI::ValidationError("--secret", "expects NAME=VALUE, got \"" + f + "\"");
    out[f.substr(0, eq)] = f.substr(eq + 1);
  }
  return out;
}

constexpr const char* kSubcommands[] = {"build", "run", "dev", "verify", "personas"};

}  // namespace

int run(int argc, char** argv, std::string_view app_name, const DefineApp& define) {
  auto system = make_real_system();
  const std::string name(app_name);

  CLI::App cli{name + ": a snapshot program. Every container runs this same binary."};
  cli.footer(
      "Exit status: 0 ok, 1 the program failed, 2 the log is unusable, 3 replay diverged from the build\n"
      "(divergence or manifest mismatch), 64 usage error. Without a subcommand, $PERSONA selects `run`.");
  cli.require_subcommand(0, 1);

  std::string out_dir, log_flag, secrets_dir, persona_name, verify_log;
  std::vector<std::string> secret_flags;

  auto* build = cli.add_subcommand("build", "Record startup into DIR/snapshot.snaplog and write the build state");
  build->add_option("--out", out_dir, "Build output directory")->required();
  build->add_option("--secret", secret_flags, "A secret's value, NAME=VALUE (repeatable)");

  auto* run_cmd = cli.add_subcommand("run", "Replay startup from the log, then become PERSONA");
  run_cmd->add_option("persona", persona_name, "Persona to run (default: $PERSONA)");
  run_cmd->add_option("--log", log_flag, "Snapshot log (default: $SNAP_LOG, else snapshot.snaplog beside the binary)");
  run_cmd->add_option("--secrets-dir", secrets_dir, "Secret files (default: $SNAP_SECRETS_DIR, else /run/secrets)");
  run_cmd->allow_extras();

  auto* dev = cli.add_subcommand("dev", "Run startup live and every daemon persona in this process");
  dev->add_option("--secret", secret_flags, "A secret's value, NAME=VALUE (repeatable)");

  auto* verify = cli.add_subcommand("verify", "Replay startup against LOG and report whether it matches");
  verify->add_option("log", verify_log, "Snapshot log")->required();
  verify->add_option("--secrets-dir", secrets_dir, "Secret files (default: $SNAP_SECRETS_DIR, else /run/secrets)");

  auto* personas_cmd = cli.add_subcommand("personas", "List the personas (replaying the log if one is found)");
  personas_cmd->add_option("--log", log_flag, "Snapshot log to replay (default: as for run; live startup if absent)");

  if (argc > 1 && argv[1][0] != '-') {
    const std::string_view first = argv[1];
    if (std::find(std::begin(kSubcommands), std::end(kSubcommands), first) == std::end(kSubcommands)) {
      std::cerr << name << ": unknown subcommand \"" << first
                << "\"; valid subcommands: build, run, dev, verify, personas (see --help)" << std::endl;
      return kExitUsage;
    }
  }
  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = cli.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }

  try {
    if (*build) {
      auto summary = build_app(name, define, *system, BuildOptions{out_dir, parse_secret_flags(secret_flags)});
      std::cerr << "snap: build: wrote " << summary.log.string() << " (" << summary.events << " events, "
                << summary.components << " components); personas: " << join(summary.personas) << std::endl;
      return kExitOk;
    }
    if (*dev) {
      DevOptions options{parse_secret_flags(secret_flags)};
      auto app = start_dev_app(name, define, *system, options);
      std::vector<const Persona*> daemons;
      for (const Persona* p : app->personas()) {
        if (p->persona_kind() == PersonaKind::kDaemon) daemons.push_back(p);
      }
      std::vector<std::string> names;
      for (const Persona* p : daemons) names.push_back(p->id().name());
      std::cerr << "snap: dev: running " << join(names) << " (Ctrl-C stops)" << std::endl;
      const int status = run_personas(*app, daemons, {});
      std::cerr << "snap: dev: stopped" << std::endl;
      return status;
    }
    if (*verify) {
      auto real = runtime_secrets(*system, secrets_dir);
      PlaceholderSecrets secrets(*real);
      auto app = replay_app(name, define, *system, ReplayOptions{verify_log, Mode::kVerify, &secrets});
      std::cout << "verified: " << verify_log << " replays cleanly (" << app->manifest().components.size()
                << " components; personas: " << persona_list(*app) << ")" << std::endl;
      return kExitOk;
    }
    if (*personas_cmd) {
      std::unique_ptr<App> app;
      const auto log = log_flag.empty() ? default_log_path(*system) : std::filesystem::path(log_flag);
      if (std::filesystem::exists(log)) {
        auto real = runtime_secrets(*system, "");
        PlaceholderSecrets secrets(*real);
        app = replay_app(name, define, *system, ReplayOptions{log, Mode::kVerify, &secrets});
      } else {
        app = start_dev_app(name, define, *system, {});
      }
      for (const Persona* p : app->personas()) {
        std::cout << p->id().name() << "\t" << to_string(p->persona_kind()) << "\t" << p->id().str() << "\n";
      }
      return kExitOk;
    }
    // `run`, or no subcommand with $PERSONA set.
    if (!*run_cmd && !system->env("PERSONA")) {
      std::cerr << cli.help() << std::endl;
      return kExitUsage;
    }
    if (persona_name.empty()) persona_name = system->env("PERSONA").value_or("");
    if (persona_name.empty()) {
      std::cerr << name << ": run: no persona given (argument or $PERSONA)" << std::endl;
      return kExitUsage;
    }
    const auto log = log_flag.empty() ? default_log_path(*system) : std::filesystem::path(log_flag);
    auto secrets = runtime_secrets(*system, secrets_dir);
    auto app = replay_app(name, define, *system, ReplayOptions{log, Mode::kRun, secrets.get()});
    const Persona* persona = app->find_persona(persona_name);
    if (persona == nullptr) {
      std::cerr << name << ": unknown persona \"" << persona_name << "\"; valid personas: " << persona_list(*app)
                << std::endl;
      return kExitUsage;
    }
    std::vector<std::string> args = run_cmd->remaining();
    if (persona->persona_kind() == PersonaKind::kCommand) {
      PersonaContext context(*app, *persona, args);
      return persona->run(context);
    }
    return run_personas(*app, {persona}, args);
  } catch (const Divergence& d) {
    std::cerr << name << ": " << d.what() << std::endl;
    return kExitDivergence;
  } catch (const ManifestMismatch& m) {
    std::cerr << name << ": " << m.what() << std::endl;
    return kExitDivergence;
  } catch (const LogError& e) {
    std::cerr << name << ": " << e.what() << std::endl;
    return kExitLogError;
  } catch (const CLI::ValidationError& e) {
    std::cerr << name << ": " << e.what() << std::endl;
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << name << ": error: " << e.what() << std::endl;
    return kExitFailure;
  }
}

}  // namespace snap
