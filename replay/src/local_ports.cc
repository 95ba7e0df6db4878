#include "local_ports.h"

#include <unistd.h>

#include <chrono>

#include <boost/json.hpp>

#include "snap/env.h"

namespace snap {

namespace {

constexpr const char* kRegistryFile = "local-ports.json";

// How often a build waiting for the registry looks again. Another build holds it only
// while it builds, and a wait of this much once is nothing beside a build.
constexpr std::chrono::milliseconds kLockPoll{20};

std::filesystem::path registry_dir(Env& system) {
  if (auto state = system.variable("XDG_STATE_HOME"); state && !state->empty()) return std::filesystem::path(*state) / "snapshot";
  if (auto home = system.variable("HOME"); home && !home->empty()) {
    return std::filesystem::path(*home) / ".local" / "state" / "snapshot";
  }
  return {};
}

// The registry is about this host's ports: say so in every error about its files.
[[noreturn]] void fail(const FileError& e) {
  throw FileError(std::string(e.what()) + " (the ports of --local builds on this host)", e.code());
}

}  // namespace

std::unique_ptr<LocalPortRegistry> LocalPortRegistry::open(Env& system, bool create) {
  const std::filesystem::path dir = registry_dir(system);
  if (dir.empty()) return nullptr;
  const auto file = dir / kRegistryFile;
  std::unique_ptr<LocalPortRegistry> registry(new LocalPortRegistry(system));
  try {
    if (!create && !system.file_exists(file)) return nullptr;
    system.create_directories(dir);
    registry->file_ = file;
    // Waits for a --local build of another directory to finish choosing and recording.
    const auto lock = dir / (std::string(kRegistryFile) + ".lock");
    const std::string holder = "pid " + std::to_string(::getpid());
    while (!(registry->lock_ = system.try_lock(lock, holder))) system.sleep_for(kLockPoll);
    if (system.file_type(file) != FileType::kRegular) return registry;  // no build has recorded ports yet
    const std::string text = system.read_file(file);
    boost::system::error_code parse_error;
    const boost::json::value doc = boost::json::parse(text, parse_error);
    // The registry only ever helps to avoid collisions: a damaged one is started afresh.
    if (parse_error || !doc.is_object()) return registry;
    for (const auto& [dir_name, numbers] : doc.as_object()) {
      if (!numbers.is_array()) continue;
      std::set<std::int64_t>& held = registry->held_[std::string(dir_name)];
      for (const boost::json::value& n : numbers.as_array()) {
        if (n.is_int64()) held.insert(n.as_int64());
      }
    }
  } catch (const FileError& e) {
    fail(e);
  }
  return registry;
}

LocalPortRegistry::~LocalPortRegistry() = default;

bool LocalPortRegistry::still_there(const std::string& dir) const {
  return env_.file_type(dir) == FileType::kDirectory;
}

std::set<std::int64_t> LocalPortRegistry::held_by_others(const std::filesystem::path& out) const {
  std::set<std::int64_t> held;
  for (const auto& [dir, numbers] : held_) {
    if (dir == out.string() || !still_there(dir)) continue;
    held.insert(numbers.begin(), numbers.end());
  }
  return held;
}

void LocalPortRegistry::record(const std::filesystem::path& out, const std::set<std::int64_t>& ports) {
  boost::json::object doc;
  for (const auto& [dir, numbers] : held_) {
    if (dir == out.string() || !still_there(dir)) continue;
    doc[dir] = boost::json::array(numbers.begin(), numbers.end());
  }
  if (!ports.empty()) doc[out.string()] = boost::json::array(ports.begin(), ports.end());
  const auto temp = file_.string() + ".partial-" + std::to_string(::getpid());
  try {
    write_file(env_, temp, boost::json::serialize(doc) + "\n");
    env_.rename(temp, file_);
  } catch (const FileError& e) {
    fail(e);
  }
}

}  // namespace snap
