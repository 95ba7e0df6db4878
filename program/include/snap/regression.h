// The replay regression kit: keep build logs as golden files and replay every one of them
// against today's program in a test. A change that would make an old build's containers
// replay differently -- a new startup read, a changed request, a different component
// tree -- fails with the exact event: its index, what the log expected (kind, key,
// request, call site) and what the program asked for (the same, with today's call site).
// docs/regression.md has the workflow (evolve with Membrane::version()).
//
//   TEST(Regression, OldBuildsStillReplay) {
//     snap::Env& system = snap::real_env();  // replay reads nothing from it
//     const snap::RegressionReport report = snap::replay_logs("tests/golden-logs", "shop", define_shop, system);
//     EXPECT_TRUE(report) << report;  // every failure, with all its fields
//   }
//
// Thread safety: replay_logs replays one log at a time on the calling thread; the report
// is a plain value.
#pragma once

#include <cstdint>
#include <exception>
#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "snap/env.h"
#include "snap/episode.h"
#include "snap/lifecycle.h"

namespace snap {

class SecretSource;

struct RegressionOptions {
  // Only files with this extension are replayed (others in the directory are ignored).
  std::string extension = ".snaplog";
  // Secrets startup may read; null: every secret reads as a placeholder, as `app verify`
  // does without its secret files (replay checks determinism, not secret values).
  const SecretSource* secrets = nullptr;
};

// One side of a divergence: a membrane call.
struct ReplayCall {
  std::string kind, key, request;
  std::string file;  // call site; empty when unknown
  std::uint32_t line = 0;
  std::string function;
};

struct ReplayFailure {
  std::filesystem::path log;
  // "divergence", "manifest_mismatch", "log_error", "error" (anything else the program threw).
  std::string type;
  // For a divergence: different_call, different_request, log_exhausted, events_left_over,
  // unsupported_version. For a log error: not_found, not_a_snapshot_log,
  // incompatible_version, incomplete, truncated, corrupt, io.
  std::string reason;
  std::optional<std::uint64_t> event_index;  // divergences only
  std::optional<ReplayCall> expected;        // what the log holds at event_index
  std::optional<ReplayCall> actual;          // what the program asked for
  // Manifest mismatches: ids added / removed / changed (with before -> after in message).
  std::vector<std::string> added, removed, changed;
  std::string message;  // the exception's one-line (or multi-line) what()
};

struct RegressionReport {
  std::vector<std::filesystem::path> replayed;  // every log tried, sorted by name
  std::vector<ReplayFailure> failures;          // in the same order
  bool ok() const { return failures.empty(); }
  // EXPECT_TRUE(report) << report;  -- true when every log replayed cleanly.
  explicit operator bool() const { return ok(); }
  // Every failure, with all its fields, for a test's failure message.
  std::string describe() const;
};
std::ostream& operator<<(std::ostream& out, const RegressionReport& report);

// Replays startup against every log in `dir` (Mode::kVerify), each in a fresh app, and
// collects every failure instead of stopping at the first. A missing or unreadable
// directory is one failure of type "log_error". `system` must outlive the call; replay
// takes every input from the log, so any Env will do.
RegressionReport replay_logs(const std::filesystem::path& dir, std::string_view app_name, const DefineApp& define,
                             Env& system, const RegressionOptions& options = {});

// The failure a replay exception describes, for one log (what replay_logs records).
ReplayFailure replay_failure(const std::filesystem::path& log, const std::exception& error);

// Recorded requests as regression tests (docs/episodes.md): replays startup from the
// build's `log` once, then every episode in `dir` (a directory of *.episode files, or one
// file) against today's program, and reports every outcome -- same, response differs
// (with the differences) or diverged (with both call sites) -- not only the first. An
// EPISODE.expected.json beside an episode (`APP replay --accept`) is what it expects
// instead of the recorded response. Throws LogError for an unusable episode or log.
//
//   const snap::EpisodeRun run = snap::replay_episodes("tests/episodes", "shop", define_shop, "tests/shop.snaplog");
//   EXPECT_EQ(run.exit_status(), 0) << run;  // every episode that did not answer the same
EpisodeRun replay_episodes(const std::filesystem::path& dir, std::string_view app_name, const DefineApp& define,
                           const std::filesystem::path& log, Env& system = real_env());
std::ostream& operator<<(std::ostream& out, const EpisodeRun& run);

// One JSON object with the same fields as ReplayFailure (documented in docs/regression.md):
// {"type", "reason", "event_index", "expected": {kind,key,request,file,line,function},
// "actual": {...}, "added", "removed", "changed", "message", "exit_status"}; absent values
// are null. For a verify command's --json output.
std::string divergence_json(const std::exception& error);

}  // namespace snap
