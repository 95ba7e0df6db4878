// The snapshot log's vocabulary: what one recorded event, the header, the component
// manifest and the trailer hold, and the error every log operation reports.
//
// A snapshot log carries the nondeterministic inputs a build-time run read (clock,
// random, files, env, user calls) to every runtime container, which replays them to
// rebuild the same startup state. The byte layout is in docs/log-format.md.
//
// Thread safety: these are plain values; share them like any std type.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "snap/error.h"

namespace snap {

// Where the program asked for an event. Writers take the strings as views that must
// outlive the append call; readers hand out views valid for the reader's lifetime.
struct CallSite {
  std::string_view file;
  std::uint32_t line = 0;
  std::uint32_t column = 0;
  std::string_view function;

  bool empty() const { return file.empty() && line == 0 && function.empty(); }
};

enum class ResultKind : std::uint8_t {
  kNone,          // the event carries no reply
  kBytes,         // `bytes` holds the reply
  kInteger,       // `integer` holds the reply (clock readings, random integers)
  kSecretHandle,  // `bytes` holds an opaque handle; the value itself is never logged
  kFailure,       // the real operation failed; `bytes` holds its message
};

std::string_view to_string(ResultKind kind);

// One recorded input, as views. Appending copies what it needs; a reader's views stay
// valid until the next call to LogReader::next().
struct EventRecord {
  std::uint64_t index = 0;  // set by the reader; ignored by the writer
  std::string_view kind;    // e.g. "clock.wall", "env", or a user's call kind
  std::string_view key;     // what was asked for: a path, a variable name, ...
  std::string_view request; // bytes the program sent (user calls); checked on replay
  ResultKind result_kind = ResultKind::kNone;
  std::string_view bytes;   // reply bytes, secret handle or failure text
  std::int64_t integer = 0; // reply for kInteger
  CallSite call_site;
};

// An event that owns its strings (EventRecord holds views).
struct OwnedEvent {
  std::string kind;
  std::string key;
  std::string request;
  ResultKind result_kind = ResultKind::kNone;
  std::string bytes;
  std::int64_t integer = 0;
  std::string file;
  std::uint32_t line = 0;
  std::uint32_t column = 0;
  std::string function;

  static OwnedEvent of(const EventRecord& r) {
    return OwnedEvent{std::string(r.kind),           std::string(r.key),  std::string(r.request),
                      r.result_kind,                 std::string(r.bytes), r.integer,
                      std::string(r.call_site.file), r.call_site.line,    r.call_site.column,
                      std::string(r.call_site.function)};
  }
  // Views into this event, valid while it lives unchanged.
  EventRecord view() const {
    EventRecord r;
    r.kind = kind;
    r.key = key;
    r.request = request;
    r.result_kind = result_kind;
    r.bytes = bytes;
    r.integer = integer;
    r.call_site = CallSite{file, line, column, function};
    return r;
  }
};

struct LogHeader {
  std::uint32_t format_version = 0;  // filled in by the writer / reader
  std::uint32_t compatible_flags = 0;
  std::string app_name;
  std::string binary_fingerprint;
  std::string writer_version;
  // What the log records: empty for a build's startup, kEpisodeLogKind for one request
  // handled at runtime (snap/episode.h).
  std::string kind;
};

inline constexpr std::string_view kEpisodeLogKind = "episode";

// One component of the app as declared at startup (see components/). The manifest is
// recorded at build time and compared after every replayed startup.
struct ComponentEntry {
  std::string id;
  std::string type;
  std::string persona;  // "", "daemon" or "command"
  std::string config;   // canonical JSON
  std::vector<std::string> uses;
  // Names of the secrets it holds (snap::Password, snap::Secret), never their values.
  std::vector<std::string> secrets;

  friend bool operator==(const ComponentEntry&, const ComponentEntry&) = default;
};

struct Manifest {
  std::vector<ComponentEntry> components;
  // False for a log written before secret names were recorded: every `secrets` is then
  // empty without meaning "none" (a reader of such a log names them itself, see
  // snap::system_view), and replay compares the rest of the manifest only.
  bool secret_names_recorded = true;
  friend bool operator==(const Manifest&, const Manifest&) = default;
};

// A stable 64-bit digest of a manifest (order-sensitive), for quick comparison.
std::uint64_t manifest_digest(const Manifest& manifest);

struct Trailer {
  std::uint64_t event_count = 0;
  std::uint64_t digest = 0;
  bool complete = false;
};

// Classified by what the caller should do about it.
enum class LogErrorCode {
  kNotFound,             // no file at that path: check the path
  kNotASnapshotLog,      // wrong magic: this is some other file
  kIncompatibleVersion,  // written by a format this reader does not read: use a matching binary
  kIncomplete,           // the writer never finished: rebuild
  kTruncated,            // the file ends early: it was cut while copying
  kCorrupt,              // bytes are damaged: checksum, bad frame, bad message, over a limit
  kIo,                   // the operating system refused (permissions, disk full, ...)
  kUsage,                // the API was misused (a bug in the caller)
};

std::string_view to_string(LogErrorCode code);

// Every log failure. what() is one line, naming the file and, for damage, the byte offset.
// Its canonical code (Error::code()) is data_loss whatever the LogErrorCode: the log is
// unusable, exit status 2. Its detail is "log.REASON" ("log.truncated", "log.not_found").
class LogError : public Error {
 public:
  LogError(LogErrorCode code, const std::string& message);
  // Why the log is unusable (hides Error::code(), the canonical code).
  LogErrorCode code() const { return code_; }

 private:
  LogErrorCode code_;
};

}  // namespace snap
