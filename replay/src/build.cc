// build: record startup, run the build actions and emitters, and switch the whole output
// directory to the new build as a unit.
//
// Layout beside OUT (all hidden, all removed or reused by the next build):
//   .OUT.lock            flock'ed by the running build; holds its pid for the error message
//   .OUT.staging-PID     the build being written; becomes OUT by an atomic exchange
// A build killed at any point leaves OUT as the previous build made it.
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <regex>
#include <set>

#include <boost/json.hpp>

#include "lifecycle_private.h"
#include "local_ports.h"
#include "snap/log_writer.h"
#include "snap/persona.h"
#include "snap/system.h"
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

[[noreturn]] void fail(const std::string& what, const std::filesystem::path& path) {
  throw std::runtime_error(what + " " + path.string() + ": " + std::strerror(errno));
}

std::string read_whole(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot read", path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void sync_path(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("cannot open", path);
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) fail("cannot sync", path);
}

// Files are written once into the private staging directory, and synced before the switch.
void write_file(const std::filesystem::path& path, std::string_view content, mode_t mode) {
  std::filesystem::create_directories(path.parent_path());
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) fail("cannot write", path);
  ::fchmod(fd, mode);  // O_CREAT's mode is filtered by the umask
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      fail("cannot write", path);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    fail("cannot sync", path);
  }
  ::close(fd);
}

// Every file and directory under `root`, then `root` itself: nothing is switched into
// place before it is on disk.
void sync_tree(const std::filesystem::path& root) {
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
    if (entry.is_regular_file() || entry.is_directory()) sync_path(entry.path());
  }
  sync_path(root);
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

// Exclusive use of one output directory for the life of a build.
class BuildDirLock {
 public:
  explicit BuildDirLock(const std::filesystem::path& out) {
    const auto path = out.parent_path() / ("." + out.filename().string() + ".lock");
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) fail("cannot create the build lock", path);
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      const int error = errno;
      char pid[32] = {};
      const ssize_t n = ::pread(fd_, pid, sizeof pid - 1, 0);
      ::close(fd_);
      if (error != EWOULDBLOCK) fail("cannot lock", path);
      throw BuildLocked("another build is running (pid " + std::string(pid, n > 0 ? static_cast<std::size_t>(n) : 0) +
                        ") into " + out.string() + "; wait for it to finish");
    }
    const std::string pid = std::to_string(::getpid());
    if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) < 0) fail("cannot write", path);
  }
  ~BuildDirLock() { ::close(fd_); }  // releases the flock; the file stays, so no unlink race
  BuildDirLock(const BuildDirLock&) = delete;
  BuildDirLock& operator=(const BuildDirLock&) = delete;

 private:
  int fd_ = -1;
};

std::filesystem::path staging_path(const std::filesystem::path& out) {
  return out.parent_path() / ("." + out.filename().string() + ".staging-" + std::to_string(::getpid()));
}

// Removes what killed builds left beside OUT (only while holding the lock).
void remove_leftovers(const std::filesystem::path& out) {
  const std::string prefix = "." + out.filename().string() + ".staging-";
  for (const auto& entry : std::filesystem::directory_iterator(out.parent_path())) {
    if (entry.path().filename().string().rfind(prefix, 0) == 0) std::filesystem::remove_all(entry.path());
  }
}

// Puts `staging` in OUT's place in one step, then removes the previous build.
void switch_into_place(const std::filesystem::path& staging, const std::filesystem::path& out) {
  if (!std::filesystem::exists(out)) {
    std::filesystem::rename(staging, out);
  } else {
    if (!std::filesystem::is_directory(out)) throw std::runtime_error(out.string() + " exists and is not a directory");
    // renameat2(RENAME_EXCHANGE): both names stay valid throughout, so there is no moment
    // at which OUT is missing or half old, half new.
    if (::renameat2(AT_FDCWD, staging.c_str(), AT_FDCWD, out.c_str(), RENAME_EXCHANGE) != 0) {
      fail("cannot switch the new build into", out);
    }
    std::filesystem::remove_all(staging);  // now the previous build
  }
  sync_path(out.parent_path());
}

}  // namespace

BuildSummary build_app(std::string_view name, const DefineApp& define, System& system, const BuildOptions& options,
                       const std::vector<BuildEmitter>& emitters) {
  if (options.out_dir.empty()) throw std::invalid_argument("build: no output directory");
  if (!options.base_image.empty()) check_image_reference(options.base_image);
  std::filesystem::path out = std::filesystem::absolute(options.out_dir).lexically_normal();
  if (out.filename().empty()) out = out.parent_path();  // "dir/" names "dir"
  std::filesystem::create_directories(out.parent_path());
  BuildDirLock lock(out);
  const bool local = options.placement == Placement::kLocal;
  const std::unique_ptr<LocalPortRegistry> local_ports = LocalPortRegistry::open(system, local);
  const std::set<std::int64_t> held_elsewhere =
      local && local_ports ? local_ports->held_by_others(out) : std::set<std::int64_t>{};
  remove_leftovers(out);
  const auto staging = staging_path(out);
  std::filesystem::create_directories(staging);
  // A failed build leaves nothing behind; the previous OUT was never touched.
  struct RemoveUnlessSwitched {
    const std::filesystem::path& path;
    bool switched = false;
    ~RemoveUnlessSwitched() {
      std::error_code ignored;
      if (!switched) std::filesystem::remove_all(path, ignored);
    }
  } cleanup{staging};

  auto p = private_for(Mode::kBuild, system);
  p->supplied_secrets = options.secrets;
  for (const auto& [secret, value] : options.secrets) check_secret_file_name(secret);
  // Stored secrets (passwords made by earlier builds, supplied values) are read directly:
  // their values never pass the membrane, so they never reach the log.
  std::map<std::string, std::string> stored;
  if (std::filesystem::is_directory(out / kStoredSecretsDir)) {
    for (const auto& entry : std::filesystem::directory_iterator(out / kStoredSecretsDir)) {
      if (!entry.is_regular_file()) continue;
      const std::string secret = entry.path().filename().string();
      std::string value = read_whole(entry.path());
      if (value.empty()) {
        throw std::runtime_error("stored secret " + entry.path().string() +
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
  auto recording = std::make_unique<RecordingMembrane>(system, NoSecretsAtStartup::instance(),
                                                       LogWriter::create(staging / kLogFileName, header));
  RecordingMembrane& recorder = *recording;
  p->startup_membrane = std::move(recording);
  p->live_membrane = std::make_unique<LiveMembrane>(system, p->known_secrets);

  App app(name, std::move(p));
  App::Private& priv = AppAccess::of(app);
  run_startup(
      app, define,
      [&] {
        const auto state_file = out / kStateFile;
        std::string text = std::filesystem::exists(state_file) ? read_whole(state_file) : std::string("{}");
        if (held_elsewhere.empty()) return text;
        boost::system::error_code ec;
        boost::json::value state = boost::json::parse(text, ec);
        if (ec || !state.is_object()) return text;  // refused, with its reason, by run_startup
        state.as_object()[kPortsHeldElsewhereKey] = boost::json::array(held_elsewhere.begin(), held_elsewhere.end());
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

  for (auto& action : priv.build_actions) action(app);

  boost::json::object state = app.build_state().values();
  state.erase(kPortsHeldElsewhereKey);  // this host's other builds: recorded in the log, not committed
  write_file(staging / kStateFile, boost::json::serialize(state) + "\n", 0644);
  std::filesystem::create_directories(staging / kStoredSecretsDir);
  std::filesystem::permissions(staging / kStoredSecretsDir, std::filesystem::perms::owner_all);
  for (const std::string& secret : priv.generated_secrets) check_secret_file_name(secret);
  for (const std::string& secret : priv.required_secrets) check_secret_file_name(secret);
  for (const auto& [secret, value] : priv.known_secrets.values) {
    if (stored.count(secret) || priv.generated_secrets.count(secret) || priv.required_secrets.count(secret)) {
      write_file(staging / kStoredSecretsDir / secret, value, 0600);
    }
  }
  // What compose will mount at /run/secrets for each persona: only what it uses.
  for (const Persona* persona : app.personas()) {
    const auto dir = staging / kRuntimeSecretsDir / persona->id().safe_name();
    std::filesystem::create_directories(dir);
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all);
    for (const std::string& secret : app.secrets_for(*persona)) {
      if (auto value = priv.known_secrets.get(secret)) write_file(dir / secret, *value, 0600);
    }
    summary.personas.push_back(persona->id().name());
  }
  write_file(staging / ".gitignore", kGitignore, 0644);
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
  sync_tree(staging);
  switch_into_place(staging, out);
  cleanup.switched = true;
  priv.phase = Phase::kFinished;
  return summary;
}

}  // namespace snap
