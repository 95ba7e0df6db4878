// The ports held by --local builds on this host. Containers each have their own network,
// so every containers build may number its ports from 20000; --local personas are
// processes on one host, so two --local builds of different apps must not share a number.
//
// A registry file, $XDG_STATE_HOME/snapshot/local-ports.json (default
// ~/.local/state/snapshot/), maps each --local build directory to the numbers its build
// state holds. A --local build locks the registry for its whole run (builds of other
// directories wait), passes the numbers held by *other* directories that still exist into
// its build state (kPortsHeldElsewhereKey: recorded, so containers and `run` replay the
// same choice), and on success records its own. A containers build, or a directory that
// no longer exists, gives its numbers back.
//
// Thread safety: one registry per build; not shared.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>

namespace snap {

class Env;
class FileLock;

// The build-state key snap::Port reads: the numbers other --local builds hold (an array).
// The build removes it before writing state/build-state.json (it describes this host).
inline constexpr const char* kPortsHeldElsewhereKey = "snap.ports-held-elsewhere";

// The build-state key every build adds (any value) to the state it records: snap::Port
// numbers from Port::kFirstPort, below the kernel's range for outgoing connections. Logs
// recorded without it numbered from 35000, and replay them so. Removed like the above.
inline constexpr const char* kPortsBelowEphemeralKey = "snap.ports-below-ephemeral";

class LocalPortRegistry {
 public:
  // Locks and reads the registry through `system`, which must outlive the registry.
  // nullptr when there is nothing to do: neither $XDG_STATE_HOME nor $HOME is set, or a
  // containers build (`create` false) finds no registry. Throws FileError when the
  // registry cannot be created or read.
  static std::unique_ptr<LocalPortRegistry> open(Env& system, bool create);
  ~LocalPortRegistry();  // releases the lock
  LocalPortRegistry(const LocalPortRegistry&) = delete;
  LocalPortRegistry& operator=(const LocalPortRegistry&) = delete;

  // The numbers held by builds of other directories that still exist.
  std::set<std::int64_t> held_by_others(const std::filesystem::path& out) const;

  // Replaces what `out` holds by `ports` (none: `out` is forgotten), forgets directories
  // that no longer exist, and writes the registry (temp file, rename). Throws FileError.
  void record(const std::filesystem::path& out, const std::set<std::int64_t>& ports);

 private:
  explicit LocalPortRegistry(Env& env) : env_(env) {}
  bool still_there(const std::string& dir) const;
  Env& env_;
  std::filesystem::path file_;
  std::unique_ptr<FileLock> lock_;
  std::map<std::string, std::set<std::int64_t>> held_;  // build directory -> numbers
};

}  // namespace snap
