// build: record startup, ask the build check whether to go on, run the build actions and
// emitters, and switch the whole output directory to the new build as a unit.
//
// Layout beside OUT (all hidden, all removed or reused by the next build):
//   .OUT.lock            flock'ed by the running build; holds its pid for the error message
//   .OUT.staging-PID     the build being written; becomes OUT by an atomic exchange
// A build killed at any point leaves OUT as the previous build made it.
#include <elf.h>
#include <link.h>
#include <unistd.h>

#include <cstring>
#include <regex>
#include <set>

#include <boost/json.hpp>

#include "lifecycle_private.h"
#include "local_ports.h"
#include "snap/log_writer.h"
#include "snap/membrane.h"
#include "snap/persona.h"
#include "snap/env.h"
#include "snap/text.h"

namespace snap {

namespace {

constexpr std::string_view kWriterVersion = "snap 0.2.0";
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

constexpr auto kPublicFile = std::filesystem::perms(0644);
constexpr auto kSecretFile = std::filesystem::perms(0600);

// Every file and directory under `root`, then `root` itself: nothing is switched into
// place before it is on disk (emitters write their files without syncing them).
void sync_tree(Env& env, const std::filesystem::path& root) {
  for (const std::string& name : env.list_directory(root)) {
    const auto path = root / name;
    const FileType type = env.file_type(path);
    if (type == FileType::kDirectory) {
      sync_tree(env, path);
    } else if (type == FileType::kRegular) {
      env.sync(path);
    }
  }
  env.sync(root);
}

// Secret files are named after the secret, so the name must be one file name.
void check_secret_file_name(const std::string& name) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos || name.size() > 255) {
    throw std::invalid_argument("secret name \"" + name + "\" cannot be a file name (1-255 bytes, no '/')");
  }
}

// The base image becomes the Dockerfile's FROM line, so anything but one image reference
// (a newline would start a second instruction) is refused. The grammar is Docker's
// (github.com/distribution/reference): [HOST[:PORT]/]PATH[:TAG][@ALGORITHM:HEX].
void check_image_reference(const std::string& image) {
  static const std::regex kReference(
      "(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*"
      "(?::[0-9]+)?/)?"                                               // registry host
      "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"  // path
      "(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"                       // tag
      "(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?");  // digest
  if (image.size() > 512 || !std::regex_match(image, kReference)) {
    throw UsageError("--base-image \"" + printable(image) +
                     "\" is not an image reference (like debian:bookworm-slim or registry:5000/team/base@sha256:...)");
  }
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

// Exclusive use of one output directory for the life of a build. The lock file stays
// when the build ends (only the lock is released), so there is no unlink race.
std::unique_ptr<FileLock> lock_build_dir(Env& env, const std::filesystem::path& out) {
  const auto path = out.parent_path() / ("." + out.filename().string() + ".lock");
  auto lock = env.try_lock(path, std::to_string(::getpid()));
  if (!lock) {
    std::string holder;
    try {
      holder = env.read_file(path);
    } catch (const FileError&) {
      // The holder's pid is only for the message.
    }
    throw BuildLocked("another build is running (pid " + holder + ") into " + out.string() +
                      "; wait for it to finish");
  }
  return lock;
}

std::filesystem::path staging_path(const std::filesystem::path& out) {
  return out.parent_path() / ("." + out.filename().string() + ".staging-" + std::to_string(::getpid()));
}

// Removes what killed builds left beside OUT (only while holding the lock).
void remove_leftovers(Env& env, const std::filesystem::path& out) {
  const std::string prefix = "." + out.filename().string() + ".staging-";
  for (const std::string& name : env.list_directory(out.parent_path())) {
    if (name.rfind(prefix, 0) == 0) env.remove_all(out.parent_path() / name);
  }
}

// Puts `staging` in OUT's place in one step, then removes the previous build.
void switch_into_place(Env& env, const std::filesystem::path& staging, const std::filesystem::path& out) {
  const FileType type = env.file_type(out);
  if (type == FileType::kMissing) {
    env.rename(staging, out);
  } else {
    if (type != FileType::kDirectory) {
      throw FileError(out.string() + " exists and is not a directory", std::make_error_code(std::errc::not_a_directory));
    }
    // An exchange: both names stay valid throughout, so there is no moment at which OUT is
    // missing or half old, half new.
    env.exchange(staging, out);
    env.remove_all(staging);  // now the previous build
  }
  env.sync(out.parent_path());
}

}  // namespace

BuildSummary build_app(std::string_view name, const DefineApp& define, Env& env, const BuildOptions& options,
                       const std::vector<BuildEmitter>& emitters, const BuildCheck& check) {
  if (options.out_dir.empty()) throw std::invalid_argument("build: no output directory");
  if (!options.base_image.empty()) check_image_reference(options.base_image);
  std::filesystem::path out = std::filesystem::absolute(options.out_dir).lexically_normal();
  if (out.filename().empty()) out = out.parent_path();  // "dir/" names "dir"
  env.create_directories(out.parent_path());
  const auto lock = lock_build_dir(env, out);
  const bool local = options.placement == Placement::kLocal;
  const std::unique_ptr<LocalPortRegistry> local_ports = LocalPortRegistry::open(env, local);
  const std::set<std::int64_t> held_elsewhere =
      local && local_ports ? local_ports->held_by_others(out) : std::set<std::int64_t>{};
  remove_leftovers(env, out);
  const auto staging = staging_path(out);
  env.create_directories(staging);
  // A failed build leaves nothing behind; the previous OUT was never touched.
  struct RemoveUnlessSwitched {
    Env& env;
    const std::filesystem::path& path;
    bool switched = false;
    ~RemoveUnlessSwitched() {
      if (switched) return;
      try {
        env.remove_all(path);
      } catch (const FileError&) {
        // Best effort: the next build removes leftovers.
      }
    }
  } cleanup{env, staging};

  auto p = private_for(Mode::kBuild, env);
  p->supplied_secrets = options.secrets;
  for (const auto& [secret, value] : options.secrets) check_secret_file_name(secret);
  // Stored secrets (passwords made by earlier builds, supplied values) are read directly:
  // their values never pass the membrane, so they never reach the log.
  std::map<std::string, std::string> stored;
  if (env.file_type(out / kStoredSecretsDir) == FileType::kDirectory) {
    for (const std::string& secret : env.list_directory(out / kStoredSecretsDir)) {
      const auto path = out / kStoredSecretsDir / secret;
      if (env.file_type(path) != FileType::kRegular) continue;
      std::string value = env.read_file(path);
      if (value.empty()) {
        throw SecretUnavailable("stored secret " + path.string() +
                                " is empty; delete it to generate a new one, or supply --secret " + secret + "=VALUE");
      }
      p->known_secrets.values[secret] = value;
      stored.emplace(secret, std::move(value));
    }
  }

  LogHeader header;
  header.app_name = std::string(name);
  header.binary_fingerprint = binary_fingerprint();
  header.writer_version = std::string(kWriterVersion);
  LogWriterOptions log_options;
  log_options.env = &env;
  auto recording = std::make_unique<RecordingMembrane>(env, NoSecretsAtStartup::instance(),
                                                       LogWriter::create(staging / kLogFileName, header, log_options));
  RecordingMembrane& recorder = *recording;
  p->startup_membrane = std::move(recording);
  p->live_membrane = std::make_unique<LiveMembrane>(env, p->known_secrets);

  const std::unique_ptr<App> owned_app = AppAccess::make(name, std::move(p));
  App& app = *owned_app;
  App::Private& priv = AppAccess::of(app);
  run_startup(
      app, define,
      [&] {
        const auto state_file = out / kStateFile;
        std::string text = env.file_exists(state_file) ? env.read_file(state_file) : std::string("{}");
        boost::system::error_code ec;
        boost::json::value state = boost::json::parse(text, ec);
        if (ec || !state.is_object()) return text;  // refused, with its reason, by run_startup
        state.as_object()[kPortsBelowEphemeralKey] = true;
        if (!held_elsewhere.empty()) {
          state.as_object()[kPortsHeldElsewhereKey] = boost::json::array(held_elsewhere.begin(), held_elsewhere.end());
        }
        return boost::json::serialize(state);
      },
      options.placement);
  check_supplied_secrets_declared(priv);
  check_required_secrets(priv);

  BuildSummary summary;
  summary.log = out / kLogFileName;
  summary.events = recorder.event_count();
  const Manifest manifest = app.manifest();
  summary.components = manifest.components.size();
  recorder.finish(manifest);
  priv.end_startup(Phase::kBuildActions);
  // Before the build actions and emitters: a refused build does nothing more, and OUT is
  // still the previous build (the staging directory goes with `cleanup`).
  if (check && check(out / kLogFileName, manifest, options, env)) {
    summary.kept_previous = true;
    return summary;
  }

  for (auto& action : priv.build_actions) action(app);

  boost::json::object state = app.build_state().values();
  state.erase(kPortsHeldElsewhereKey);  // this host's other builds: recorded in the log, not committed
  state.erase(kPortsBelowEphemeralKey);
  write_file(env, staging / kStateFile, boost::json::serialize(state) + "\n", kPublicFile);
  env.create_directories(staging / kStoredSecretsDir);
  env.set_permissions(staging / kStoredSecretsDir, std::filesystem::perms::owner_all);
  for (const std::string& secret : priv.generated_secrets) check_secret_file_name(secret);
  for (const std::string& secret : priv.required_secrets) check_secret_file_name(secret);
  for (const auto& [secret, value] : priv.known_secrets.values) {
    if (stored.count(secret) || priv.generated_secrets.count(secret) || priv.required_secrets.count(secret)) {
      write_file(env, staging / kStoredSecretsDir / secret, value, kSecretFile);
    }
  }
  // What compose will mount at /run/secrets for each persona: only what it uses.
  for (const Persona* persona : app.personas()) {
    const auto dir = staging / kRuntimeSecretsDir / persona->id().safe_name();
    env.create_directories(dir);
    env.set_permissions(dir, std::filesystem::perms::owner_all);
    for (const std::string& secret : app.secrets_for(*persona)) {
      if (auto value = priv.known_secrets.get(secret)) write_file(env, dir / secret, *value, kSecretFile);
    }
    summary.personas.push_back(app.persona_name(*persona));
  }
  write_file(env, staging / ".gitignore", kGitignore, kPublicFile);
  for (const BuildEmitter& emit : emitters) emit(app, options, staging);

  // Recorded before the switch: a registry that cannot be written fails the build whole.
  if (local_ports) {
    std::set<std::int64_t> ports;
    if (const auto* held = state.if_contains("ports"); local && held && held->is_object()) {
      for (const auto& [id, number] : held->as_object()) {
        if (number.is_int64()) ports.insert(number.as_int64());
      }
    }
    local_ports->record(out, ports);
  }
  sync_tree(env, staging);
  switch_into_place(env, staging, out);
  cleanup.switched = true;
  priv.phase = Phase::kFinished;
  return summary;
}

}  // namespace snap
