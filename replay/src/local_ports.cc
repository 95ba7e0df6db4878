#include "local_ports.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include <boost/json.hpp>

#include "snap/env.h"

namespace snap {

namespace {

constexpr const char* kRegistryFile = "local-ports.json";

[[noreturn]] void fail(const std::string& what, const std::filesystem::path& path) {
  const std::error_code code(errno, std::system_category());
  throw FileError(what + " " + path.string() + " (the ports of --local builds on this host): " + code.message(), code);
}

std::filesystem::path registry_dir(Env& system) {
  if (auto state = system.variable("XDG_STATE_HOME"); state && !state->empty()) return std::filesystem::path(*state) / "snapshot";
  if (auto home = system.variable("HOME"); home && !home->empty()) {
    return std::filesystem::path(*home) / ".local" / "state" / "snapshot";
  }
  return {};
}

}  // namespace

std::unique_ptr<LocalPortRegistry> LocalPortRegistry::open(Env& system, bool create) {
  const std::filesystem::path dir = registry_dir(system);
  if (dir.empty()) return nullptr;
  const auto file = dir / kRegistryFile;
  std::error_code ec;
  if (!create && !std::filesystem::exists(file, ec)) return nullptr;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    errno = ec.value();
    fail("cannot create", dir);
  }
  std::unique_ptr<LocalPortRegistry> registry(new LocalPortRegistry);
  registry->file_ = file;
  const auto lock = dir / (std::string(kRegistryFile) + ".lock");
  registry->lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (registry->lock_fd_ < 0) fail("cannot open", lock);
  // Waits for a --local build of another directory to finish choosing and recording.
  while (::flock(registry->lock_fd_, LOCK_EX) != 0) {
    if (errno != EINTR) fail("cannot lock", lock);
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) return registry;  // no build has recorded ports yet
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
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
  return registry;
}

LocalPortRegistry::~LocalPortRegistry() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

std::set<std::int64_t> LocalPortRegistry::held_by_others(const std::filesystem::path& out) const {
  std::set<std::int64_t> held;
  for (const auto& [dir, numbers] : held_) {
    std::error_code ec;
    if (dir == out.string() || !std::filesystem::is_directory(dir, ec)) continue;
    held.insert(numbers.begin(), numbers.end());
  }
  return held;
}

void LocalPortRegistry::record(const std::filesystem::path& out, const std::set<std::int64_t>& ports) {
  boost::json::object doc;
  for (const auto& [dir, numbers] : held_) {
    std::error_code ec;
    if (dir == out.string() || !std::filesystem::is_directory(dir, ec)) continue;
    doc[dir] = boost::json::array(numbers.begin(), numbers.end());
  }
  if (!ports.empty()) doc[out.string()] = boost::json::array(ports.begin(), ports.end());
  const auto temp = file_.string() + ".partial-" + std::to_string(::getpid());
  {
    std::ofstream o(temp, std::ios::binary | std::ios::trunc);
    o << boost::json::serialize(doc) << "\n";
    o.close();
    if (!o) fail("cannot write", temp);
  }
  if (::rename(temp.c_str(), file_.c_str()) != 0) fail("cannot replace", file_);
}

}  // namespace snap
