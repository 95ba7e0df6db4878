// Episode files (docs/episodes.md): what one recorded request holds, and reading,
// writing and showing them. An episode is a file in the snapshot log format
// (snap/log_reader.h: the same bounded reader) whose header kind is kEpisodeLogKind. Its
// events: first "episode.request" (what was asked, and of whom), then the inputs in the
// order the handler read them, last "episode.response" (what it answered). Recording and
// replaying them is snap/episode.h.
//
// Thread safety: plain values and functions of their arguments.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "snap/env.h"
#include "snap/log.h"
#include "snap/log_reader.h"

namespace snap {

// What episode files are named with (sorted by name, they are in time order).
inline constexpr std::string_view kEpisodeFileSuffix = ".episode";

// The request an episode replays, as its handler saw it.
struct EpisodeRequest {
  std::string persona;  // the server persona's id
  std::string method;
  std::string route;   // the route's template, "/api/customer/{id}"
  std::string target;  // as received: path and query
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // credentials left out
};

// What a handler answered: the HTTP status and body as sent (an error is its status and
// error body, {"code":..., "message":...}).
struct EpisodeResponse {
  int status = 0;
  std::string body;
};

// Everything an episode file holds besides its inputs.
struct EpisodeInfo {
  std::string app;
  std::string build;  // the build's id (App::build_id) it ran in
  EpisodeRequest request;
  EpisodeResponse response;
  std::string trace_id;  // 32 hex digits: the request's trace, or an id made for it
  std::int64_t started_unix_ns = 0;
  std::int64_t duration_ns = 0;
};

// Reads an episode file: a LogError for anything unusable (kNotASnapshotLog for a build's
// log or another file, kTruncated, kCorrupt... as the log reader reports them), and
// kCorrupt for a well-formed log whose events are not an episode's.
struct LoadedEpisode {
  std::filesystem::path path;
  EpisodeInfo info;
  std::vector<OwnedEvent> inputs;  // between the request and the response
};
LoadedEpisode read_episode(const std::filesystem::path& path, Env& env, const LogReaderLimits& limits = {});

// Writes an episode file at `path` (through PATH.partial, renamed when complete).
void write_episode(const std::filesystem::path& path, const EpisodeInfo& info, const std::vector<OwnedEvent>& inputs,
                   Env& env);

// ---- listing (`APP episodes DIR`, `snapshot inspect --summary DIR`) ----

// What a list shows of one episode, read from its file.
struct EpisodeSummary {
  std::filesystem::path file;
  std::string time;  // "2026-12-07T10:15:02.117Z"
  std::string persona;
  std::string endpoint;  // "POST /api/customer"
  int status = 0;
  double duration_ms = 0;
  std::string trace_id;
  bool failed() const { return status >= 500; }
};
EpisodeSummary summarize(const LoadedEpisode& episode);
// A table with a header line, or one JSON object per line.
std::string summary_table(const std::vector<EpisodeSummary>& episodes);
std::string summary_json(const EpisodeSummary& episode);

// One episode in full, as `snapshot inspect EPISODE` shows it: the request, each input
// (index, kind, key, request, reply, call site) and the response; or as one JSON object.
std::string describe_episode(const LoadedEpisode& episode);
std::string episode_json(const LoadedEpisode& episode);

// Which episodes of a directory a list or a fetch takes: --failed, --since TIME (UTC,
// "2026-12-07T10:15:00Z" or any prefix of it), or an id (a file name, or a prefix of a
// trace id).
struct EpisodeFilter {
  bool failed_only = false;
  std::string since;
  std::string id;
  bool matches(const EpisodeSummary& episode) const;
};

namespace episode_detail {
// "20261207T101502.117Z": UTC, sorts as time does (file names start with it).
std::string file_time(std::int64_t unix_ns);
// At most 200 bytes of `body`, printable, with its size when cut.
std::string short_body(std::string_view body);
}  // namespace episode_detail

}  // namespace snap
