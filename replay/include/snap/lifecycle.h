// The lifecycle of one program: build (record startup, write the deployment), run
// (replay startup, become a persona), dev (everything live in one process), verify
// (replay startup against a log and report).
//
// snap::run() is the entry point for a program's main(); the in-process functions below
// let tests drive the same lifecycle without a subprocess.
//
// Exit statuses (also printed by `app --help`):
//   0  success                     3  divergence or manifest mismatch on replay
//   1  the program failed          64 usage error (unknown subcommand or persona, bad flag)
//   2  the log is unusable (missing, corrupt, incomplete, incompatible, another app's)
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

namespace snap {

class SecretSource;

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitLogError = 2;
inline constexpr int kExitDivergence = 3;  // == kDivergenceExitCode
inline constexpr int kExitUsage = 64;

using DefineApp = std::function<void(App&)>;

// The program's main: `return snap::run(argc, argv, "my-app", define_app);`
int run(int argc, char** argv, std::string_view app_name, const DefineApp& define);

// The replayed program built a different component tree than the build recorded.
class ManifestMismatch : public std::runtime_error {
 public:
  ManifestMismatch(std::vector<std::string> added, std::vector<std::string> removed,
                   std::vector<std::string> changed);
  const std::vector<std::string>& added() const { return added_; }      // ids only in the program
  const std::vector<std::string>& removed() const { return removed_; }  // ids only in the log
  const std::vector<std::string>& changed() const { return changed_; }  // ids whose entry differs

 private:
  std::vector<std::string> added_, removed_, changed_;
};

// Throws ManifestMismatch when `program` differs from `recorded`.
void compare_manifests(const Manifest& recorded, const Manifest& program);

struct BuildOptions {
  std::filesystem::path out_dir;
  // User-supplied secret values (`--secret NAME=VALUE`); env SNAP_SECRET_<NAME> also counts.
  std::map<std::string, std::string, std::less<>> secrets;
};

struct BuildSummary {
  std::filesystem::path log;
  std::uint64_t events = 0;
  std::size_t components = 0;
  std::vector<std::string> personas;
};

// Records startup into OUT/snapshot.snaplog, runs on_build actions, and writes the
// build-time state (ports, passwords, secrets, per-persona secret directories, .gitignore).
// `system` must outlive the call.
BuildSummary build_app(std::string_view name, const DefineApp& define, System& system, const BuildOptions& options);

struct ReplayOptions {
  std::filesystem::path log;
  Mode mode = Mode::kRun;  // kRun or kVerify
  // Where persona secrets come from; null: a source that has none.
  const SecretSource* secrets = nullptr;
};

// Replays startup against the log; on success returns the app switched to live.
// Throws Divergence, ManifestMismatch or LogError.
std::unique_ptr<App> replay_app(std::string_view name, const DefineApp& define, System& system,
                                const ReplayOptions& options);

struct DevOptions {
  std::map<std::string, std::string, std::less<>> secrets;
};

// Runs startup live (dev mode) and returns the app, ready to run personas.
std::unique_ptr<App> start_dev_app(std::string_view name, const DefineApp& define, System& system,
                                   const DevOptions& options);

}  // namespace snap
