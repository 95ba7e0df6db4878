// Runtime episodes (docs/episodes.md): one handled endpoint call, recorded with every
// input its handler read -- clock, random, env, files and m.call through ctx.membrane(),
// each store operation with its result, each outbound endpoint call with its response,
// the authentication's outcome -- and the response it gave, so that it can be replayed
// later in one process, on one thread, against today's binary:
//
//   customer run api --record-requests errors --episodes /var/episodes
//   customer replay /var/episodes/20261207T101502.117Z-customer-server-api-4bf92f35.episode
//       same: exit 0 · response differs: exit 1 · diverged: exit 3 · unusable file: exit 2
//
// An episode is a file in the snapshot log format (snap/log_reader.h: the same bounded
// reader) whose header kind is kEpisodeLogKind. Its events: first "episode.request"
// (what was asked, and of whom), then the inputs in the order the handler read them,
// last "episode.response" (what it answered). Secrets are handles, never values, and the
// request's credentials (Authorization, Proxy-Authorization, Cookie) are left out.
//
// Thread safety: an Episode belongs to the thread handling its request; an EpisodeSink
// is shared by every handler thread of the process.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "snap/episode_file.h"
#include "snap/episode_membrane.h"
#include "snap/error.h"
#include "snap/lifecycle.h"
#include "snap/log_reader.h"
#include "snap/metrics.h"

namespace spdlog {
class logger;
}

namespace snap {

class App;
class Env;
class Persona;
class PersonaContext;
class SecretSource;

// Which requests are recorded: `build --record-requests`, `run`/`dev --record-requests`
// or $SNAP_RECORD_REQUESTS: "off", "errors" (every request is recorded in memory, and
// written only when it failed: a 5xx, which an uncaught exception is), "all", or "N%"
// (that share of requests, chosen at random, written whatever their outcome).
struct RecordingPolicy {
  enum class Mode { kOff, kErrors, kAll, kSample };
  Mode mode = Mode::kOff;
  double percent = 0;  // kSample: 0 < percent < 100

  // Throws UsageError-like std::invalid_argument naming the accepted forms.
  static RecordingPolicy parse(std::string_view text);
  std::string str() const;
  bool off() const { return mode == Mode::kOff; }
};


// One episode being recorded or replayed on this thread.
class Episode {
 public:
  // Recording, for a persona of `app`: inputs read through membrane() are read for real
  // (secrets from the app's own source) and kept.
  explicit Episode(App& app);
  // Replaying: inputs come from `inputs`, numbered from `first_index` in messages.
  Episode(Env& env, const SecretSource& secrets, const std::vector<OwnedEvent>& inputs, std::uint64_t first_index);
  ~Episode();
  Episode(const Episode&) = delete;
  Episode& operator=(const Episode&) = delete;

  bool replaying() const { return replaying_ != nullptr; }
  // What ctx.membrane() is on this thread while the episode is current.
  Membrane& membrane();
  // Recording: the inputs kept so far.
  std::vector<OwnedEvent> take_inputs();
  // Replaying: the first divergence met (even one the handler caught), else a Divergence
  // if inputs were left unread.
  void finish_replay() const;
  // Replaying: the membrane, to note a divergence found outside it (null when recording).
  EpisodeReplayingMembrane* replayer() { return replaying_.get(); }

  // Something a component keeps for the episode's length (a store's recording view),
  // made on first use under `key`.
  template <typename T>
  T& attachment(const void* key, const std::function<std::unique_ptr<T>()>& make) {
    for (auto& [k, value] : attachments_) {
      if (k == key) return *static_cast<T*>(value.get());
    }
    std::unique_ptr<T> made = make();
    T& ref = *made;
    attachments_.emplace_back(key, std::shared_ptr<void>(std::move(made)));
    return ref;
  }

 private:
  std::unique_ptr<EpisodeRecordingMembrane> recording_;
  std::unique_ptr<EpisodeReplayingMembrane> replaying_;
  std::vector<std::pair<const void*, std::shared_ptr<void>>> attachments_;
};

// The episode of the request this thread handles, or null.
Episode* current_episode();

// Makes `episode` current on this thread for the scope (the one before comes back after).
class ActiveEpisode {
 public:
  explicit ActiveEpisode(Episode* episode);
  ~ActiveEpisode();
  ActiveEpisode(const ActiveEpisode&) = delete;
  ActiveEpisode& operator=(const ActiveEpisode&) = delete;

 private:
  Episode* previous_;
};

// No episode is current for the scope: what runs in it is not one of the handler's
// inputs (opening a store, reading the caller's token, an authentication hook, whose
// outcome alone is recorded).
class SuspendEpisode : public ActiveEpisode {
 public:
  SuspendEpisode() : ActiveEpisode(nullptr) {}
};

// Where a process's episodes go, and which are kept.
struct EpisodeOptions {
  RecordingPolicy policy;
  std::filesystem::path directory = "episodes";
  // The most the directory's episodes may take; the oldest are removed first.
  std::uint64_t max_bytes = 256ull << 20;
  // Finished episodes kept in memory per persona (the most recent), written or not.
  std::size_t ring_size = 32;
};

// A finished episode as the process keeps it.
struct FinishedEpisode {
  EpisodeInfo info;
  std::vector<OwnedEvent> inputs;
  std::filesystem::path file;  // where it was written; empty when it was not
};

// The process's recorder of episodes: decides which requests are recorded, keeps the most
// recent in memory, and writes those the policy keeps. A full disk or an unwritable
// directory never fails a request: the episode is dropped, counted
// (snap_episodes_dropped_total) and logged once.
class EpisodeSink {
 public:
  EpisodeSink(App& app, EpisodeOptions options);
  ~EpisodeSink();

  const EpisodeOptions& options() const { return options_; }
  // Whether to record the request about to be handled (always for errors and all; a
  // random share for N%).
  bool wants_request();
  // Takes a finished episode: rings it, writes it when the policy keeps it. A write that
  // fails is said once, on `log` (the persona's logger: its format).
  void finish(FinishedEpisode episode, spdlog::logger& log);
  // The most recent episodes of a persona (by id), oldest first.
  std::vector<std::shared_ptr<const FinishedEpisode>> recent(std::string_view persona) const;

 private:
  bool keeps(const FinishedEpisode& episode) const;
  void write(FinishedEpisode& episode, spdlog::logger& log);
  void scan_directory();

  App& app_;
  EpisodeOptions options_;
  Counter written_;
  Counter dropped_;
  mutable std::mutex mutex_;
  std::map<std::string, std::deque<std::shared_ptr<const FinishedEpisode>>, std::less<>> ring_;  // guarded
  std::deque<std::pair<std::filesystem::path, std::uint64_t>> files_;  // guarded: oldest first
  std::uint64_t total_bytes_ = 0;                                      // guarded
  bool scanned_ = false;                                               // guarded
  bool drop_logged_ = false;                                           // guarded
  std::uint64_t sequence_ = 0;                                         // guarded
};

// The outcome of replaying one episode against this program.
struct EpisodeReplay {
  enum class Outcome { kSame, kResponseDiffers, kDiverged };
  Outcome outcome = Outcome::kSame;
  LoadedEpisode episode;
  EpisodeResponse replayed;  // kSame, kResponseDiffers
  // kResponseDiffers: one line per difference ("status: 500 -> 200", "$.name: ...").
  std::vector<std::string> differences;
  // kDiverged: the report, with both call sites; and the divergence's detail name.
  std::string divergence;
  std::string divergence_reason;

  // The exit status `APP replay` gives: 0 same, 1 response differs, 3 diverged.
  int exit_status() const;
  // A few lines for a person, and one JSON object for a script.
  std::string text() const;
  std::string json() const;
};

// Replays `episode` in `app` (a replayed startup, switched to runtime) on this thread: the
// server persona's handler runs with the recorded inputs. No database, network or secret
// is needed: a secret's value reads as $SNAP_SECRET_<NAME> when set, else as the stand-in
// "snap-replay-stand-in:NAME". Throws LogError/UsageError for an episode this program
// cannot replay at all (no such persona).
EpisodeReplay replay_episode(App& app, const LoadedEpisode& episode);

// ---- replaying files (`APP replay`, snap::replay_episodes) ----

// The episodes at `path`: the file itself, or every *.episode in the directory, sorted by
// name (which is by time). Throws UsageError for a directory without any, LogError
// (kNotFound) for no such path.
std::vector<std::filesystem::path> episode_files(const std::filesystem::path& path, Env& env);

// The build log an episode replays against, when none is named: snapshot.snaplog in the
// episode's directory or the two above it (`bin/episodes fetch` puts them in
// BUILD/episodes), else empty.
std::filesystem::path find_build_log(const std::filesystem::path& episode, Env& env);

// An accepted change: EPISODE.expected.json beside an episode holds the response replay
// expects instead of the recorded one ({"status": N, "body": TEXT}), written by
// `APP replay --accept` for each response that differs -- a reviewed change, like a
// snapshot test's.
std::filesystem::path expected_file(const std::filesystem::path& episode);

struct EpisodeRunOptions {
  std::filesystem::path log;  // the build's log that startup replays from
  bool accept = false;        // write EPISODE.expected.json for every response that differs
};

struct EpisodeRun {
  std::vector<EpisodeReplay> replays;         // in the order of the files
  std::vector<std::filesystem::path> accepted;  // expected files written (accept)
  // 0 when every episode answered as expected, 1 when some response differs, 3 when some
  // diverged (the worst wins).
  int exit_status() const;
};

// Replays startup from `options.log` once, then every episode in `files` against it, each
// in turn on this thread, collecting every outcome instead of stopping at the first. The
// program's own startup output goes where it always does (stdout). Throws what replay_app
// throws for the log, and LogError for an unusable episode or one of another app.
EpisodeRun replay_episode_files(std::string_view app_name, const DefineApp& define, Env& env,
                                const std::vector<std::filesystem::path>& files, const EpisodeRunOptions& options);

// One line per difference between two JSON texts (or their bytes, when either is not JSON).
std::vector<std::string> json_differences(std::string_view recorded, std::string_view replayed);

}  // namespace snap
